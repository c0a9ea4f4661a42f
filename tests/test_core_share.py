"""Training threads that follow the free cores (train.common.core_share)."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from train.common import core_share
from train.common.core_share import CHECK_EVERY_S, FIRST_CHECK_S, CoreShare, busy_seconds, own_seconds, threads_for
from train.common.run_steps import seed_process


@pytest.mark.parametrize("others, most, expected", [
    (0.0, 2, 2), (0.4, 2, 2), (0.7, 2, 1), (1.0, 2, 1), (2.0, 2, 1), (0.0, 8, 8), (3.2, 8, 5), (9.0, 8, 1), (0.9, 1, 1),
])
def test_threads_are_the_cores_other_programs_leave(others, most, expected):
    assert threads_for(others, most) == expected


def test_busy_seconds_count_only_the_given_cores_and_leave_out_idle_time(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  300 0 30 900 9 0 3 0 0 0\ncpu0 100 0 10 500 5 0 1 0 0 0\ncpu1 200 0 20 400 4 0 2 6 0 0\n"
                    "intr 1 2 3\n", encoding="ascii")
    tick = os.sysconf("SC_CLK_TCK")
    assert busy_seconds({0}, str(stat)) == pytest.approx(111 / tick)
    assert busy_seconds({1}, str(stat)) == pytest.approx(228 / tick)  # steal counts: the core was not ours to use
    assert busy_seconds({0, 1}, str(stat)) == pytest.approx(339 / tick)
    assert busy_seconds({0}, str(tmp_path / "missing")) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux's /proc/stat")
def test_busy_seconds_see_this_process_working():
    before, own = busy_seconds(), own_seconds()
    while own_seconds() - own < 0.3:  # spin on one core
        pass
    assert busy_seconds() - before >= 0.25


class FakeMachine:
    """A clock, the usable cores' busy seconds and this process's seconds, moved forward by `run`."""

    def __init__(self) -> None:
        self.now, self.busy, self.own = 0.0, 0.0, 0.0
        self.threads: list[int] = []

    def run(self, seconds: float, ours: float, others: float) -> None:
        """``seconds`` pass, this process keeps ``ours`` cores busy and other programs ``others``."""
        self.now += seconds
        self.own += ours * seconds
        self.busy += (ours + others) * seconds

    def share(self, most: int) -> CoreShare:
        return CoreShare(most, busy=lambda: self.busy, own=lambda: self.own, clock=lambda: self.now,
                         set_threads=self.threads.append)


def test_the_thread_count_drops_while_another_program_runs_and_comes_back():
    machine = FakeMachine()
    share = machine.share(2)
    assert machine.threads == [2] and share.works and not share.measured
    machine.run(FIRST_CHECK_S / 2, ours=1, others=1)
    assert share.update() is None and machine.threads == [2]  # the first window needs FIRST_CHECK_S
    machine.run(0.4, ours=1, others=0.25)  # 0.5 s since the share began: others used (0.1 + 0.1) / 0.5 = 0.4 cores
    assert share.update() is None and share.measured and machine.threads == [2]
    machine.run(0.5, ours=1, others=1)
    assert share.update() is None and machine.threads == [2]  # later windows need CHECK_EVERY_S
    machine.run(0.5, ours=1.3, others=0.4)  # 1 s since the last measurement: (0.5 + 0.2) / 1 = 0.7 cores
    note = share.update()
    assert machine.threads == [2, 1] and share.threads == 1
    assert note is not None and "other programs are using about 0.7 of the 2 cores" in note and "1 thread" in note
    machine.run(CHECK_EVERY_S, ours=1, others=1)
    assert share.update() is None and machine.threads == [2, 1]  # unchanged: no new call
    machine.run(CHECK_EVERY_S, ours=1, others=0)
    assert share.update() is None and machine.threads == [2, 1, 2]  # free again: every core, silently
    machine.run(CHECK_EVERY_S, ours=1, others=1)
    assert share.update() is None and machine.threads == [2, 1, 2, 1]  # the note was said once


def test_our_own_busy_threads_are_not_taken_for_other_programs():
    machine = FakeMachine()
    share = machine.share(4)
    for _ in range(5):
        machine.run(CHECK_EVERY_S, ours=4, others=0.2)
        assert share.update() is None
    assert machine.threads == [4]


def test_without_readable_busy_time_the_count_stays():
    machine = FakeMachine()
    share = CoreShare(2, busy=lambda: None, clock=lambda: machine.now, set_threads=machine.threads.append)
    machine.run(5, ours=1, others=1)
    assert not share.works and share.update() is None and machine.threads == [2]


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    core_share.fixed_threads()
    torch.set_num_threads(threads)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="core sharing reads Linux's /proc/stat")
def test_a_run_without_threads_follows_the_free_cores_and_one_with_threads_does_not(restore_threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seed_process(1, None)
    assert core_share._active is not None and torch.get_num_threads() == core_share._active.most
    seed_process(1, 1)
    assert core_share._active is None and torch.get_num_threads() == 1
    assert core_share.follow_free_cores() is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user (or torchrun) chose: the cores are shared evenly, fixed
    seed_process(1, None)
    assert core_share._active is None
