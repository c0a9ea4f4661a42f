"""``--model tfidf``: the classic baseline, fitted through the same data, run directory and report as the RNNs.

What the run directory holds, and how it is loaded, is `train.classify.tfidf_model`'s; using a run is
`train.inference.tfidf_predictor`'s.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from data_processor.base.atomic import append_jsonl
from data_processor.io import Example
from data_processor.base.messages import Log, log_stderr
from models.tfidf import TfidfClassifier
from train.classify.data import LabelTargets, load_splits
from train.classify.multilabel import (
    MARGIN_GRID,
    PROBABILITY_GRID,
    save_thresholds,
    scored_metrics,
    tune_thresholds,
)
from train.classify.run_files import save_label_names, save_text_tools, shown_labels, write_report
from train.classify.settings import RUN_KIND, ClassifierConfig
from train.classify.tfidf_model import build_tfidf, model_scores, model_stopwords, save_tfidf
from train.common.rundir import RunDir, check_run_outputs


def fit_tfidf(config: ClassifierConfig, train: Sequence[Example], y_train: Sequence[int] | np.ndarray, log: Log = log_stderr) -> TfidfClassifier:
    """The TF-IDF model a config describes, fitted on labelled training examples."""
    model = build_tfidf(config, stopwords=model_stopwords(config))
    start = time.perf_counter()
    log(f"tfidf: {config.tfidf_features} 1-{config.tfidf_ngrams}-grams + {config.tfidf_classifier} (C={config.tfidf_c})"
        f"{' one-vs-rest per label' if config.multi_label else ''}, fitting on {len(y_train)} texts")
    model.fit([e.text for e in train], y_train)
    log(f"tfidf: {len(model.vectorizer.vocabulary_)} features, fitted in {time.perf_counter() - start:.1f}s")
    return model


def train_tfidf(config: ClassifierConfig, log: Log = log_stderr) -> dict:
    """Fit TF-IDF + a linear classifier as ``config`` says, write its run directory, and return the summary."""
    config.validate()
    check_run_outputs(config)
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
    shown = shown_labels(config, labels.itos)
    dev_metrics = scored_metrics(dev_scores, y_dev, shown, thresholds)
    monitor = "micro_f1" if config.multi_label else "accuracy"
    log(f"tfidf: dev {monitor.replace('_', '-')} {dev_metrics[monitor]:.4f}")

    run = RunDir.create(config.runs_dir, config.run_name, prefix=config.model)
    run.save_json("config.json", {"kind": RUN_KIND, **config.to_dict(), "run_name": run.path.name, "device_used": "cpu"})
    labels.save(run.file("labels.json"))
    save_label_names(run, config)
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
        test_metrics = scored_metrics(model_scores(model, [e.text for e in splits.test]), y_test, shown, thresholds)
    summary = write_report(run, summary, test_metrics, dev_metrics, log=log)
    run.mark_complete(summary)
    return summary

