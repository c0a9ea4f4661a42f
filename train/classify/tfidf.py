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
from data_processor.tokenizers import Tokenizer, get_tokenizer
from data_processor.vocab import Vocab
from models.tfidf import TfidfClassifier
from train.classify.data import build_label_vocab, encode_labels, load_splits
from train.classify.run_files import load_text_tools, save_text_tools, write_report
from train.classify.settings import RUN_KIND, ClassifierConfig
from train.common.metrics import classification_metrics
from train.common.rundir import RunDir

VOCAB_FILE, ARRAYS_FILE = "tfidf_vocab.json", "tfidf.npz"
_FORMAT = "rnn-toolkit-tfidf/1"


def build_tfidf(config: ClassifierConfig, tokenize: Tokenizer | None = None, stopwords: frozenset[str] = frozenset()) -> TfidfClassifier:
    """The unfitted model a config describes; word features use ``tokenize`` (default: the config's tokenizer) minus ``stopwords``."""
    features = None
    if config.tfidf_features == "word":
        words = tokenize or get_tokenizer(config.tokenizer, user_dict=config.user_dict, hmm=config.hmm)

        def features(text: str) -> list[str]:
            return remove_stopwords(words(text), stopwords)

    return TfidfClassifier(config.tfidf_features, config.tfidf_classifier, ngram_max=config.tfidf_ngrams, c=config.tfidf_c,
                           tokenize=features, seed=config.seed)


def fit_tfidf(config: ClassifierConfig, train: Sequence[Example], y_train: Sequence[int], log: Log = log_stderr) -> TfidfClassifier:
    """The TF-IDF model a config describes, fitted on labelled training examples."""
    model = build_tfidf(config, stopwords=model_stopwords(config))
    start = time.perf_counter()
    log(f"tfidf: {config.tfidf_features} 1-{config.tfidf_ngrams}-grams + {config.tfidf_classifier} (C={config.tfidf_c}), fitting on {len(y_train)} texts")
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
    labels = build_label_vocab(splits.train, names["train"])
    y_dev = encode_labels(labels, splits.dev, names["dev"])
    y_test = encode_labels(labels, splits.test, names["test"]) if splits.test else None
    start = time.perf_counter()
    model = fit_tfidf(config, splits.train, encode_labels(labels, splits.train, names["train"]), log)
    seconds = time.perf_counter() - start
    dev_accuracy = float((model.predict([e.text for e in splits.dev]) == np.asarray(y_dev)).mean())
    log(f"tfidf: dev accuracy {dev_accuracy:.4f}")

    run = RunDir.create(config.runs_dir, config.run_name, prefix=config.model)
    run.save_json("config.json", {"kind": RUN_KIND, **config.to_dict(), "device_used": "cpu"})
    labels.save(run.file("labels.json"))
    save_tfidf(run, model)
    save_text_tools(run, config, model_stopwords(config))
    append_jsonl(run.file("metrics.jsonl"), {"epoch": 1, "dev_accuracy": round(dev_accuracy, 6), "seconds": round(seconds, 3)})
    log(f"run directory: {run.path}")
    test_metrics = None
    if y_test is not None:
        test_metrics = classification_metrics(y_test, model.predict([e.text for e in splits.test]), labels.itos)
    summary = write_report(run, {"run": str(run.path), "best_epoch": 1, "best_dev_accuracy": dev_accuracy, "epochs_run": 1}, test_metrics)
    run.mark_complete(summary)
    return summary


def model_stopwords(config: ClassifierConfig) -> frozenset[str]:
    """The stopwords a TF-IDF model removes: the --stopwords list for word features, none for character n-grams."""
    return load_stopwords(config.stopwords) if config.tfidf_features == "word" else frozenset()


class TfidfPredictor:
    """A trained ``--model tfidf`` run loaded from its directory alone; the same interface as `Predictor`."""

    NEEDS = ("config.json", "labels.json", VOCAB_FILE, ARRAYS_FILE)
    multi_label = False

    def __init__(self, run_dir: str | Path) -> None:
        run = RunDir.open(run_dir, RUN_KIND, self.NEEDS)
        self.config = run.load_settings(ClassifierConfig)
        self.labels = Vocab.load(run.file("labels.json"))
        self.model = load_tfidf(run, self.config)
        self.run = run

    @property
    def label_names(self) -> list[str]:
        return self.labels.itos

    @property
    def probabilistic(self) -> bool:
        """True for logistic regression; a LinearSVC's `predict` gives margins instead of probabilities."""
        return self.model.probabilistic

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The best label of each text, with its probability (logreg) or its margin over the runner-up (svm)."""
        if self.probabilistic:
            probs = self.model.predict_proba(texts)
            return [(self.label_names[i], float(p[i])) for i, p in zip(probs.argmax(1), probs)]
        scores = np.sort(self.model.decision_function(texts), axis=1)
        best = self.model.predict(texts)
        return [(self.label_names[i], float(s[-1] - s[-2])) for i, s in zip(best, scores)]

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Each text's predicted labels with their scores (see `Predictor.predict_labels`)."""
        return [[pair] for pair in self.predict(texts)]

    def evaluate(self, examples: Sequence[Example], source: str) -> dict:
        """Metrics on labelled examples (a label the run never saw is a `DataError`)."""
        y = encode_labels(self.labels, examples, source)
        return classification_metrics(y, self.model.predict([e.text for e in examples]), self.label_names)
