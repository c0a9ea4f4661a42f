"""Load any saved classifier run (RNN or TF-IDF) for ``predict`` and ``evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from train.classify.settings import RUN_KIND
from train.common.rundir import RunDir

if TYPE_CHECKING:
    from train.classify.hybrid import HybridPredictor
    from train.classify.predictor import Predictor
    from train.classify.tfidf import TfidfPredictor


def load_predictor(run_dir: str | Path, device: str = "cpu") -> "Predictor | TfidfPredictor | HybridPredictor":
    """The predictor of a classifier run directory: `TfidfPredictor` for ``--model tfidf`` runs, `HybridPredictor`
    for ``CELL+tfidf`` runs, `Predictor` otherwise.

    Each kind's modules are imported only when a run of that kind is loaded (torch for one, scikit-learn for the other).
    """
    config = RunDir.open(run_dir, RUN_KIND).load_json("config.json")
    if config.get("model") == "tfidf":
        from train.classify.tfidf import TfidfPredictor

        return TfidfPredictor(run_dir)
    if str(config.get("model", "")).endswith("+tfidf"):
        from train.classify.hybrid import HybridPredictor

        return HybridPredictor(run_dir, device)
    from train.classify.predictor import Predictor

    return Predictor(run_dir, device)
