"""A predictor's answers as rows of JSON, one per text, as ``/predict`` returns them."""

from __future__ import annotations

import math
from typing import Any, Sequence

from train.classify.multilabel import choose, label_sets, top_labels

DECIMALS = 6  # scores are rounded like predict --output-format jsonl's


def prediction_rows(predictor: Any, texts: Sequence[str]) -> list[dict]:
    """One JSON-ready dict per text: ``label`` (the top one), ``score``, ``labels`` (the predicted set, highest first,
    ``[{"label", "score"}]``) and, for a probabilistic run, ``probabilities`` (``{label: p}``, in label order).

    A probabilistic run makes one model call (``predict_proba``): its labels are the argmax, or for a multi-label
    run the sets its thresholds choose, as ``predict_labels`` gives them; a LinearSVC run asks ``predict_labels``.
    """
    texts = list(texts)
    names = list(predictor.label_names)
    probs = predictor.predict_proba(texts) if predictor.probabilistic else None
    if probs is None:
        sets = predictor.predict_labels(texts)
    elif predictor.multi_label:
        sets = label_sets(choose(probs, predictor.thresholds), probs, names)
    else:
        sets = [[pair] for pair in top_labels(probs, names)]
    rows = []
    for i, (text, chosen) in enumerate(zip(texts, sets)):
        labels = [{"label": label, "score": _round(score)} for label, score in chosen]
        row: dict[str, Any] = {"text": text, "label": labels[0]["label"], "score": labels[0]["score"], "labels": labels}
        if probs is not None:
            row["probabilities"] = {name: _round(p) for name, p in zip(names, probs[i].tolist())}
        rows.append(row)
    return rows


def _round(value: float) -> float | None:
    """A score for JSON: rounded, and None where it is not a finite number (JSON has no NaN)."""
    value = float(value)
    return round(value, DECIMALS) if math.isfinite(value) else None
