"""Every kind of classifier a run can be (``--model``), declared once: what it is made of and what it can do.

A kind names the code that trains it and the class that loads its run for ``predict``, ``evaluate`` and ``serve``
as ``"module:attribute"`` strings, imported only when used: reading this file (``--help``, the settings) imports
neither torch nor scikit-learn. Every place that behaves differently by kind asks the kind (`kind_of`) instead of
comparing ``--model`` strings, so a new kind is one entry in `KINDS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from models.choices import CLASSIFIER_CELLS

BASELINE = "tfidf"  # the kind the recurrent kinds are measured against
FUSED_SUFFIX = "+tfidf"


@dataclass(frozen=True)
class ModelKind:
    """One ``--model`` value and its capabilities.

    ``trainer`` is called as ``trainer(config, log)`` for a new run; a ``resumable`` kind's also takes ``run`` (the
    interrupted run directory) and a ``distributed`` kind's also takes ``cluster`` (it trains under torchrun).
    ``predictor`` is a class built as ``predictor(run_dir, device)`` that keeps the interface
    `train.inference.predictors.ClassifierPredictor` (``tests/test_predictor_contract.py`` holds every kind to it).
    """

    name: str
    cell: str | None  # the recurrent cell it holds, None for none
    tfidf: bool  # it holds a TF-IDF model (saved as tfidf_vocab.json + tfidf.npz)
    trainer: str
    predictor: str
    resumable: bool  # an interrupted run can go on (``train --resume``)
    distributed: bool  # trains data-parallel under torchrun
    exports_onnx: bool  # ``export`` writes it as an ONNX graph
    multi_label: bool  # can train on multi-label data

    @property
    def recurrent(self) -> bool:
        """True when the kind holds a recurrent network (its embedding, model and optimisation options apply)."""
        return self.cell is not None

    @property
    def fused(self) -> bool:
        """True for a recurrent model and a TF-IDF model fused late (a run that reports both)."""
        return self.recurrent and self.tfidf

    def train_function(self) -> Any:
        """The function that trains a run of this kind (imports its modules)."""
        return load(self.trainer)

    def predictor_class(self) -> Any:
        """The class that loads a run of this kind (imports its modules)."""
        return load(self.predictor)


def load(target: str) -> Any:
    """The attribute named by ``"module:attribute"``."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def recurrent_kind(cell: str) -> ModelKind:
    """``--model CELL``: the recurrent classifier alone."""
    return ModelKind(cell, cell, tfidf=False, trainer="train.classify.rnn:train_classifier", predictor="train.inference.rnn_predictor:Predictor",
                     resumable=True, distributed=True, exports_onnx=True, multi_label=True)


def fused_kind(cell: str) -> ModelKind:
    """``--model CELL+tfidf``: the recurrent classifier and TF-IDF, their scores fused with a weight chosen on dev."""
    return ModelKind(cell + FUSED_SUFFIX, cell, tfidf=True, trainer="train.classify.hybrid:train_hybrid",
                     predictor="train.inference.hybrid_predictor:HybridPredictor", resumable=True, distributed=False, exports_onnx=False,
                     multi_label=False)


TFIDF_KIND = ModelKind(BASELINE, None, tfidf=True, trainer="train.classify.tfidf:train_tfidf", predictor="train.inference.tfidf_predictor:TfidfPredictor",
                       resumable=False, distributed=False, exports_onnx=False, multi_label=True)

KINDS: dict[str, ModelKind] = {k.name: k for k in (*map(recurrent_kind, CLASSIFIER_CELLS), TFIDF_KIND, *map(fused_kind, CLASSIFIER_CELLS))}
MODELS = tuple(KINDS)


def kind_of(model: str) -> ModelKind:
    """The kind of ``--model model`` (a `KeyError` naming the known kinds for another: settings refuse those first)."""
    try:
        return KINDS[model]
    except KeyError:
        raise KeyError(f"unknown model kind {model!r}; known: {', '.join(MODELS)}") from None
