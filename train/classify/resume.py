"""``python run.py train --resume runs/NAME``: go on with an interrupted classifier run from its ``last.pt``."""

from __future__ import annotations

import dataclasses

from data_processor.base.errors import ConfigError, DataError
from data_processor.base.messages import Log, log_stderr
from train.classify.kinds import kind_of
from train.classify.settings import RUN_KIND, ClassifierConfig
from train.common.distributed import SINGLE, Cluster
from train.common.resume import open_interrupted
from train.common.rundir import RunDir


def resume_classifier(path: str, progress: bool = True, log: Log = log_stderr, cluster: Cluster = SINGLE) -> dict:
    """Finish the interrupted classifier run at ``path`` with its own ``config.json``; return its summary.

    A run killed before its first epoch ended starts again in the same directory. A finished run, a run being
    trained by another process and a ``--model tfidf`` run (fitted in one step) are refused with a `DataError`. Under
    torchrun rank 0 locks the run and the other processes only read it.
    """
    run = open_interrupted(path, RUN_KIND) if cluster.is_main else RunDir.open(path, RUN_KIND)
    config = dataclasses.replace(run.load_settings(ClassifierConfig), progress=progress)
    kind = kind_of(config.model)
    if not kind.resumable:
        raise DataError(f"{run.path}: a --model {kind.name} run is fitted in one step, so it cannot be resumed; train it again")
    if kind.distributed:
        return kind.train_function()(config, log, run, cluster)
    if cluster.distributed:
        raise ConfigError(f"--model {kind.name} trains in one process: resume it with python run.py, not torchrun")
    return kind.train_function()(config, log, run)
