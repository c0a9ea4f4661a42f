"""Training threads that follow the free cores, so a run holds up on a CPU that other programs also use.

torch's OpenMP threads spin for a while when they wait for each other. On an
idle machine that makes each step fast; when another program takes one of the
cores, a thread that spins holds the core its partner needs, and an epoch can
take many times longer (``python bench/threads.py`` measures both). One thread
never waits for another, so the remedy is to use only the cores that are free.

`CoreShare` looks, about once a second, at how much CPU time the cores this
process may run on spent on other programs (``/proc/stat``, less this
process's own time), and sets torch's thread count to the cores left: all of
them while the machine is otherwise idle, fewer while something else runs.
The thread count does not change what is computed, only how fast. Where
``/proc/stat`` is missing (not Linux), the thread count stays as it started.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable

import torch

from data_processor.base.cores import usable_cores

CHECK_EVERY_S = 1.0  # how often the free cores are measured
FIRST_CHECK_S = 0.2  # the first measurement, before the first step, needs only this long a window (data preparation)
BUSY_SHARE = 0.5  # another program using more than this much of a core takes that core from training


def busy_seconds(cores: set[int] | None = None, path: str = "/proc/stat") -> float | None:
    """CPU seconds that ``cores`` (default: those this process may run on) have spent busy since boot, every program
    together; None where ``path`` cannot be read."""
    cores = usable_core_ids() if cores is None else cores
    try:
        with open(path, encoding="ascii") as handle:
            lines = handle.readlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, _, values = line.partition(" ")
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            # user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy (steal: taken by
            # the hypervisor for other machines, which stalls a spinning thread the same way)
            fields = [int(field) for field in values.split()]
            ticks += sum(fields[:8]) - fields[3] - fields[4]
    return ticks / os.sysconf("SC_CLK_TCK")


def usable_core_ids() -> set[int]:
    """The numbers of the cores this process may run on."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def own_seconds() -> float:
    """CPU seconds this process (all its threads) has used."""
    times = os.times()
    return times.user + times.system


def threads_for(others: float, most: int) -> int:
    """Threads to train with when other programs keep ``others`` cores busy: the cores they leave free, at least 1 and
    at most ``most``."""
    taken = max(0, math.ceil(others - BUSY_SHARE))
    return max(1, min(most, most - taken))


class CoreShare:
    """Sets torch's thread count to the cores other programs leave free, measured every `CHECK_EVERY_S` seconds.

    Call `update` often, before each training step: it costs a clock read between measurements. The first
    measurement needs only `FIRST_CHECK_S` of window (the time since the share began, data preparation), so the first
    step already runs on the right number of threads: one step of two threads that spin against another program can
    take as long as ten good ones. The readers are
    arguments so tests can give their own: ``busy`` (busy CPU seconds of the usable cores, None if unknown), ``own``
    (this process's CPU seconds), ``clock`` (seconds) and ``set_threads``.
    """

    def __init__(self, most: int | None = None, *, busy: Callable[[], float | None] = busy_seconds,
                 own: Callable[[], float] = own_seconds, clock: Callable[[], float] = time.monotonic,
                 set_threads: Callable[[int], None] = torch.set_num_threads) -> None:
        self.most = most or usable_cores()
        self.threads = self.most
        self._busy, self._own, self._clock, self._set_threads = busy, own, clock, set_threads
        self._set_threads(self.most)
        self._last = self._sample()
        self.measured = False  # whether a measurement has been made yet
        self.noticed = False  # whether other programs have taken cores yet (said once)

    @property
    def works(self) -> bool:
        """Whether the busy time of the cores can be read here (otherwise the thread count never changes)."""
        return self._last is not None

    def _sample(self) -> tuple[float, float, float] | None:
        busy = self._busy()
        return None if busy is None else (self._clock(), busy, self._own())

    def update(self) -> str | None:
        """Measure and set the thread count when it is time; a note the first time other programs take cores."""
        if self._last is None or self._clock() - self._last[0] < (CHECK_EVERY_S if self.measured else FIRST_CHECK_S):
            return None
        now = self._sample()
        if now is None:
            return None
        elapsed = now[0] - self._last[0]
        others = max(0.0, (now[1] - self._last[1]) - (now[2] - self._last[2])) / elapsed
        self._last, self.measured = now, True
        threads = threads_for(others, self.most)
        if threads == self.threads:
            return None
        self.threads = threads
        self._set_threads(threads)
        if threads < self.most and not self.noticed:
            self.noticed = True
            return (f"other programs are using about {others:.1f} of the {self.most} cores: training on {threads} "
                    f"thread{'s' if threads > 1 else ''} while they do (--threads N fixes the count)")
        return None


_active: CoreShare | None = None


def share_cores(most: int | None) -> CoreShare | None:
    """From now on, let training follow the free cores (up to ``most``, default all); None (a fixed count of ``most``,
    set here) where the busy time cannot be read."""
    global _active
    share = CoreShare(most)
    _active = share if share.works else None
    return _active


def fixed_threads() -> None:
    """Stop following the free cores: the thread count stays as set."""
    global _active
    _active = None


def follow_free_cores() -> str | None:
    """`CoreShare.update` of the active share, if any: call it before every training step."""
    return _active.update() if _active is not None else None
