"""A trained ``--model tfidf`` run, loaded from its directory alone, behind the common predictor interface."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.base.errors import DataError
from data_processor.io import Example
from data_processor.vocab import Vocab
from train.classify.data import LabelTargets
from train.classify.multilabel import choose, label_sets, load_thresholds, scored_metrics, top_labels
from train.classify.run_files import load_shown_labels
from train.classify.settings import RUN_KIND, ClassifierConfig
from train.classify.tfidf_model import ARRAYS_FILE, VOCAB_FILE, load_tfidf, model_scores
from train.common.rundir import RunDir


class TfidfPredictor:
    """A trained ``--model tfidf`` run loaded from its directory alone; the `ClassifierPredictor` interface."""

    NEEDS = ("config.json", "labels.json", VOCAB_FILE, ARRAYS_FILE)

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        """Load the run at ``run_dir``; ``device`` is accepted for the common interface (a TF-IDF model runs on the CPU)."""
        run = RunDir.open(run_dir, RUN_KIND, self.NEEDS)
        self.config = run.load_settings(ClassifierConfig)
        self.labels = Vocab.load(run.file("labels.json"))
        self.model = load_tfidf(run, self.config)
        if self.model.num_classes != len(self.labels):
            raise DataError(f"{run.file('labels.json')}: holds {len(self.labels)} label{'s' if len(self.labels) != 1 else ''} but the model in {ARRAYS_FILE} was trained with "
                            f"{self.model.num_classes}; the file was damaged or comes from another run")
        self.run = run
        self.multi_label = self.config.multi_label
        self.shown = load_shown_labels(run, self.labels.itos)
        self.thresholds = load_thresholds(run, self.labels.itos) if self.multi_label else None
        self.targets = LabelTargets(self.config.label_sep if self.multi_label else None)

    @property
    def label_names(self) -> list[str]:
        """The labels as the run shows them (its --label-names), in the order of the score columns."""
        return self.shown

    @property
    def probabilistic(self) -> bool:
        """True for logistic regression; a LinearSVC's `predict` gives margins instead of probabilities."""
        return self.model.probabilistic

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[N, C]`` (logistic regression runs only; each label's own for multi-label)."""
        return self.model.predict_proba(texts)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """What the run's decisions apply argmax and thresholds to, ``[N, C]``: probabilities (logreg) or margins (svm)."""
        return model_scores(self.model, texts)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The best label of each text, with its probability (logreg) or its margin over the runner-up (svm; a
        multi-label svm run gives the label's own margin)."""
        if self.probabilistic:
            return top_labels(self.model.predict_proba(texts), self.label_names)
        scores = self.model.decision_function(texts)
        ranked = np.sort(scores, axis=1)
        return [(self.label_names[i], float(s[i] if self.multi_label else r[-1] - r[-2])) for i, s, r in zip(scores.argmax(1), scores, ranked)]

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Each text's predicted labels with their scores, highest first (see `Predictor.predict_labels`)."""
        if self.thresholds is None:
            return [[pair] for pair in self.predict(texts)]
        scores = model_scores(self.model, texts)
        return label_sets(choose(scores, self.thresholds), scores, self.label_names)

    def evaluate(self, examples: Sequence[Example], source: str) -> dict:
        """Metrics on labelled examples (a label the run never saw is a `DataError`)."""
        y = self.targets.encode(self.labels, examples, source)
        return scored_metrics(model_scores(self.model, [e.text for e in examples]), y, self.label_names, self.thresholds)
