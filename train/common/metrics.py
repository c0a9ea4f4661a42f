"""Classification metrics from scikit-learn (imported when first used: predicting needs no metrics)."""

from __future__ import annotations

from typing import Sequence


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1, a per-class report (text), the confusion matrix (rows: true, columns: predicted) and the label names."""
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        f1_score,
    )

    labels = list(range(len(label_names)))
    return {
        "labels": list(label_names),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "report": classification_report(y_true, y_pred, labels=labels, target_names=list(label_names), digits=4, zero_division=0),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


MOST_SHOWN = 30  # a confusion matrix of more labels is shown (as text or a picture) for its most confused labels only


def most_confused(confusion: Sequence[Sequence[int]], count: int = MOST_SHOWN) -> list[int]:
    """The indices, in their order, of the ``count`` labels with the most errors: texts of the label given another
    (its row off the diagonal) plus texts of other labels given it (its column); all of them when there are no more."""
    n = len(confusion)
    if n <= count:
        return list(range(n))
    import numpy as np

    matrix = np.asarray(confusion, dtype=np.int64)
    off = matrix.sum(1) + matrix.sum(0) - 2 * np.diag(matrix)
    return sorted(np.argsort(-off, kind="stable")[:count].tolist())


def format_confusion(confusion: list[list[int]], label_names: Sequence[str]) -> str:
    """The confusion matrix as an aligned text table; of more than `MOST_SHOWN` labels, the rows and columns of the most
    confused ones (`most_confused`), under a line saying so."""
    shown = most_confused(confusion)
    names = [label_names[i] for i in shown]
    width = max(8, *(len(n) for n in names)) + 2
    head = "true \\ pred".ljust(width) + "".join(n.rjust(width) for n in names)
    rows = [names[k].ljust(width) + "".join(str(confusion[i][j]).rjust(width) for j in shown) for k, i in enumerate(shown)]
    note = [f"(the {len(shown)} most confused of {len(label_names)} labels)"] if len(shown) < len(label_names) else []
    return "\n".join([*note, head, *rows])


MULTI_LABEL_KEYS = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "micro_f1": "micro-F1", "samples_f1": "samples-F1",
                "subset_accuracy": "subset accuracy", "hamming_loss": "Hamming loss"}


def metric_lines(metrics: dict) -> list[str]:
    """The headline figures of `classification_metrics` (accuracy, macro-F1) or, for multi-label metrics, micro-,
    macro- and samples-F1, subset accuracy and Hamming loss: one ``name: value`` line each."""
    keys = MULTI_LABEL_KEYS if metrics.get("multi_label") else ("accuracy", "macro_f1")
    return [f"{METRIC_NAMES[key]}: {metrics[key]:.4f}" for key in keys]
