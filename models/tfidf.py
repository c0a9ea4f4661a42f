"""TF-IDF features + a linear classifier: the classic baseline, saved without pickles.

Features are character n-grams of the raw text (scikit-learn's ``char``
analyzer) or n-grams of tokens given by the caller. The classifier is
LinearSVC (decision scores only) or logistic regression (probabilities).
`state` gives the feature vocabulary and the numbers (idf, weights,
intercepts) as plain dicts and arrays, and `load_state` rebuilds the transform
from them, so a saved model (JSON + ``.npz``) never needs a pickle.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

FEATURES = ("char", "word")
CLASSIFIERS = ("svm", "logreg")


class TfidfClassifier:
    """TF-IDF n-grams (``ngram_min``..``ngram_max``) and a linear classifier over class ids ``0..C-1``; with
    ``multi_label``, one binary classifier per label (one-vs-rest) over a multi-hot label matrix ``[N, C]``.

    With ``features="word"``, ``tokenize`` turns a text into the tokens whose
    n-grams are the features; with ``char``, the text's characters are used
    (lower-cased, whitespace runs collapsed, as scikit-learn does).
    """

    def __init__(self, features: str = "char", classifier: str = "svm", ngram_min: int = 1, ngram_max: int = 3, c: float = 1.0,
                 min_df: int = 1, tokenize: Callable[[str], list[str]] | None = None, seed: int = 0, multi_label: bool = False) -> None:
        if features not in FEATURES:
            raise ValueError(f"unknown features {features!r}; choose one of {', '.join(FEATURES)}")
        if classifier not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}")
        if features == "word" and tokenize is None:
            raise ValueError("word features need a tokenize function")
        self.features, self.classifier, self.c, self.seed, self.multi_label = features, classifier, c, seed, multi_label
        self.ngram_range, self.min_df, self.tokenize = (ngram_min, ngram_max), min_df, tokenize
        self.vectorizer = self._vectorizer()
        self.coef: np.ndarray | None = None  # [1 or C, F]
        self.intercept: np.ndarray | None = None  # [1 or C]

    def _vectorizer(self, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
        common = {"ngram_range": self.ngram_range, "sublinear_tf": True, "min_df": self.min_df, "vocabulary": vocabulary, "dtype": np.float64}
        if self.features == "char":
            return TfidfVectorizer(analyzer="char", **common)
        return TfidfVectorizer(tokenizer=self.tokenize, token_pattern=None, lowercase=False, **common)

    @property
    def probabilistic(self) -> bool:
        """Whether `predict_proba` gives probabilities (logistic regression) or only decision scores exist (svm)."""
        return self.classifier == "logreg"

    def _linear(self):
        if self.classifier == "svm":
            return LinearSVC(C=self.c, random_state=self.seed)
        return LogisticRegression(C=self.c, max_iter=1000, random_state=self.seed)

    def fit(self, texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> "TfidfClassifier":
        """Learn the n-gram vocabulary, idf and classifier weights from labelled texts (labels are class ids, or a
        multi-hot matrix ``[N, C]`` for a multi-label model)."""
        x = self.vectorizer.fit_transform(texts)
        if self.multi_label:
            self.coef, self.intercept = self._fit_one_vs_rest(x, np.asarray(labels) > 0.5)
            return self
        model = self._linear().fit(x, labels)
        if list(model.classes_) != list(range(int(max(labels)) + 1)):
            raise ValueError("every class id 0..C-1 must occur in the training labels")
        self.coef, self.intercept = np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)
        return self

    def _fit_one_vs_rest(self, x, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One binary classifier per label column of ``y``; a column that is all yes (or all no) gets a constant score."""
        coef, intercept = np.zeros((y.shape[1], x.shape[1])), np.zeros(y.shape[1])
        for j in range(y.shape[1]):
            if y[:, j].all() or not y[:, j].any():
                intercept[j] = 10.0 if y[:, j].all() else -10.0
                continue
            model = self._linear().fit(x, y[:, j].astype(int))
            coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
        return coef, intercept

    @property
    def num_classes(self) -> int:
        """How many classes (labels) the fitted model scores: one score row each, or one row for two classes."""
        if self.coef is None:
            raise RuntimeError("fit or load the model first")
        return 2 if self.coef.shape[0] == 1 and not self.multi_label else self.coef.shape[0]

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Per-class scores ``[N, C]``; the largest is the prediction."""
        if self.coef is None or self.intercept is None:
            raise RuntimeError("fit or load the model first")
        scores = np.asarray(self.vectorizer.transform(texts) @ self.coef.T) + self.intercept
        if scores.shape[1] == 1 and not self.multi_label:  # binary: one score, positive for class 1
            scores = np.hstack([-scores / 2, scores / 2])
        return scores

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Class ids ``[N]`` (the best-scoring label, for a multi-label model)."""
        return self.decision_function(texts).argmax(1)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[N, C]`` (logistic regression only): a softmax over the classes, or each label's own
        probability for a multi-label model."""
        if not self.probabilistic:
            raise ValueError("a LinearSVC gives decision scores, not probabilities; train with logistic regression for probabilities")
        scores = self.decision_function(texts)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-scores))  # for two classes: +-z/2, whose softmax is the sigmoid of z
        scores = np.exp(scores - scores.max(1, keepdims=True))
        return scores / scores.sum(1, keepdims=True)

    def state(self) -> tuple[dict[str, int], dict[str, np.ndarray]]:
        """What a fitted model is: the n-gram vocabulary (n-gram -> column) and its arrays (idf, coef, intercept)."""
        if self.coef is None or self.intercept is None:
            raise RuntimeError("fit the model first")
        vocabulary = {gram: int(i) for gram, i in self.vectorizer.vocabulary_.items()}
        return vocabulary, {"idf": self.vectorizer.idf_, "coef": self.coef, "intercept": self.intercept}

    def load_state(self, vocabulary: dict[str, int], arrays: dict[str, np.ndarray]) -> "TfidfClassifier":
        """Make this model the one `state` described (its settings must be the saved model's); ValueError if they disagree."""
        idf, coef, intercept = (np.asarray(arrays[k], dtype=np.float64) for k in ("idf", "coef", "intercept"))
        if not len(idf) == len(vocabulary) == coef.shape[1] or len(intercept) != coef.shape[0]:
            raise ValueError(f"{len(vocabulary)} features, {len(idf)} idf values and weights of shape {coef.shape}: they do not belong together")
        self.vectorizer = self._vectorizer(vocabulary)
        self.vectorizer.idf_ = idf
        self.coef, self.intercept = coef, intercept
        return self
