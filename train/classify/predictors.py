"""Load any saved classifier run (RNN, TF-IDF or both fused) for ``predict``, ``evaluate`` and ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from data_processor.errors import DataError
from train.classify.kinds import KINDS, ModelKind
from train.classify.settings import RUN_KIND
from train.common.rundir import RunDir

if TYPE_CHECKING:
    from train.classify.hybrid import HybridPredictor
    from train.classify.predictor import Predictor
    from train.classify.tfidf import TfidfPredictor

DEFAULT_CELL = "lstm"  # the model of a run written before config.json recorded one


def saved_kind(run: RunDir) -> ModelKind:
    """The kind of the saved run ``run`` (a `DataError` naming its config.json when the kind is not one this version knows)."""
    model = run.load_json("config.json").get("model", DEFAULT_CELL)
    if not isinstance(model, str) or model not in KINDS:
        raise DataError(f"{run.file('config.json')}: unknown model {model!r}; this version knows {', '.join(KINDS)}")
    return KINDS[model]


def load_predictor(run_dir: str | Path, device: str = "cpu") -> "Predictor | TfidfPredictor | HybridPredictor":
    """The predictor of a classifier run directory, as its kind says (`train.classify.kinds`).

    Each kind's modules are imported only when a run of that kind is loaded (torch for one, scikit-learn for the other).
    """
    return saved_kind(RunDir.open(run_dir, RUN_KIND)).predictor_class()(run_dir, device)
