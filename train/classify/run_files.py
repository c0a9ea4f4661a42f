"""What a classifier run directory holds beside its weights: the report, the stopwords and the jieba dictionary used."""

from __future__ import annotations

import shutil
from typing import Sequence

from data_processor.base.atomic import write_text
from data_processor.base.errors import DataError
from data_processor.base.messages import Log, log_stderr
from data_processor.label_names import parse_label_names, shown_names
from data_processor.tokenizers import Tokenizer, tokenizer_for
from train.classify.settings import ClassifierConfig
from train.common.metrics import (
    METRIC_NAMES,
    MOST_SHOWN,
    MULTI_LABEL_KEYS,
    format_confusion,
    metric_lines,
)
from train.common.rundir import RunDir


def write_report(run: RunDir, summary: dict, test_metrics: dict | None, dev_metrics: dict | None = None,
                 skipped: Sequence[str] = (), log: Log = log_stderr) -> dict:
    """Write ``confusion.png``, ``report.txt``, ``test_metrics.json`` (when there is a test set) and ``summary.json``;
    return the summary.

    ``summary`` holds the run, the best epoch and dev accuracy (micro-F1 for a
    multi-label run) and the epochs run; the test figures are added to it
    (accuracy and macro-F1, or the multi-label metrics). ``confusion.png`` pictures the
    test metrics' confusion matrix, else ``dev_metrics``' one; with neither, there is no picture.
    A picture that cannot be drawn is skipped with a warning; ``skipped`` (notes of other skipped steps) and it are
    listed in the report and under the summary's ``"skipped"``.
    """
    skipped = list(skipped)
    metrics, split = (test_metrics, "test") if test_metrics is not None else (dev_metrics, "dev")
    if metrics is not None:
        from train.common.plots import draw_or_skip, plot_confusion  # matplotlib is slow to import: predict never draws

        if len(metrics["labels"]) > MOST_SHOWN:
            log(f"warning: confusion.png pictures the {MOST_SHOWN} most confused of the {len(metrics['labels'])} labels (a picture "
                "of them all could not be read); the per-label scores in report.txt cover them all")

        note = draw_or_skip("confusion.png", lambda: plot_confusion(metrics["confusion"], metrics["labels"], run.file("confusion.png"),
                                                                   confusion_title(split, metrics), metrics.get("support")), log)
        skipped = list(dict.fromkeys(skipped + [note])) if note else skipped  # once, though a hybrid run draws it twice
    monitor = "micro_f1" if summary.get("multi_label") else "accuracy"
    best = summary[f"best_dev_{monitor}"]
    report = [f"run: {run.path}", f"best dev {METRIC_NAMES[monitor]}: {best:.4f} (epoch {summary['best_epoch']} of {summary['epochs_run']})"]
    if summary.get("multi_label"):
        report.append(f"decision thresholds ({summary['threshold']}, chosen on dev, thresholds.json): dev micro-F1 {summary['dev_micro_f1']:.4f}")
    report += [f"skipped: {note}" for note in skipped]
    if test_metrics is not None:
        keys = MULTI_LABEL_KEYS if test_metrics.get("multi_label") else ("accuracy", "macro_f1")
        summary = {**summary, **{f"test_{key}": test_metrics[key] for key in keys}}
        report += ["test " + "  ".join(metric_lines(test_metrics)), "", test_metrics["report"],
                   format_confusion(test_metrics["confusion"], test_metrics["labels"])]
        run.save_json("test_metrics.json", saved_metrics(test_metrics))
    write_text(run.file("report.txt"), "\n".join(report) + "\n")
    summary = {**summary, "skipped": skipped} if skipped else summary
    run.save_json("summary.json", summary)
    return summary


DENSE_CONFUSION = 100  # test_metrics.json keeps the confusion matrix of up to this many labels whole, of more its nonzero cells


def saved_metrics(metrics: dict) -> dict:
    """The metrics as ``test_metrics.json`` holds them: without the text report, and of more than `DENSE_CONFUSION`
    labels with ``"confusion_cells"`` (``[true, predicted, count]`` of each nonzero cell) for the confusion matrix,
    which would take most of the file (25 million numbers for 5,000 labels)."""
    saved = {k: v for k, v in metrics.items() if k != "report"}
    confusion = saved.get("confusion")
    if confusion is not None and len(confusion) > DENSE_CONFUSION:
        del saved["confusion"]
        import numpy as np

        matrix = np.asarray(confusion, dtype=np.int64)
        true, predicted = np.nonzero(matrix)
        saved["confusion_cells"] = np.stack([true, predicted, matrix[true, predicted]], axis=1).tolist()
    return saved


def confusion_title(split: str, metrics: dict) -> str:
    """The title of a confusion picture of ``split`` (test, dev, a file name): a label co-occurrence matrix for multi-label metrics."""
    if metrics.get("multi_label"):
        return (f"{split}: share of each true label's texts given each label\n(rows: true label, columns: predicted; "
                "the diagonal is each label's recall)")
    return f"{split}: normalised confusion (rows: true label)"


def save_text_tools(run: RunDir, config: ClassifierConfig, stopwords: frozenset[str]) -> None:
    """Copy what tokenizing needs into the run directory: ``stopwords.txt`` and the jieba ``user_dict.txt``, when used."""
    if stopwords:
        write_text(run.file("stopwords.txt"), "".join(w + "\n" for w in sorted(stopwords)))
    if config.user_dict:
        shutil.copyfile(config.user_dict, run.file("user_dict.txt"))


def load_text_tools(run: RunDir, config: ClassifierConfig) -> tuple[Tokenizer, frozenset[str]]:
    """The tokenizer and stopwords of a saved run, from the files `save_text_tools` wrote."""
    stopwords_file = run.file("stopwords.txt")
    stopwords = frozenset(stopwords_file.read_text(encoding="utf-8").split()) if stopwords_file.is_file() else frozenset()
    user_dict = run.file("user_dict.txt")
    if config.user_dict and not user_dict.is_file():
        raise DataError(f"{user_dict}: missing, but the run was trained with --user-dict {config.user_dict}; train it again")
    return tokenizer_for(config, user_dict=user_dict if config.user_dict else None), stopwords


LABEL_NAMES_FILE = "label_names.json"  # raw label -> display name, from --label-names


def shown_labels(config: ClassifierConfig, labels: list[str]) -> list[str]:
    """``labels`` as a run shows them: the --label-names of ``config`` applied (checked against ``labels``)."""
    return shown_names(list(labels), parse_label_names(config.label_names)) if config.label_names else list(labels)


def save_label_names(run: RunDir, config: ClassifierConfig) -> None:
    """Keep the --label-names mapping in the run (``label_names.json``), when there is one."""
    if config.label_names:
        run.save_json(LABEL_NAMES_FILE, parse_label_names(config.label_names))


def load_shown_labels(run: RunDir, labels: list[str]) -> list[str]:
    """``labels`` as the saved ``run`` shows them (its ``label_names.json``, if any); a `DataError` naming a damaged file."""
    path = run.file(LABEL_NAMES_FILE)
    if not path.is_file():
        return list(labels)
    names = run.load_json(LABEL_NAMES_FILE)
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise DataError(f"{path}: expected a JSON object of raw label -> display name")
    try:
        return shown_names(list(labels), names)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
