"""``python run.py train --resume runs/NAME``: go on with an interrupted classifier run from its ``last.pt``."""

from __future__ import annotations

import dataclasses

from data_processor.errors import DataError
from data_processor.messages import Log, log_stderr
from train.classify.settings import RUN_KIND, ClassifierConfig
from train.common.resume import open_interrupted


def resume_classifier(path: str, progress: bool = True, log: Log = log_stderr) -> dict:
    """Finish the interrupted classifier run at ``path`` with its own ``config.json``; return its summary.

    A run killed before its first epoch ended starts again in the same directory. A finished run, a run being
    trained by another process and a ``--model tfidf`` run (fitted in one step) are refused with a `DataError`.
    """
    run = open_interrupted(path, RUN_KIND)
    config = dataclasses.replace(run.load_settings(ClassifierConfig), progress=progress)
    if config.model == "tfidf":
        raise DataError(f"{run.path}: a --model tfidf run is fitted in one step, so it cannot be resumed; train it again")
    if config.model.endswith("+tfidf"):
        from train.classify.hybrid import train_hybrid

        return train_hybrid(config, log, run)
    from train.classify.rnn import train_classifier

    return train_classifier(config, log, run)
