"""The steps every training program (classifier, pretraining, character LM) takes to start or resume a run.

Each program calls them in this order (after `train.common.rundir.check_run_outputs`, for a new run): `resumed_state` (the interrupted run's ``last.pt``, checked against the
processes resuming it), `seed_process` (generators and threads), then its own data and model, and trains inside
`resumable`, which turns Ctrl-C, or a disk that fills up, into a message saying how to go on.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from data_processor.base.errors import DiskFullError
from train.common.core_share import fixed_threads, share_cores
from train.common.distributed import SINGLE, Cluster, check_same_world
from train.common.monitor import monitoring
from train.common.resume import Interrupted, load_checkpoint
from train.common.rundir import RunDir
from train.common.runtime import set_seed, set_threads


def resumed_state(run: RunDir | None, cluster: Cluster = SINGLE) -> dict[str, Any] | None:
    """The resumable state of the interrupted ``run``: None for a new run (``run`` None) or one stopped before its
    first checkpoint; a `ConfigError` when another number of processes trained it than ``cluster`` has."""
    checkpoint = load_checkpoint(run) if run is not None else None
    if checkpoint is not None and run is not None:
        check_same_world(run, cluster)
    return checkpoint


def seed_process(seed: int, threads: int | None, cluster: Cluster = SINGLE) -> None:
    """Seed Python, numpy and torch with ``seed`` and use ``threads`` torch threads. None: one process follows the cores
    other programs leave free (`train.common.core_share`); several processes under torchrun, or ``OMP_NUM_THREADS``
    in the environment, share the machine's cores evenly."""
    set_seed(seed)
    if threads is None and not cluster.distributed and "OMP_NUM_THREADS" not in os.environ and share_cores(None):
        return
    fixed_threads()
    set_threads(threads or cluster.default_threads())


@contextlib.contextmanager
def resumable(run: RunDir | None, command: str, tensorboard: str | None = None) -> Iterator[None]:
    """Train inside this block: Ctrl-C becomes `Interrupted`, naming ``run`` and the ``command`` that resumes it, and a
    full disk a `DiskFullError` saying the same (each as it is when this process writes no run: a torchrun rank other than 0); with ``tensorboard`` (a folder), the epoch loop
    writes TensorBoard event files to its subfolder named after the run (`train.common.monitor`)."""
    try:
        with monitoring(tensorboard, run.path.name if run is not None else None):
            yield
    except KeyboardInterrupt:
        if run is None:
            raise
        raise Interrupted(run, command) from None
    except DiskFullError as exc:
        if run is None:
            raise
        raise exc.advise(f"free some space, then continue the run with: {command} --resume {run.path}") from None
