"""A trained RNN classifier loaded from its run directory alone, for ``predict`` and ``evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.base.errors import DataError
from data_processor.io import Example
from data_processor.vocab import Vocab
from models.classifier import upgrade_state_dict
from train.classify.multilabel import choose, label_sets, load_thresholds, top_labels
from train.classify.network import batch_metrics, build_model, predict_proba
from train.classify.run_files import load_shown_labels, load_text_tools
from train.classify.settings import RUN_KIND, ClassifierConfig, eval_batch_size
from train.classify.text_pipeline import TextPipeline
from train.common.rundir import RunDir
from train.common.runtime import resolve_device


class Predictor:
    """A trained RNN classifier loaded from its run directory alone."""

    probabilistic = True  # `predict` gives probabilities

    NEEDS = ("config.json", "vocab.json", "labels.json", "model.pt")

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        run = RunDir.open(run_dir, RUN_KIND, self.NEEDS)
        self.config = run.load_settings(ClassifierConfig)
        tokenize, stopwords = load_text_tools(run, self.config)
        self.pipeline = TextPipeline(tokenize, stopwords, Vocab.load(run.file("vocab.json")), Vocab.load(run.file("labels.json")),
                                     self.config.max_len, self.config.backoff, self.config.label_sep if self.config.multi_label else None)
        self.device = resolve_device(device)
        self.model = build_model(self.config, self.pipeline.vocab, len(self.pipeline.labels))
        state = upgrade_state_dict(run.load_state_dict())
        check_sizes(run, state, len(self.pipeline.vocab), len(self.pipeline.labels))
        try:
            self.model.load_state_dict(state)
        except RuntimeError as exc:
            raise DataError(f"{run.file('model.pt')}: does not match the run's config ({str(exc).splitlines()[0]})") from None
        self.model.to(self.device).eval()
        self.run = run
        self.batch_size = eval_batch_size(self.config)
        self.multi_label = self.config.multi_label
        self.shown = load_shown_labels(run, self.pipeline.labels.itos)
        self.thresholds = load_thresholds(run, self.pipeline.labels.itos) if self.multi_label else None

    @property
    def label_names(self) -> list[str]:
        """The labels as the run shows them (its --label-names), in the order of the probability columns."""
        return self.shown

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[N, C]``, columns in the order of `label_names`."""
        batches = self.pipeline.batches(texts, self.batch_size)
        return predict_proba(self.model, batches, self.device)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """What the run's decisions apply argmax and thresholds to, ``[N, C]``: here the probabilities."""
        return self.predict_proba(texts)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable label of each text, with its probability."""
        return top_labels(self.predict_proba(texts), self.label_names)

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Each text's predicted labels with their probabilities, highest first: the label set of a multi-label run
        (each label at or above its threshold; at least the most probable one), else the one most probable label."""
        probs = self.predict_proba(texts)
        if self.thresholds is None:
            return [[pair] for pair in top_labels(probs, self.label_names)]
        return label_sets(choose(probs, self.thresholds), probs, self.label_names)

    def evaluate(self, examples: Sequence[Example], source: str) -> dict:
        """Metrics on labelled examples (a label the run never saw is a `DataError`)."""
        batches = self.pipeline.labelled_batches(examples, source, self.batch_size)
        return batch_metrics(self.model, batches, self.label_names, self.device, thresholds=self.thresholds)


def check_sizes(run: RunDir, state: dict, vocab_size: int, num_labels: int) -> None:
    """A `DataError` naming ``vocab.json`` or ``labels.json`` when it holds another number of entries than the weights
    of ``model.pt`` (``state``) were trained with: that file, not the weights, is what was damaged or replaced."""
    for name, key, size in (("labels.json", "output.weight", num_labels), ("vocab.json", "encoder.embedding.weight", vocab_size)):
        trained = state.get(key)
        if trained is not None and trained.shape[0] != size:
            noun = "label" if name == "labels.json" else "token"
            raise DataError(f"{run.file(name)}: holds {size} {noun}{'s' if size != 1 else ''} but the model in "
                            f"model.pt was trained with {trained.shape[0]}; the file was damaged or comes from another run")
