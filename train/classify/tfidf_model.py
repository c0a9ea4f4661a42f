"""The TF-IDF model a ``--model tfidf`` run describes: built from its config, saved into and loaded from its directory.

The run directory holds ``tfidf_vocab.json`` (n-gram -> column) and ``tfidf.npz`` (idf, weights, intercepts) beside
``config.json`` and ``labels.json``: no pickle, so loading a run never runs code. Training (`train.classify.tfidf`)
and using a run (`train.inference.tfidf_predictor`) both go through this module.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from data_processor.base.errors import DataError
from data_processor.stopwords import load_stopwords, remove_stopwords
from data_processor.tokenizers import Tokenizer, tokenizer_for
from models.tfidf import TfidfClassifier
from train.classify.run_files import load_text_tools
from train.classify.settings import ClassifierConfig
from train.common.rundir import RunDir

VOCAB_FILE, ARRAYS_FILE = "tfidf_vocab.json", "tfidf.npz"
_FORMAT = "rnn-toolkit-tfidf/1"


def build_tfidf(config: ClassifierConfig, tokenize: Tokenizer | None = None, stopwords: frozenset[str] = frozenset()) -> TfidfClassifier:
    """The unfitted model a config describes; word features use ``tokenize`` (default: the config's tokenizer) minus ``stopwords``."""
    features: Tokenizer | None = None
    if config.tfidf_features == "word":
        words = tokenize or tokenizer_for(config)

        def word_features(text: str) -> list[str]:
            return remove_stopwords(words(text), stopwords)

        features = word_features
    return TfidfClassifier(config.tfidf_features, config.tfidf_classifier, ngram_max=config.tfidf_ngrams, c=config.tfidf_c,
                           tokenize=features, seed=config.seed, multi_label=config.multi_label)


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


def model_scores(model: TfidfClassifier, texts: Sequence[str]) -> np.ndarray:
    """What thresholds and the argmax apply to: probabilities (logistic regression) or decision scores (svm)."""
    return model.predict_proba(texts) if model.probabilistic else model.decision_function(texts)


def model_stopwords(config: ClassifierConfig) -> frozenset[str]:
    """The stopwords a TF-IDF model removes: the --stopwords list for word features, none for character n-grams."""
    return load_stopwords(config.stopwords) if config.tfidf_features == "word" else frozenset()

