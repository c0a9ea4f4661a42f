"""Reliability at the edges (issue 25): bounded options and a memory estimate before any work, full disks, thousands
of labels, diverging losses, and the smaller breaches a hostile pass found. Each case is one ``error:`` line and exit
status 2, or a run that completes and says what it skipped."""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data_processor.base.atomic import write_text
from data_processor.base.errors import ConfigError, DiskFullError, TrainingError
from data_processor.io import json_line, tsv_field
from tests.helpers import ROOT, assert_user_error, run_cli, write_csv
from train.common.loop import EXPLOSION, check_loss
from train.common.memory import TrainingFootprint, check_fits
from train.common.rundir import save_torch


def tiny_train(tmp_path: Path) -> list[str]:
    """Options that train a one-epoch LSTM of 4 units on 20 rows into ``tmp_path/runs``."""
    train = write_csv(tmp_path / "tiny.csv", [("好吃 又 便宜", "pos"), ("难吃 还 贵", "neg")] * 10)
    return ["--train", str(train), "--runs-dir", str(tmp_path / "runs"), "--tokenizer", "whitespace", "--epochs", "1",
            "--embed-dim", "4", "--hidden-size", "4", "--embedding", "random", "--no-progress", "--threads", "1", "--min-steps", "0"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("edges")
    result = run_cli(*tiny_train(tmp), "--run-name", "r")
    assert result.returncode == 0, result.stderr
    return tmp / "runs" / "r"


# ---------------------------------------------------------------- bounds and memory, before any work

@pytest.mark.parametrize("flag, value, fragment", [
    ("--batch-size", "99999999999999999999", "--batch-size must be <= 2147483647"),
    ("--epochs", "-99999999999999999999", "--epochs must be >= 1"),
    ("--seed", "99999999999999999999", "--seed must be <= 2147483647"),
    ("--hidden-size", "1000000000", "--hidden-size must be in [1, 1048576]"),
    ("--embed-dim", "1000000000", "--embed-dim must be in [1, 1048576]"),
])
def test_integer_options_are_bounded_before_any_work(tmp_path, flag, value, fragment):
    assert_user_error(run_cli(*tiny_train(tmp_path), flag, value), fragment)
    assert not (tmp_path / "runs").exists()


def test_a_model_too_big_for_memory_is_refused_before_reading_the_data(tmp_path):
    args = tiny_train(tmp_path)
    args[args.index("--train") + 1] = str(tmp_path / "absent.csv")  # the estimate comes first: the data is never read
    result = run_cli(*args, "--hidden-size", "200000")
    assert_user_error(result, "training this model needs at least", "GiB of memory", "parameters", "lower --hidden-size, --embed-dim")
    assert not (tmp_path / "runs").exists()


def test_pretraining_and_character_models_estimate_their_memory_too(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("好吃 又 便宜\n难吃 还 贵\n" * 50, encoding="utf-8")
    assert_user_error(run_cli("pretrain", "--corpus", str(corpus), "--runs-dir", str(tmp_path / "runs"), "--hidden-size", "200000",
                              "--no-progress"), "training this model needs at least", "lower --hidden-size")
    assert_user_error(run_cli("generate", "train", "--corpus", str(corpus), "--runs-dir", str(tmp_path / "runs"), "--hidden-size",
                              "300000", "--no-progress"), "training this model needs at least", "lower --hidden-size, --embed-dim or --num-layers")
    assert not (tmp_path / "runs").exists()


def test_the_estimate_names_the_batch_options_when_activations_dominate():
    footprint = TrainingFootprint(parameters=1000, optimizer="adam", rows=10_000, steps=10_000, embed_dim=128, hidden_size=256,
                                  num_layers=1, directions=2, cell="lstm")
    assert footprint.weight_bytes == 1000 * 5 * 4  # weights, gradients, best copy and Adam's two moments, float32
    assert footprint.activation_bytes > 100 * 2**30
    with pytest.raises(ConfigError, match=r"one batch of 10000 x 10000 tokens: .* but the machine has 1.0 GiB free; lower --batch-size"):
        check_fits(footprint, torch.device("cpu"), "--hidden-size", "--batch-size or --max-len", available=2**30)
    check_fits(footprint, torch.device("cpu"), "--hidden-size", "--batch-size", available=footprint.total_bytes)  # fits exactly


def test_a_batch_larger_than_the_data_is_one_batch_and_trains(tmp_path):
    result = run_cli(*tiny_train(tmp_path), "--batch-size", "2000000000", "--run-name", "big")
    assert result.returncode == 0, result.stderr
    assert "1 batch of 2000000000 rows" in result.stderr


# ---------------------------------------------------------------- run names, checked first and recorded as they are

def test_a_bad_run_name_is_refused_before_the_data_is_read(tmp_path):
    assert_user_error(run_cli("--train", str(tmp_path / "absent.csv"), "--run-name", "../x"), "--run-name '../x' must be a plain")


def test_an_interrupted_run_name_is_refused_before_the_data_is_read(tmp_path):
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "config.json").write_text("{}")
    args = tiny_train(tmp_path)
    args[args.index("--train") + 1] = str(tmp_path / "absent.csv")
    assert_user_error(run_cli(*args, "--run-name", "r"), "holds an interrupted run; continue it with --resume")


def test_an_auto_renamed_run_records_its_real_name(tmp_path, tiny_run):
    shutil.copytree(tiny_run, tmp_path / "runs" / "same")
    result = run_cli(*tiny_train(tmp_path), "--run-name", "same")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "runs" / "same-2" / "config.json").read_text())["run_name"] == "same-2"


# ---------------------------------------------------------------- divergence

def test_an_exploding_loss_stops_training_like_a_nan_one():
    check_loss({"loss": 90.0, "count": 1}, {}, 1.0, "epoch 2, batch 1", 1)  # under 100x: goes on
    with pytest.raises(TrainingError, match=rf"epoch 2, batch 3: the training loss became 4000 \(over {EXPLOSION}x the first "
                                            r"epoch's 0.5\); lower --lr, or clip gradients \(--clip\); the weights of the best epoch"):
        check_loss({"loss": 8000.0, "count": 2}, {}, 0.5, "epoch 2, batch 3", 1)
    with pytest.raises(TrainingError, match="became 500"):  # in the first epoch, against its steps so far
        check_loss({"loss": 500.0, "count": 1}, {"loss": 2.0, "count": 2}, None, "epoch 1, batch 3", 0)
    with pytest.raises(TrainingError, match="became nan"):
        check_loss({"loss": float("nan"), "count": 1}, {}, None, "epoch 1, batch 1", 0)


def test_a_huge_learning_rate_is_stopped_by_the_divergence_check(tmp_path):
    result = run_cli(*tiny_train(tmp_path), "--lr", "1e30", "--batch-size", "4", "--epochs", "3")
    assert_user_error(result, "the training loss became", f"over {EXPLOSION}x the first epoch's", "lower --lr")


# ---------------------------------------------------------------- full disks

@pytest.fixture
def file_size_limit():
    """Set this process's file-size limit (``ulimit -f``) for the test; Python ignores SIGXFSZ, so writes get EFBIG."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def limit(size: int) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))

    yield limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_full_disk_is_a_disk_full_error_naming_the_file_and_leaves_the_old_one(tmp_path, file_size_limit):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    file_size_limit(10_000)
    with pytest.raises(DiskFullError) as caught:
        write_text(target, "x" * 20_000)
    with pytest.raises(DiskFullError, match="model.pt: cannot write it"):
        save_torch({"w": torch.zeros(10_000)}, tmp_path / "model.pt")
    assert str(caught.value) == (f"{target}: cannot write it (File too large); nothing was half-written: free some space and "
                                 "run it again")
    assert isinstance(caught.value, OSError)  # caches that shrug off an unwritable entry still catch it
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def _limited(size: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


@pytest.mark.e2e
def test_a_disk_that_fills_while_checkpointing_says_how_to_resume_and_resuming_finishes(tmp_path):
    args = [*tiny_train(tmp_path), "--hidden-size", "200", "--run-name", "full"]
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            preexec_fn=_limited(100_000))  # the JSON files fit, the checkpoint does not
    run = tmp_path / "runs" / "full"
    assert_user_error(result, f"{run / 'last.pt'}: cannot write it", "nothing was half-written",
                      f"continue the run with: python run.py train --resume {run}")
    assert not any(p.name.endswith(".tmp") for p in run.iterdir()) and not (run / "last.pt").exists()
    resumed = run_cli("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "complete.json").is_file()


# ---------------------------------------------------------------- thousands of labels

@pytest.mark.e2e
def test_five_thousand_labels_train_to_completion_with_a_picture_of_the_most_confused(tmp_path):
    import random

    rng, labels = random.Random(0), 5000
    rows = [(f"w{k} w{k + 1} w{rng.randrange(4 * labels)}", f"label{k}") for k in range(labels) for _ in range(3)]
    train = write_csv(tmp_path / "train.csv", rows)
    dev = write_csv(tmp_path / "dev.csv", rows[::3])
    args = ["--train", str(train), "--runs-dir", str(tmp_path / "runs"), "--tokenizer", "whitespace", "--epochs", "1", "--embed-dim",
            "8", "--hidden-size", "8", "--embedding", "random", "--no-progress", "--threads", "1", "--min-steps", "0"]
    assert_user_error(run_cli(*args), "the dev split is empty", "no label has more than 3 rows", "pass --dev FILE, or a "
                      "--dev-ratio of at least 0.17")
    result = run_cli(*args, "--dev", str(dev), "--test", str(dev), "--run-name", "many")
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "many"
    assert "warning: confusion.png pictures the 30 most confused of the 5000 labels" in result.stderr
    assert (run / "complete.json").is_file() and (run / "confusion.png").stat().st_size < 2_000_000
    saved = json.loads((run / "test_metrics.json").read_text())
    assert "confusion" not in saved and sum(count for _, _, count in saved["confusion_cells"]) == labels
    assert "(the 30 most confused of 5000 labels)" in (run / "report.txt").read_text()


def test_a_picture_that_cannot_be_drawn_is_skipped_and_the_run_completes(tmp_path, monkeypatch):
    import train.common.plots as plots

    def no_memory(*_args, **_kwargs):
        raise MemoryError("std::bad_alloc")

    monkeypatch.setattr(plots, "plot_confusion", no_memory)
    monkeypatch.setattr(plots, "plot_curves", no_memory)
    result = run_cli(*tiny_train(tmp_path), "--run-name", "r")
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "r"
    notes = ["curves.png not drawn (MemoryError: std::bad_alloc)", "confusion.png not drawn (MemoryError: std::bad_alloc)"]
    assert all(f"warning: {note}" in result.stderr for note in notes)
    assert json.loads((run / "summary.json").read_text())["skipped"] == notes
    assert f"skipped: {notes[1]}" in (run / "report.txt").read_text() and (run / "complete.json").is_file()


# ---------------------------------------------------------------- files in and out

@pytest.mark.parametrize("make, fragment", [
    (lambda tmp: "/dev/null", "/dev/null: not a regular file (a device or a pipe)"),
    (lambda tmp: str(tmp), "is a directory; give a file"),
    (lambda tmp: str(tmp / "absent.txt"), "absent.txt: no such file"),
])
def test_predict_says_what_is_wrong_with_its_input_file(tiny_run, tmp_path, make, fragment):
    assert_user_error(run_cli("predict", "--run", str(tiny_run), "--file", make(tmp_path)), fragment)


def test_export_refuses_an_out_path_under_a_file_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # checked before the run is even opened
    assert_user_error(run_cli("export", "--run", str(tmp_path / "no-run"), "--out", str(blocker / "sub" / "m.onnx")),
                      f"--out {blocker / 'sub' / 'm.onnx'}: {blocker} is a file, not a directory")


def test_a_damaged_labels_file_is_named_not_the_weights(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    labels = json.loads((run / "labels.json").read_text())
    labels["itos"].append("extra")
    (run / "labels.json").write_text(json.dumps(labels))
    assert_user_error(run_cli("predict", "--run", str(run), "好吃"),
                      f"{run / 'labels.json'}: holds 3 labels but the model in model.pt was trained with 2")


def test_a_damaged_labels_file_of_a_tfidf_run_is_named_too(tmp_path):
    result = run_cli(*tiny_train(tmp_path), "--model", "tfidf", "--run-name", "t")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "runs" / "t" / "labels.json"
    labels = json.loads(path.read_text())
    labels["itos"] = labels["itos"][:1]
    path.write_text(json.dumps(labels))
    assert_user_error(run_cli("predict", "--run", str(path.parent), "好吃"),
                      f"{path}: holds 1 label but the model in tfidf.npz was trained with 2")


def test_output_escapes_what_would_break_or_reorder_a_line():
    text = "a\u202eb\u2028c\x85d\u2066e"
    assert tsv_field(text) == "a\\u202eb\\u2028c\\x85d\\u2066e"
    line = json_line({"text": text})
    assert line == '{"text": "a\\u202eb\\u2028c\\u0085d\\u2066e"}' and len(line.splitlines()) == 1
    assert json.loads(line)["text"] == text


def test_predict_jsonl_and_tsv_keep_one_line_per_text(tiny_run):
    text = "好吃\u2028又\x85便宜\u202e"
    for fmt in ("tsv", "jsonl"):
        result = run_cli("predict", "--run", str(tiny_run), "--output-format", fmt, text)
        assert result.returncode == 0 and len(result.stdout.splitlines()) == 1, result.stdout
        assert "\u202e" not in result.stdout and "\u2028" not in result.stdout


def test_evaluate_errors_file_escapes_as_jsonl(tiny_run, tmp_path):
    data = tmp_path / "eval.csv"
    with open(data, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"], ["好吃\u2028又便宜", "neg"], ["难吃", "pos"]])
    out = tmp_path / "errors.jsonl"
    result = run_cli("evaluate", "--run", str(tiny_run), str(data), "--errors", str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(line) for line in lines) and "\u2028" not in out.read_text(encoding="utf-8")


# ---------------------------------------------------------------- torchrun

def test_under_torchrun_each_distinct_error_is_printed_once(monkeypatch):
    import run

    monkeypatch.setenv("WORLD_SIZE", "2")
    message = f"the same refusal for every process {os.getpid()} {id(monkeypatch)}"
    assert run.first_to_report(message) is True
    assert run.first_to_report(message) is False  # another process of the same torchrun: already printed
    assert run.first_to_report(message + ", and another") is True


@pytest.mark.parametrize("under_file", [False, True])
def test_a_tensorboard_folder_that_is_a_file_is_refused_before_any_work(tmp_path, under_file):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    folder = blocker / "board" if under_file else blocker
    args = tiny_train(tmp_path)
    args[args.index("--train") + 1] = str(tmp_path / "absent.csv")  # never read
    assert_user_error(run_cli(*args, "--tensorboard", str(folder)), f"--tensorboard {folder} is", "not a directory")
    assert not (tmp_path / "runs").exists()


def test_label_names_that_name_a_directory_say_so(tmp_path):
    assert_user_error(run_cli(*tiny_train(tmp_path), "--label-names", str(tmp_path)), f"--label-names {tmp_path}: is a directory")


@pytest.mark.e2e
def test_a_disk_too_full_for_the_tokens_is_one_error_naming_where_they_go(tmp_path):
    import random

    rng = random.Random(0)
    train = write_csv(tmp_path / "big.csv", [(" ".join(f"w{rng.randrange(100_000)}" for _ in range(30)), rng.choice("ab"))
                                             for _ in range(3000)])  # 90,000 tokens: their ids outgrow the limit
    args = ["--train", str(train), "--runs-dir", str(tmp_path / "runs"), "--tokenizer", "whitespace", "--epochs", "1", "--embedding",
            "random", "--no-progress", "--threads", "1", "--token-cache", str(tmp_path / "cache")]
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            preexec_fn=_limited(100_000))
    assert_user_error(result, "cannot write it (File too large); nothing was half-written", "--token-cache",
                      f"the cache {tmp_path / 'cache'} being full too", "free some space")
