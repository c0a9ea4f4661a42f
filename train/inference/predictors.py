"""Load any saved classifier run (RNN, TF-IDF or both fused) for ``predict``, ``evaluate`` and ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

from data_processor.base.errors import DataError
from data_processor.io import Example
from data_processor.vocab import Vocab
from train.classify.kinds import KINDS, ModelKind
from train.classify.settings import RUN_KIND, ClassifierConfig
from train.common.rundir import RunDir

if TYPE_CHECKING:
    import numpy as np


@runtime_checkable
class ClassifierPredictor(Protocol):
    """What every kind's predictor offers (`tests/test_predictor_contract.py` checks each kind against it).

    Labels are ``(label, score)`` pairs; the score is a probability where `probabilistic`, else a margin.
    """

    config: ClassifierConfig
    run: RunDir
    multi_label: bool

    @property
    def label_names(self) -> list[str]:
        """The classes, in the order of the score columns."""

    @property
    def probabilistic(self) -> bool:
        """True when `predict` and `predict_labels` give probabilities (and `predict_proba` works)."""

    def scores(self, texts: Sequence[str]) -> "np.ndarray":
        """``[N, C]``: what argmax (and a multi-label run's thresholds) decide on."""

    def predict_proba(self, texts: Sequence[str]) -> "np.ndarray":
        """Class probabilities ``[N, C]``, for a `probabilistic` predictor."""

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Each text's best label and its score."""

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Each text's label set, highest score first (one label for a single-label run)."""

    def evaluate(self, examples: Sequence[Example], source: str) -> dict:
        """Metrics on labelled examples."""

DEFAULT_CELL = "lstm"  # the model of a run written before config.json recorded one


def saved_kind(run: RunDir) -> ModelKind:
    """The kind of the saved run ``run`` (a `DataError` naming its config.json when the kind is not one this version knows)."""
    model = run.load_json("config.json").get("model", DEFAULT_CELL)
    if not isinstance(model, str) or model not in KINDS:
        raise DataError(f"{run.file('config.json')}: unknown model {model!r}; this version knows {', '.join(KINDS)}")
    return KINDS[model]


def load_predictor(run_dir: str | Path, device: str = "cpu") -> ClassifierPredictor:
    """The predictor of a classifier run directory, as its kind says (`train.classify.kinds`).

    Each kind's modules are imported only when a run of that kind is loaded (torch for one, scikit-learn for the other).
    """
    return saved_kind(RunDir.open(run_dir, RUN_KIND)).predictor_class()(run_dir, device)


ERROR_COLUMNS = ("line", "text", "gold", "predicted", "score")


def misclassified(predictor: ClassifierPredictor, examples: Sequence[Example]) -> list[tuple[int, str, str, str, str]]:
    """The rows of ``examples`` the predictor gets wrong, as (line, text, gold, predicted, score) (`ERROR_COLUMNS`, the
    labels as the run shows them);
    for a multi-label run, the rows whose predicted label set is not the gold set, labels and scores joined by its
    ``--label-sep``."""
    texts = [e.text for e in examples]
    shown = dict(zip(Vocab.load(predictor.run.file("labels.json")).itos, predictor.label_names))  # raw -> as shown
    if not predictor.multi_label:
        return [(e.line, e.text, shown.get(e.label or "", e.label or ""), label, f"{score:.4f}")
                for e, (label, score) in zip(examples, predictor.predict(texts)) if label != shown.get(e.label or "", e.label)]
    sep = predictor.config.label_sep
    rows = []
    for e, chosen in zip(examples, predictor.predict_labels(texts)):
        gold = {shown.get(label, label) for label in (e.label or "").split(sep) if label}
        if {label for label, _ in chosen} != gold:
            rows.append((e.line, e.text, sep.join(sorted(gold)), sep.join(label for label, _ in chosen),
                         sep.join(f"{score:.4f}" for _, score in chosen)))
    return rows
