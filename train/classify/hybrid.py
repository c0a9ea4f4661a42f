"""``--model lstm+tfidf`` (and gru+, rnn+): the recurrent classifier and the TF-IDF model, fused late.

Both are trained on the same data as they would be alone. Their scores are
combined as ``log p_rnn + weight * tfidf_scores`` (a product of experts: the
softmax of the sum is the fused probability), with ``weight`` the value of
`WEIGHTS` that scores best on the dev set (ties go to the smaller weight;
``0`` is the recurrent model alone). The run directory holds the RNN's files,
the TF-IDF model's files and ``fusion.json``; it loads without pickle.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from data_processor.base.messages import Log, log_stderr
from train.classify.data import encode_labels, load_splits
from train.inference.hybrid_predictor import FUSION_FILE, HybridPredictor, fuse
from train.inference.rnn_predictor import Predictor
from train.classify.rnn import fit_classifier_run
from train.classify.run_files import write_report
from train.classify.settings import ClassifierConfig
from train.classify.tfidf import fit_tfidf
from train.classify.tfidf_model import save_tfidf
from train.common.rundir import RunDir

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)  # candidate weights of the TF-IDF scores


def choose_weight(log_probs: np.ndarray, tfidf_scores: np.ndarray, labels: Sequence[int]) -> tuple[float, float]:
    """The weight of `WEIGHTS` whose fusion is most accurate on ``labels`` (the smallest among ties), and that accuracy."""
    y = np.asarray(labels)
    accuracy = {w: float((fuse(log_probs, tfidf_scores, w).argmax(1) == y).mean()) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (accuracy[w], -w))
    return best, accuracy[best]


def train_hybrid(config: ClassifierConfig, log: Log = log_stderr, run: RunDir | None = None) -> dict:
    """Train the recurrent model and the TF-IDF model of ``config`` into one run directory (or go on with the interrupted
    ``run``), weigh them on dev, report test."""
    run, summary = fit_classifier_run(config, log, run)
    splits, names = load_splits(config, lambda _: None)
    rnn = Predictor(run.path)
    labels = rnn.pipeline.labels
    tfidf = fit_tfidf(config, splits.train, encode_labels(labels, splits.train, names["train"]), log)
    save_tfidf(run, tfidf)
    dev_texts = [e.text for e in splits.dev]
    weight, dev_accuracy = choose_weight(np.log(rnn.predict_proba(dev_texts) + 1e-12), tfidf.decision_function(dev_texts),
                                         encode_labels(labels, splits.dev, names["dev"]))
    log(f"fusion: TF-IDF weight {weight:g} (chosen on dev among {', '.join(map(str, WEIGHTS))}): dev accuracy "
        f"{summary['best_dev_accuracy']:.4f} ({config.cell} alone) -> {dev_accuracy:.4f}")
    run.save_json(FUSION_FILE, {"tfidf_weight": weight})
    fused = HybridPredictor(run.path)
    dev_metrics = fused.evaluate(splits.dev, names["dev"])
    test_metrics = fused.evaluate(splits.test, names["test"]) if splits.test else None
    result = {"run": summary["run"], "best_epoch": summary["best_epoch"], "best_dev_accuracy": dev_accuracy, "epochs_run": summary["epochs_run"],
              "tfidf_weight": weight, "rnn_dev_accuracy": summary["best_dev_accuracy"],
              **{f"rnn_{k}": summary[k] for k in ("test_accuracy", "test_macro_f1") if k in summary}}
    result = write_report(run, result, test_metrics, dev_metrics, summary.get("skipped", ()), log)
    run.mark_complete(result)
    return result
