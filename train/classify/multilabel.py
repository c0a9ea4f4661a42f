"""Multi-label classification: label cells split into label sets, decision thresholds chosen on dev, and the metrics.

A multi-label text carries a set of labels, written in one label cell joined
by ``--label-sep`` (``体育|财经``). The model gives each label a probability
of its own (a sigmoid); a label is predicted when its probability reaches its
threshold, and a text always gets at least its most probable label (every
training row has one). The thresholds (one for all labels, or one per label)
are chosen for the best F1 on the dev set and saved as ``thresholds.json`` in
the run directory; `predict`, `evaluate` and `serve` read them from there.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from data_processor.base.errors import DataError, where
from train.common.rundir import RunDir

THRESHOLDS_FILE = "thresholds.json"
PROBABILITY_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)  # candidate thresholds for probabilities
MARGIN_GRID = np.round(np.arange(-1.0, 1.001, 0.025), 3)  # for a LinearSVC's margins (its own threshold is 0)


def split_labels(cell: str, sep: str, source: str, line: int) -> list[str]:
    """The labels of one label cell, in order, without repeats; a `DataError` naming ``source`` and ``line`` when it
    holds none (``'|'`` or ``' | '`` with the default separator)."""
    labels = list(dict.fromkeys(part.strip() for part in cell.split(sep) if part.strip()))
    if not labels:
        raise DataError(f"{where(source, line)}: the label cell {cell!r} holds no label once split at {sep!r}; "
                        "give each row at least one label")
    return labels


def multi_hot(label_sets: Sequence[Sequence[str]], names: Sequence[str]) -> np.ndarray:
    """A float32 matrix ``[N, C]``: 1 where row ``i`` has label ``names[j]``. Every label must be one of ``names``."""
    column = {name: j for j, name in enumerate(names)}
    out = np.zeros((len(label_sets), len(names)), dtype=np.float32)
    for i, labels in enumerate(label_sets):
        out[i, [column[label] for label in labels]] = 1.0
    return out


def choose(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The predicted label sets as a boolean matrix ``[N, C]``: each label whose score reaches its threshold, and the
    best-scoring label of a row where none does."""
    chosen = scores >= np.asarray(thresholds)[None, :]
    if len(scores):
        chosen[np.arange(len(scores)), scores.argmax(1)] = True
    return chosen


def _f1(true: np.ndarray, chosen: np.ndarray) -> float:
    tp = float(np.logical_and(true, chosen).sum())
    total = float(true.sum() + chosen.sum())
    return 2 * tp / total if total else 0.0


def tune_thresholds(scores: np.ndarray, y: np.ndarray, mode: str = "global", grid: np.ndarray = PROBABILITY_GRID) -> np.ndarray:
    """Per-label thresholds ``[C]`` chosen from ``grid`` on dev ``scores`` and true multi-hot ``y``.

    ``global``: one threshold for every label, the best micro-F1 of the predicted sets (see `choose`). ``per-label``:
    each label's own, the best F1 of that label alone. Ties go to the candidate nearest the grid's middle (0.5 for
    probabilities, 0 for margins), so a flat stretch does not push a threshold to an extreme.
    """
    true = y > 0.5
    middle = (grid[0] + grid[-1]) / 2
    order = np.argsort(np.abs(grid - middle), kind="stable")  # middle first: the first best wins ties
    if mode == "global":
        best = max(order, key=lambda k: _f1(true, choose(scores, np.full(scores.shape[1], grid[k]))))
        return np.full(scores.shape[1], float(grid[best]))
    if mode != "per-label":
        raise ValueError(f"unknown threshold mode {mode!r}; choose global or per-label")
    return np.array([float(grid[max(order, key=lambda k: _f1(true[:, j], scores[:, j] >= grid[k]))])
                     for j in range(scores.shape[1])])


def save_thresholds(run: RunDir, mode: str, thresholds: np.ndarray, names: Sequence[str], dev_micro_f1: float) -> None:
    """Write ``thresholds.json``: the mode, each label's threshold and the dev micro-F1 they gave."""
    run.save_json(THRESHOLDS_FILE, {"mode": mode, "thresholds": {n: round(float(t), 4) for n, t in zip(names, thresholds)},
                                    "dev_micro_f1": round(dev_micro_f1, 6)})


def load_thresholds(run: RunDir, names: Sequence[str]) -> np.ndarray:
    """The thresholds `save_thresholds` wrote, in the order of ``names``; a `DataError` when the file is missing,
    damaged or lacks a label."""
    path = run.file(THRESHOLDS_FILE)
    if not path.is_file():
        raise DataError(f"{path}: missing; a multi-label run keeps its decision thresholds there (train the run again)")
    saved = run.load_json(THRESHOLDS_FILE)
    table = saved.get("thresholds") if isinstance(saved, dict) else None
    if not isinstance(table, dict) or any(not isinstance(table.get(n), (int, float)) for n in names):
        raise DataError(f"{path}: needs a number for every label ({', '.join(names)}) under 'thresholds'")
    return np.array([float(table[n]) for n in names])


def top_labels(scores: np.ndarray, names: Sequence[str]) -> list[tuple[str, float]]:
    """Each row's best label (the highest score's column) with its score."""
    return [(names[i], float(row[i])) for i, row in zip(scores.argmax(1), scores)]


def label_sets(chosen: np.ndarray, scores: np.ndarray, names: Sequence[str]) -> list[list[tuple[str, float]]]:
    """Each row's chosen labels with their scores, highest first."""
    out = []
    for row, score in zip(chosen, scores):
        picked = np.flatnonzero(row)
        picked = picked[np.argsort(-score[picked], kind="stable")]
        out.append([(names[j], float(score[j])) for j in picked])
    return out


def multilabel_metrics(y_true: np.ndarray, chosen: np.ndarray, label_names: Sequence[str]) -> dict:
    """Micro-, macro- and example-based (samples) F1, subset accuracy, Hamming loss, a per-label report (text), a
    label-by-label ``confusion`` (rows: true label, columns: predicted label; cell = texts with both), each label's
    ``support`` (texts that truly have it: the confusion's rows divided by it give the share of a label's texts that
    were given each label, the diagonal being the label's recall) and the names."""
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        f1_score,
        hamming_loss,
    )

    true, pred = (np.asarray(y_true) > 0.5).astype(int), np.asarray(chosen).astype(int)
    labels = list(range(len(label_names)))
    return {
        "labels": list(label_names),
        "multi_label": True,
        "micro_f1": float(f1_score(true, pred, labels=labels, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(true, pred, labels=labels, average="macro", zero_division=0)),
        "samples_f1": float(f1_score(true, pred, labels=labels, average="samples", zero_division=0)),
        "subset_accuracy": float(accuracy_score(true, pred)),
        "hamming_loss": float(hamming_loss(true, pred)),
        "report": classification_report(true, pred, labels=labels, target_names=list(label_names), digits=4, zero_division=0),
        "confusion": (true.T @ pred).tolist(),
        "support": true.sum(axis=0).tolist(),
    }


def scored_metrics(scores: np.ndarray, y: Sequence[int] | np.ndarray, names: Sequence[str], thresholds: np.ndarray | None) -> dict:
    """Single-label metrics of the best-scoring labels, or (with ``thresholds``) multi-label metrics of the sets they choose."""
    if thresholds is not None:
        return multilabel_metrics(np.asarray(y), choose(scores, thresholds), names)
    from train.common.metrics import classification_metrics

    return classification_metrics(y, scores.argmax(1), names)
