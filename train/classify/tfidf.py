"""``--model tfidf``: the classic baseline through the same data, run directory, report, predict and evaluate.

The run directory holds ``config.json`` (model ``tfidf``), ``labels.json``,
``tfidf_vocab.json`` (n-gram -> column) and ``tfidf.npz`` (idf, weights,
intercepts): no pickle, so loading a run never runs code.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.atomic import append_jsonl
from data_processor.errors import DataError
from data_processor.io import Example
from data_processor.messages import Log, log_stderr
from data_processor.stopwords import load_stopwords, remove_stopwords
from data_processor.tokenizers import Tokenizer, tokenizer_for
from data_processor.vocab import Vocab
from models.tfidf import TfidfClassifier
from train.classify.data import LabelTargets, load_splits
from train.classify.multilabel import (
    MARGIN_GRID,
    PROBABILITY_GRID,
    choose,
    label_sets,
    load_thresholds,
    save_thresholds,
    scored_metrics,
    tune_thresholds,
)
from train.classify.run_files import load_text_tools, save_text_tools, write_report
from train.classify.settings import RUN_KIND, ClassifierConfig
from train.common.rundir import RunDir

VOCAB_FILE, ARRAYS_FILE = "tfidf_vocab.json", "tfidf.npz"
_FORMAT = "rnn-toolkit-tfidf/1"


def build_tfidf(config: ClassifierConfig, tokenize: Tokenizer | None = None, stopwords: frozenset[str] = frozenset()) -> TfidfClassifier:
    """The unfitted model a config describes; word features use ``tokenize`` (default: the config's tokenizer) minus ``stopwords``."""
    features = None
    if config.tfidf_features == "word":
        words = tokenize or tokenizer_for(config)

        def features(text: str) -> list[str]:
            return remove_stopwords(words(text), stopwords)

    return TfidfClassifier(config.tfidf_features, config.tfidf_classifier, ngram_max=config.tfidf_ngrams, c=config.tfidf_c,
                           tokenize=features, seed=config.seed, multi_label=config.multi_label)


def fit_tfidf(config: ClassifierConfig, train: Sequence[Example], y_train: Sequence[int] | np.ndarray, log: Log = log_stderr) -> TfidfClassifier:
    """The TF-IDF model a config describes, fitted on labelled training examples."""
    model = build_tfidf(config, stopwords=model_stopwords(config))
    start = time.perf_counter()
    log(f"tfidf: {config.tfidf_features} 1-{config.tfidf_ngrams}-grams + {config.tfidf_classifier} (C={config.tfidf_c})"
        f"{' one-vs-rest per label' if config.multi_label else ''}, fitting on {len(y_train)} texts")
    model.fit([e.text for e in train], y_train)
    log(f"tfidf: {len(model.vectorizer.vocabulary_)} features, fitted in {time.perf_counter() - start:.1f}s")
    return model


def save_tfidf(run: RunDir, model: TfidfClassifier) -> None:
    """Write a fitted TF-IDF model into a run directory: its n-gram vocabulary (JSON) and arrays (``.npz``)."""
    vocabulary, arrays = model.state()
    run.save_json(VOCAB_FILE, {"format": _FORMAT, "vocabulary": vocabulary})
    run.save_arrays(ARRAYS_FILE, arrays)


def load_tfidf(run: RunDir, config: ClassifierConfig) -> TfidfClassifier:
    """The TF-IDF model `save_tfidf` wrote into ``run``; a `DataError` if its files are damaged."""
    saved = run.load_json(VOCAB_FILE)
    if not isinstance(saved, dict) or saved.get("format") != _FORMAT or not isinstance(saved.get("vocabulary"), dict):
        raise DataError(f"{run.file(VOCAB_FILE)}: not a TF-IDF vocabulary file (format {_FORMAT!r} expected)")
    tokenize, stopwords = load_text_tools(run, config) if config.tfidf_features == "word" else (None, frozenset())
    model = build_tfidf(config, tokenize, stopwords)
    try:
        return model.load_state(saved["vocabulary"], run.load_arrays(ARRAYS_FILE))
    except (ValueError, KeyError) as exc:
        raise DataError(f"{run.file(ARRAYS_FILE)}: does not match {VOCAB_FILE} ({exc}); train the run again") from None


def train_tfidf(config: ClassifierConfig, log: Log = log_stderr) -> dict:
    """Fit TF-IDF + a linear classifier as ``config`` says, write its run directory, and return the summary."""
    config.validate()
    splits, names = load_splits(config, log)
    log(f"data: {splits.source}: {len(splits.train)} train, {len(splits.dev)} dev, {len(splits.test)} test")
    targets = LabelTargets(config.label_sep if config.multi_label else None)
    labels = targets.vocab(splits.train, names["train"])
    y_dev = targets.encode(labels, splits.dev, names["dev"])
    y_test = targets.encode(labels, splits.test, names["test"]) if splits.test else None
    start = time.perf_counter()
    model = fit_tfidf(config, splits.train, targets.encode(labels, splits.train, names["train"]), log)
    seconds = time.perf_counter() - start
    dev_scores = model_scores(model, [e.text for e in splits.dev])
    thresholds = None
    if config.multi_label:
        thresholds = tune_thresholds(dev_scores, y_dev, config.threshold, PROBABILITY_GRID if model.probabilistic else MARGIN_GRID)
    dev_metrics = scored_metrics(dev_scores, y_dev, labels.itos, thresholds)
    monitor = "micro_f1" if config.multi_label else "accuracy"
    log(f"tfidf: dev {monitor.replace('_', '-')} {dev_metrics[monitor]:.4f}")

    run = RunDir.create(config.runs_dir, config.run_name, prefix=config.model)
    run.save_json("config.json", {"kind": RUN_KIND, **config.to_dict(), "device_used": "cpu"})
    labels.save(run.file("labels.json"))
    save_tfidf(run, model)
    save_text_tools(run, config, model_stopwords(config))
    append_jsonl(run.file("metrics.jsonl"), {"epoch": 1, f"dev_{monitor}": round(dev_metrics[monitor], 6), "seconds": round(seconds, 3)})
    log(f"run directory: {run.path}")
    summary = {"run": str(run.path), "best_epoch": 1, f"best_dev_{monitor}": dev_metrics[monitor], "epochs_run": 1}
    if thresholds is not None:
        save_thresholds(run, config.threshold, thresholds, labels.itos, dev_metrics["micro_f1"])
        summary.update(multi_label=True, threshold=config.threshold, dev_micro_f1=dev_metrics["micro_f1"])
    test_metrics = None
    if y_test is not None:
        test_metrics = scored_metrics(model_scores(model, [e.text for e in splits.test]), y_test, labels.itos, thresholds)
    summary = write_report(run, summary, test_metrics, dev_metrics)
    run.mark_complete(summary)
    return summary


def model_scores(model: TfidfClassifier, texts: Sequence[str]) -> np.ndarray:
    """What thresholds and the argmax apply to: probabilities (logistic regression) or decision scores (svm)."""
    return model.predict_proba(texts) if model.probabilistic else model.decision_function(texts)


def model_stopwords(config: ClassifierConfig) -> frozenset[str]:
    """The stopwords a TF-IDF model removes: the --stopwords list for word features, none for character n-grams."""
    return load_stopwords(config.stopwords) if config.tfidf_features == "word" else frozenset()


class TfidfPredictor:
    """A trained ``--model tfidf`` run loaded from its directory alone; the same interface as `Predictor`."""

    NEEDS = ("config.json", "labels.json", VOCAB_FILE, ARRAYS_FILE)

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        """Load the run at ``run_dir``; ``device`` is accepted for the common interface (a TF-IDF model runs on the CPU)."""
        run = RunDir.open(run_dir, RUN_KIND, self.NEEDS)
        self.config = run.load_settings(ClassifierConfig)
        self.labels = Vocab.load(run.file("labels.json"))
        self.model = load_tfidf(run, self.config)
        self.run = run
        self.multi_label = self.config.multi_label
        self.thresholds = load_thresholds(run, self.label_names) if self.multi_label else None
        self.targets = LabelTargets(self.config.label_sep if self.multi_label else None)

    @property
    def label_names(self) -> list[str]:
        return self.labels.itos

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
            probs = self.model.predict_proba(texts)
            return [(self.label_names[i], float(p[i])) for i, p in zip(probs.argmax(1), probs)]
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
