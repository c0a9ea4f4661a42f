"""What ``/info`` says about the served run, read from its directory (whatever of it there is)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from train.common.rundir import COMPLETE, RunDir


def run_info(predictor: Any, run_dir: str | Path) -> dict:
    """What ``/info`` says about a run: model, labels, scores, training date, completeness and test metrics."""
    path = Path(run_dir)
    config = getattr(predictor, "config", None)
    model = getattr(config, "model", None) or _json(path / "config.json").get("model")
    complete = _json(path / COMPLETE)
    return {
        "run": path.resolve().name,
        "model": model,
        "labels": list(predictor.label_names),
        "multi_label": bool(predictor.multi_label),
        "probabilistic": bool(predictor.probabilistic),
        "score": "probability" if predictor.probabilistic else "margin",
        "complete": RunDir(path).complete(),
        "trained_at": complete.get("finished") if isinstance(complete.get("finished"), str) else _trained_at(path),
        "test_metrics": run_test_metrics(path),
    }


def _json(path: Path) -> dict:
    """A JSON object file's content; {} when it is absent or not a JSON object (``/info`` shows what there is)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _trained_at(path: Path) -> str | None:
    """When the run last wrote its results (a run without ``complete.json``): the newest of its summary and weights."""
    times = [p.stat().st_mtime for name in ("summary.json", "model.pt", "tfidf.npz", "config.json") if (p := path / name).is_file()]
    if not times:
        return None
    return datetime.datetime.fromtimestamp(max(times), datetime.timezone.utc).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")


def run_test_metrics(path: Path) -> dict | None:
    """The run's test metrics: ``test_metrics.json`` without its long text report, else ``summary.json``'s ``test_*``
    figures, else None (a run trained without a test split, or not finished)."""
    metrics = _json(path / "test_metrics.json")
    if metrics:
        return {k: v for k, v in metrics.items() if k != "report"}
    summary = _json(path / "summary.json")
    found = {k.removeprefix("test_"): v for k, v in summary.items() if k.startswith("test_")}
    return found or None
