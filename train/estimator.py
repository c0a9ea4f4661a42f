"""A scikit-learn-style estimator over the whole classifier: ``TextClassifier(model="lstm").fit(texts, labels)``.

    from train.estimator import TextClassifier

    clf = TextClassifier(model="lstm", epochs=4, seed=1)
    clf.fit(train_texts, train_labels)            # lists, numpy arrays, pandas Series
    clf.predict(["这家店的菜很好吃"])              # labels, of the type they were given in
    clf.predict_proba(texts)                      # [N, classes], columns in the order of clf.classes_
    clf.score(test_texts, test_labels)            # accuracy
    clf.save("runs/mine")                         # an ordinary run directory: predict, serve, export use it
    TextClassifier.load("runs/mine")

The options are ``run.py train``'s, named as its fields (``hidden_size`` for
``--hidden-size``), checked at once with the command line's rules and
messages. ``fit`` writes the texts to a temporary CSV file and trains exactly
as ``run.py train --train FILE`` would (``dev=(texts, labels)`` gives a dev set;
without one, ``dev_ratio`` of the training rows are held out), into a
temporary run directory that `save` copies. `get_params` and `set_params` follow
scikit-learn's contract, so ``sklearn.base.clone``, ``cross_val_score`` and
grid searches work. Single-label data only (for multi-label data, use the
command line's ``--multi-label``).
"""

from __future__ import annotations

import difflib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from data_processor.base.errors import ConfigError, DataError
from data_processor.base.messages import Log, log_stderr
from data_processor.io import write_table
from train.classify.kinds import kind_of
from train.classify.settings import ClassifierConfig, TableSettings
from train.inference.predictors import ClassifierPredictor, load_predictor

# Where the data comes from and where the run goes: fit's arguments and a temporary directory decide, not options.
NOT_OPTIONS = frozenset({"train", "dev", "test", "dataset", "runs_dir", "run_name", "multi_label", "label_sep", "threshold",
                         "label_names", "test_ratio",
                         *(f.name for f in TableSettings.__dataclass_fields__.values())})
OPTIONS = tuple(name for name in ClassifierConfig.__dataclass_fields__ if name not in NOT_OPTIONS and name != "model")
CLASSES_FILE = "estimator.json"  # in the run directory: the labels as fit was given them (their JSON types)


class TextClassifier(ClassifierMixin, BaseEstimator):
    """A text classifier trained as ``run.py train`` trains one, with scikit-learn's fit/predict/score interface.

    ``model`` is ``--model`` (rnn, gru, lstm, tfidf, lstm+tfidf...); every other keyword is a ``run.py train`` option
    by its field name. ``device`` (default auto: a GPU when torch sees one) is where it trains and predicts.
    """

    def __init__(self, model: str = "lstm", **options: Any) -> None:
        self.model = model
        self.options = options
        check_options(model, options)

    # ---------------------------------------------------------------- scikit-learn's parameter contract

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments: ``model`` and the options given."""
        return {"model": self.model, **self.options}

    def set_params(self, **params: Any) -> "TextClassifier":
        """Change ``model`` or options (checked as in the constructor); returns the estimator."""
        model = params.pop("model", self.model)
        options = {**self.options, **params}
        check_options(model, options)
        self.model, self.options = model, options
        return self

    # ---------------------------------------------------------------- training

    def fit(self, X: Iterable[str], y: Iterable[Any], dev: tuple[Iterable[str], Iterable[Any]] | None = None,
            log: Log = log_stderr) -> "TextClassifier":
        """Train on texts ``X`` with labels ``y`` (and ``dev=(texts, labels)`` when given); returns the estimator."""
        texts, labels = as_texts(X, "X"), as_labels(y, "y")
        if len(texts) != len(labels):
            raise DataError(f"X has {len(texts)} texts but y has {len(labels)} labels; give one label per text")
        classes = sorted(set(labels), key=_sort_key)
        if len(classes) < 2:
            raise DataError(f"y holds one label ({classes[0]!r}); a classifier needs at least two" if classes else "X and y are empty")
        self._workspace = tempfile.TemporaryDirectory(prefix="text-classifier-")
        folder = Path(self._workspace.name)
        train = folder / "train.csv"
        write_table(train, ("text", "label"), zip(texts, map(_label_text, labels)))
        data: dict[str, Any] = {"train": str(train)}
        if dev is not None:
            dev_texts, dev_labels = as_texts(dev[0], "dev texts"), as_labels(dev[1], "dev labels")
            write_table(folder / "dev.csv", ("text", "label"), zip(dev_texts, map(_label_text, dev_labels)))
            data["dev"] = str(folder / "dev.csv")
        config = ClassifierConfig.from_dict({"model": self.model, **self.options, **data, "runs_dir": str(folder / "runs"),
                                             "run_name": "run"})
        config.validate()
        summary = kind_of(self.model).train_function()(config, log=log)
        run = Path(summary["run"])
        (run / CLASSES_FILE).write_text(json.dumps({"classes": [_plain(c) for c in classes]}, ensure_ascii=False), encoding="utf-8")
        self._attach(run, classes)
        self.summary_ = summary
        return self

    def _attach(self, run: Path, classes: Sequence[Any], predictor: ClassifierPredictor | None = None) -> None:
        """Use the run's predictor (loaded here unless given); ``classes`` (the labels in their given types) become
        `classes_`."""
        self.run_dir_ = run
        self.predictor_: ClassifierPredictor = predictor or load_predictor(run, self.options.get("device", "auto"))
        by_name = {_label_text(c): c for c in classes}
        self.classes_ = np.array(classes, dtype=object if any(isinstance(c, str) for c in classes) else None)
        names = self.predictor_.label_names
        self._order = [names.index(_label_text(c)) for c in classes]  # predictor column of each class
        self._label_of = {name: by_name[name] for name in names}

    # ---------------------------------------------------------------- using it

    def predict(self, X: Iterable[str]) -> np.ndarray:
        """Each text's best label (of the type the labels were given in)."""
        predictor = self._fitted()
        return np.array([self._label_of[label] for label, _ in predictor.predict(as_texts(X, "X", allow_empty=True))],
                        dtype=self.classes_.dtype)

    def predict_proba(self, X: Iterable[str]) -> np.ndarray:
        """Class probabilities ``[N, len(classes_)]``, columns in the order of `classes_` (not for a TF-IDF + LinearSVC
        model: it gives margins; train with ``tfidf_classifier="logreg"`` for probabilities)."""
        predictor = self._fitted()
        if not predictor.probabilistic:
            raise ConfigError("this model gives margins, not probabilities (TF-IDF + LinearSVC); use decision_function, or train "
                              "with tfidf_classifier='logreg'")
        return predictor.predict_proba(as_texts(X, "X", allow_empty=True))[:, self._order]

    def decision_function(self, X: Iterable[str]) -> np.ndarray:
        """The scores the predicted label is the argmax of, ``[N, len(classes_)]`` (probabilities or margins)."""
        return self._fitted().scores(as_texts(X, "X", allow_empty=True))[:, self._order]

    def _fitted(self) -> ClassifierPredictor:
        if not hasattr(self, "predictor_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this TextClassifier is not fitted yet: call fit(texts, labels) or TextClassifier.load(directory)")
        return self.predictor_

    # ---------------------------------------------------------------- saving

    def save(self, directory: str | Path) -> Path:
        """Copy the trained run to ``directory`` (which must not exist, or be empty): an ordinary run directory that
        ``run.py predict/evaluate/serve/export --run DIRECTORY`` and `load` read. Returns its path."""
        self._fitted()
        target = Path(directory)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConfigError(f"{target} already exists and is not an empty directory; give a new path")
        partial = target.with_name(f".{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(self.run_dir_, partial)
        if target.exists():
            target.rmdir()
        partial.rename(target)  # whole or not at all
        return target

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> "TextClassifier":
        """The estimator saved in (or trained by ``run.py train`` into) ``directory``, ready to predict; its options are
        the run's settings that differ from the defaults."""
        run = Path(directory)
        predictor = load_predictor(run, device)  # checks the directory: a DataError naming what is wrong
        config = predictor.config
        fields = ClassifierConfig.__dataclass_fields__
        options = {k: getattr(config, k) for k in OPTIONS if k != "device" and getattr(config, k) != fields[k].default}
        estimator = cls(model=config.model, **options, **({"device": device} if device != "auto" else {}))
        saved = run / CLASSES_FILE
        classes = json.loads(saved.read_text(encoding="utf-8"))["classes"] if saved.is_file() else list(predictor.label_names)
        estimator._attach(run, classes, predictor)
        return estimator


def check_options(model: str, options: dict[str, Any]) -> None:
    """A `ConfigError` for an option ``run.py train`` would refuse, with its message, or one that is not an option here."""
    for name in options:
        if name in NOT_OPTIONS:
            raise ConfigError(f"{name!r} is not an option of TextClassifier: the data comes from fit(texts, labels, dev=...) and "
                              "the run from save(directory)")
        if name not in OPTIONS:
            close = difflib.get_close_matches(name, OPTIONS, n=1)
            raise ConfigError(f"unknown option {name!r}{f'; did you mean {close[0]!r}?' if close else ''} (the options are "
                              "run.py train's, by field name: hidden_size for --hidden-size)")
    config = ClassifierConfig.from_dict({"model": model, **options}, "")
    config.validate()


def as_texts(values: Iterable[Any], what: str, allow_empty: bool = False) -> list[str]:
    """``values`` (a list, numpy array, pandas Series...) as a list of strings; a `DataError` naming the first entry that
    is not a text (or, unless ``allow_empty``, is empty)."""
    if isinstance(values, str):
        raise DataError(f"{what} is one string; give a sequence of texts, e.g. [{values[:20]!r}]")
    if getattr(values, "ndim", 1) != 1:
        raise DataError(f"{what} has {values.ndim} dimensions; give a 1-D sequence of texts (for a table, its text column)")  # type: ignore[attr-defined]
    texts = list(values)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"{what}[{index}] is not a text: {text!r} ({type(text).__name__})")
        if not allow_empty and not text.strip():
            raise DataError(f"{what}[{index}] is empty; there is nothing to learn from it")
    return texts


def as_labels(values: Iterable[Any], what: str) -> list[Any]:
    """``values`` as a list of plain labels (numpy scalars become Python ones); a `DataError` for a missing label."""
    if getattr(values, "ndim", 1) != 1:
        raise DataError(f"{what} has {values.ndim} dimensions; give one label per text")  # type: ignore[attr-defined]
    labels = [_plain(v) for v in values]
    for index, label in enumerate(labels):
        if label is None or (isinstance(label, float) and label != label) or _label_text(label).strip() == "":
            raise DataError(f"{what}[{index}] is missing (got {label!r}); every text needs a label")
    return labels


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


def _label_text(label: Any) -> str:
    """A label as the run stores it (text)."""
    return str(label)


def _sort_key(label: Any) -> tuple[str, Any]:
    """Sorts labels of one type by value (1 < 2 < 10), mixed types by type name first."""
    return (type(label).__name__, label)
