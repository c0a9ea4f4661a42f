"""Load any saved classifier run (RNN or TF-IDF) for ``predict`` and ``evaluate``."""

from __future__ import annotations

from pathlib import Path

from train.checkpoint import RunDir
from train.text_classification import RUN_KIND, Predictor
from train.tfidf_classification import TfidfPredictor


def load_predictor(run_dir: str | Path, device: str = "cpu") -> Predictor | TfidfPredictor:
    """The predictor of a classifier run directory: `TfidfPredictor` for ``--model tfidf`` runs, `Predictor` otherwise."""
    config = RunDir.open(run_dir, RUN_KIND).load_json("config.json")
    return TfidfPredictor(run_dir) if config.get("model") == "tfidf" else Predictor(run_dir, device)
