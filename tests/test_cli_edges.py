"""The command line's rough edges, each held down: a closed pipe, --version, "did you mean", one --device default,
--threads wherever a model runs, --time-budget, --test-ratio, evaluate --errors, each command's own options."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT, assert_user_error, fast_flags, run_cli, train_on_sample, write_csv


@pytest.mark.e2e
def test_predict_into_a_pipe_closed_early_ends_quietly(lstm_run, tmp_path):
    texts = tmp_path / "many.txt"
    texts.write_text("这家店的菜很好吃，下次还来\n" * 20000, encoding="utf-8")  # far more output than a pipe holds
    process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "predict", "--run", str(lstm_run), "--file", str(texts)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()  # as `head -1` does: read a line, then go away
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, stderr
    assert first.decode().startswith(("positive\t", "negative\t"))
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr and "Exception ignored" not in stderr, stderr


def test_version_names_the_toolkit_python_and_torch():
    from data_processor.base.version import VERSION

    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"run.py {VERSION} (Python {sys.version.split()[0]}, torch ")


@pytest.mark.parametrize("args, fragment", [
    (["--epohcs", "3", "--dry-run"], "unrecognized arguments: --epohcs 3; did you mean --epochs?"),
    (["--model", "lsmt", "--dry-run"], "invalid choice: 'lsmt'"),
    (["predict", "--rnu", "x", "好"], "did you mean --run?"),
    (["generate", "trian"], "did you mean train?"),
])
def test_a_mistyped_option_or_choice_gets_a_suggestion(args, fragment):
    result = run_cli(*args)
    assert_user_error(result, fragment)
    if "lsmt" in fragment:
        assert "did you mean lstm?" in result.stderr


def test_a_mistyped_command_gets_a_suggestion_and_an_unknown_one_the_list():
    assert_user_error(run_cli("predcit", "--run", "x"), "unknown command 'predcit'; did you mean predict?")
    assert_user_error(run_cli("zzz"), "unknown command 'zzz'; the commands are train, pretrain, predict")


def test_every_command_that_runs_a_model_has_the_same_device_default_and_threads():
    for command in (["train"], ["predict"], ["evaluate"], ["serve"], ["generate", "sample"], ["generate", "eval"]):
        shown = " ".join(run_cli(*command, "--help").stdout.split())
        assert "--device {auto,cpu,cuda}" in shown and "(default: auto)" in shown, command
        assert "--threads THREADS" in shown, command


def test_predict_and_export_help_leave_out_the_label_column():
    for command in ("predict", "export"):
        shown = run_cli(command, "--help").stdout
        assert "--text-col" in shown and "--label-col" not in shown, command


def test_vectors_options_are_named_as_in_train_and_the_old_names_still_work(tmp_path):
    shown = run_cli("vectors", "--help").stdout
    for flag in ("--embedding-window", "--embedding-epochs", "--embedding-min-count"):
        assert flag in shown
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("好 吃 又 便宜\n难 吃 还 贵\n" * 20, encoding="utf-8")
    for name, window in (("new", ["--embedding-window", "2"]), ("old", ["--window", "2"])):
        out = tmp_path / f"{name}.txt"
        result = run_cli("vectors", "--corpus", str(corpus), "--out", str(out), "--tokenizer", "whitespace", "--embed-dim", "4",
                         *window, "--no-progress")
        assert result.returncode == 0, result.stderr
        assert "window 2" in result.stderr
    assert (tmp_path / "new.txt").read_bytes() == (tmp_path / "old.txt").read_bytes()


@pytest.mark.e2e
def test_time_budget_stops_the_classifier_and_says_so(sample):
    result, run = train_on_sample(sample, "lstm", "budget", *fast_flags(epochs=5, time_budget="0.00001"))
    assert "stopped by --time-budget" in result.stdout
    assert "time budget of" in result.stderr
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 1 and records[0]["partial"]


def test_test_ratio_holds_out_a_stratified_test_set(tmp_path):
    rows = [(f"好吃 {i}", "pos") for i in range(60)] + [(f"难吃 {i}", "neg") for i in range(40)]
    train = write_csv(tmp_path / "train.csv", rows)
    result = run_cli("--model", "tfidf", "--train", str(train), "--test-ratio", "0.2", "--runs-dir", str(tmp_path / "runs"),
                     "--run-name", "t")
    assert result.returncode == 0, result.stderr
    assert "test accuracy:" in result.stdout
    confusion = json.loads((tmp_path / "runs" / "t" / "test_metrics.json").read_text(encoding="utf-8"))["confusion"]
    assert sum(map(sum, confusion)) == 20  # 12 pos + 8 neg: a fifth of each label
    assert_user_error(run_cli("--test-ratio", "0.2", "--dry-run"), "--test-ratio holds out a test set from --train")
    assert_user_error(run_cli("--train", str(train), "--test", str(train), "--test-ratio", "0.2", "--dry-run"), "goes without --test")
    assert_user_error(run_cli("--train", str(train), "--dev-ratio", "0.5", "--test-ratio", "0.5", "--dry-run"), "leave no training rows")


def test_held_out_splits_are_the_same_rows_for_every_model(tmp_path):
    from train.classify.data import load_splits, read_splits
    from train.classify.settings import ClassifierConfig

    rows = [(f"好吃 {i}", "pos") for i in range(30)] + [(f"难吃 {i}", "neg") for i in range(30)]
    config = ClassifierConfig(train=str(write_csv(tmp_path / "t.csv", rows)), test_ratio=0.2)
    whole, _ = load_splits(config)  # the TF-IDF model's reader
    compact = read_splits(config)  # the RNN's
    for name in ("train", "dev", "test"):
        lines = [e.line for e in getattr(whole, name)]
        assert lines == compact.__dict__[name].data.lines[compact.__dict__[name].rows].tolist(), name
    assert (len(whole.train), len(whole.dev), len(whole.test)) == (42, 6, 12)


@pytest.mark.e2e
def test_evaluate_writes_the_misclassified_rows(lstm_run, sample, tmp_path):
    errors = tmp_path / "errors.csv"
    result = run_cli("evaluate", "--run", str(lstm_run), str(sample["test"]), "--errors", str(errors))
    assert result.returncode == 0, result.stderr
    with open(errors, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    accuracy = float(next(line for line in result.stdout.splitlines() if line.startswith("accuracy")).split()[1])
    assert len(rows) == round((1 - accuracy) * 300) and f"({len(rows)} misclassified rows)" in result.stdout
    with open(sample["test"], encoding="utf-8", newline="") as handle:
        gold = {number: row for number, row in enumerate(csv.DictReader(handle), start=2)}
    for row in rows:
        assert row["gold"] != row["predicted"] and gold[int(row["line"])] == {"text": row["text"], "label": row["gold"]}
        assert 0.0 <= float(row["score"]) <= 1.0
    assert_user_error(run_cli("evaluate", "--run", str(lstm_run), str(sample["test"]), "--errors", str(tmp_path / "no" / "e.csv")),
                      "--errors", "does not exist")
    assert_user_error(run_cli("evaluate", "--run", str(lstm_run), str(sample["test"]), "--errors", str(tmp_path / "e.xlsx")),
                      "cannot tell the format")
