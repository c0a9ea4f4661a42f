"""What a classifier run directory holds beside its weights: the report, the stopwords and the jieba dictionary used."""

from __future__ import annotations

import shutil

from data_processor.atomic import write_text
from data_processor.tokenizers import Tokenizer, get_tokenizer
from train.classify.settings import ClassifierConfig
from train.common.metrics import format_confusion
from train.common.rundir import RunDir


def write_report(run: RunDir, summary: dict, test_metrics: dict | None) -> dict:
    """Write ``report.txt``, ``test_metrics.json`` (when there is a test set) and ``summary.json``; return the summary.

    ``summary`` holds the run, the best epoch and dev accuracy and the epochs run;
    the test accuracy and macro-F1 are added to it.
    """
    report = [f"run: {run.path}", f"best dev accuracy: {summary['best_dev_accuracy']:.4f} (epoch {summary['best_epoch']} of {summary['epochs_run']})"]
    if test_metrics is not None:
        summary = {**summary, "test_accuracy": test_metrics["accuracy"], "test_macro_f1": test_metrics["macro_f1"]}
        report += [f"test accuracy: {test_metrics['accuracy']:.4f}  macro-F1: {test_metrics['macro_f1']:.4f}", "", test_metrics["report"],
                   format_confusion(test_metrics["confusion"], test_metrics["labels"])]
        run.save_json("test_metrics.json", {k: v for k, v in test_metrics.items() if k != "report"})
    write_text(run.file("report.txt"), "\n".join(report) + "\n")
    run.save_json("summary.json", summary)
    return summary


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
    return get_tokenizer(config.tokenizer, user_dict=str(user_dict) if user_dict.is_file() else None, hmm=config.hmm), stopwords
