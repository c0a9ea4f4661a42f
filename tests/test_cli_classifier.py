"""End-to-end: run.py as a user runs it, on a sample of reviews-zh and on bad inputs."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers import assert_user_error, fast_flags, run_cli, train_on_sample, write_csv

FAST = fast_flags(epochs=3, embed_dim=32, hidden_size=32, min_steps=300, embedding=None, vectors_corpus="none")  # word2vec on the training texts


@pytest.fixture(scope="module")
def trained(sample):
    return train_on_sample(sample, "lstm", "e2e", *FAST)


@pytest.mark.e2e
def test_training_beats_the_majority_class_and_reports(trained):
    result, run = trained
    out = result.stdout
    dev_line = next(line for line in out.splitlines() if line.startswith("best dev accuracy:"))
    test_line = next(line for line in out.splitlines() if line.startswith("test accuracy:"))
    assert "(epoch" in dev_line and f"run saved to: {run}" in out
    test_acc = float(test_line.split()[2])
    assert test_acc > 0.5 + 0.1, f"balanced data: majority is 0.5, got {test_acc}"
    assert "epoch 1/6" in result.stderr  # progress/epoch log goes to stderr, not stdout (3 epochs, 6 to make --min-steps 300)
    assert "epoch 1/3" not in out


@pytest.mark.e2e
def test_run_directory_is_complete_and_loads_safely(trained):
    _, run = trained
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["kind"] == "classifier" and config["model"] == "lstm" and config["seed"] == 1
    assert json.loads((run / "labels.json").read_text(encoding="utf-8"))["itos"] == ["negative", "positive"]
    assert "<pad>" in json.loads((run / "vocab.json").read_text(encoding="utf-8"))["itos"]
    state = torch.load(run / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5, 6] and all("dev_accuracy" in e and "train_loss" in e for e in epochs)
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (run / "report.txt").read_text(encoding="utf-8")
    assert "test accuracy" in report and "negative" in report and "true \\ pred" in report
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.e2e
def test_predict_from_the_run_directory_alone(trained, tmp_path):
    _, run = trained
    moved = tmp_path / "moved-run"
    shutil.copytree(run, moved)
    result = run_cli("predict", "--run", str(moved), "这本书写得太好了，强烈推荐，非常喜欢", "质量太差，很失望，退货")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        label, prob, _ = line.split("\t")
        assert label in ("negative", "positive") and 0.5 <= float(prob) <= 1.0
    texts = tmp_path / "texts.txt"
    texts.write_text("很好\n很差\n", encoding="utf-8")
    from_file = run_cli("predict", "--run", str(moved), "--file", str(texts))
    assert from_file.returncode == 0 and len(from_file.stdout.strip().splitlines()) == 2


@pytest.mark.e2e
def test_evaluate_matches_training_report(trained, sample):
    result, run = trained
    evaluated = run_cli("evaluate", "--run", str(run), str(sample["test"]))
    assert evaluated.returncode == 0, evaluated.stderr
    acc = next(line for line in evaluated.stdout.splitlines() if line.startswith("accuracy:")).split()[1]
    trained_acc = next(line for line in result.stdout.splitlines() if line.startswith("test accuracy:")).split()[2]
    assert acc == trained_acc


def tiny(tmp_path, *extra):
    rows = [("好吃又便宜", "pos"), ("难吃还贵", "neg")] * 10
    train = write_csv(tmp_path / "tiny.csv", rows)
    return ["--train", str(train), "--runs-dir", str(tmp_path / "runs"), "--epochs", "1", "--embed-dim", "4", "--hidden-size", "4", "--no-progress", "--threads", "1",
            "--vectors-corpus", "none", "--min-steps", "0", *extra]


@pytest.mark.e2e
def test_same_seed_same_numbers(tmp_path):
    a = run_cli(*tiny(tmp_path, "--run-name", "a", "--epochs", "2"))
    b = run_cli(*tiny(tmp_path, "--run-name", "b", "--epochs", "2"))
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    strip = lambda run: [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "train_seconds", "elapsed")}
                         for line in (tmp_path / "runs" / run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert strip("a") == strip("b")


def test_text_empty_after_stopwords_does_not_crash(tmp_path):
    stop = tmp_path / "stop.txt"
    stop.write_text("的\n了\n", encoding="utf-8")
    train = write_csv(tmp_path / "t.csv", [("的了", "pos"), ("好吃", "pos"), ("难吃", "neg"), ("的", "neg")] * 5)
    result = run_cli("--train", str(train), "--stopwords", str(stop), "--runs-dir", str(tmp_path / "runs"), "--epochs", "1",
                     "--embed-dim", "4", "--hidden-size", "4", "--no-progress", "--threads", "1", "--tokenizer", "char",
                     "--vectors-corpus", "none", "--min-steps", "0")
    assert result.returncode == 0, result.stderr


def test_skip_bad_rows_reports_how_many(tmp_path):
    args = tiny(tmp_path)
    bad = Path(args[1])
    bad.write_text(bad.read_text(encoding="utf-8") + ",pos\n只有文字,\n", encoding="utf-8")
    failed = run_cli(*args)
    assert_user_error(failed, "tiny.csv:22: the row has no text", "--skip-bad-rows")
    assert not (tmp_path / "runs").exists(), "a failed run must not leave a run directory"
    ok = run_cli(*args, "--skip-bad-rows")
    assert ok.returncode == 0, ok.stderr
    assert "skipped 2 bad rows" in ok.stderr


def test_missing_and_empty_files(tmp_path):
    assert_user_error(run_cli("--train", str(tmp_path / "nope.csv")), "nope.csv: no such file")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert_user_error(run_cli("--train", str(tmp_path / "empty.csv")), "empty.csv: the file is empty")


def test_dev_label_never_seen_in_training(tmp_path):
    dev = write_csv(tmp_path / "dev.csv", [("还行", "pos"), ("一般般", "neutral")])
    assert_user_error(run_cli(*tiny(tmp_path), "--dev", str(dev)), "dev.csv:3: label 'neutral' does not occur in the training data")


def test_undecodable_bytes(tmp_path):
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("text,label\n好吃,pos\n难吃,neg\n".encode("gbk"))
    assert_user_error(run_cli("--train", str(gbk)), "gbk.csv:2: bytes that are not valid utf-8", "--encoding gb18030")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--model", "transformer"], "invalid choice: 'transformer'"),
        (["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["--stopwords", "klingon", "--dry-run"], "unknown stopword list 'klingon'"),
        (["--epochs", "0", "--dry-run"], "--epochs must be >= 1"),
        (["--dev", "x.csv", "--dry-run"], "--dev and --test need --train"),
    ],
)
def test_bad_options(args, fragment):
    assert_user_error(run_cli(*args), fragment)


@pytest.mark.e2e
def test_predict_with_an_incomplete_run(trained, tmp_path):
    _, run = trained
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "model.pt").unlink()
    assert_user_error(run_cli("predict", "--run", str(broken), "好"), "model.pt: missing from the run directory")
    assert_user_error(run_cli("predict", "--run", str(tmp_path / "nothing"), "好"), "no such run directory")
    (broken / "config.json").write_text(json.dumps({"kind": "char-lm"}), encoding="utf-8")
    assert_user_error(run_cli("predict", "--run", str(broken), "好"), "is a 'char-lm' run, not a 'classifier' run")


def test_dry_run_prints_the_resolved_config():
    result = run_cli("--model", "gru", "--optimizer", "adamw", "--lr", "0.002", "--dry-run")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert (config["model"], config["optimizer"], config["lr"], config["dataset"]) == ("gru", "adamw", 0.002, "reviews-zh")


def test_dry_run_shows_the_plan_for_the_actual_data(tmp_path):
    rows = [("好吃又便宜", "pos"), ("难吃还贵", "neg")] * 50  # 100 rows
    train, dev = write_csv(tmp_path / "train.csv", rows), write_csv(tmp_path / "dev.csv", rows[:10])
    data = ["--train", str(train), "--dev", str(dev), "--batch-size", "16", "--dry-run"]
    plan = json.loads(run_cli(*data).stdout)["plan"]
    # no --epochs: a small set trains for more epochs, enough to make the default --min-steps 800
    assert (plan["train_rows"], plan["batches_per_epoch"], plan["epochs"], plan["steps"]) == (100, 7, 115, 805)
    plan = json.loads(run_cli(*data, "--epochs", "1").stdout)["plan"]
    assert (plan["epochs"], plan["steps"], plan["min_steps"]) == (1, 7, 0)  # an explicit --epochs is what runs
    assert "plan" not in json.loads(run_cli(*data, "--model", "tfidf").stdout)  # no epochs to plan


def test_the_plan_line_comes_before_the_word_vectors_are_trained(tmp_path):
    result = run_cli(*tiny(tmp_path, "--run-name", "w", "--embedding", "word2vec", "--embedding-epochs", "1"))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    plan = next(i for i, line in enumerate(lines) if line.startswith("plan: up to 1 epoch of 1 batch of 64 rows (1 step)"))
    assert plan < next(i for i, line in enumerate(lines) if line.startswith("embedding: training word2vec"))


def test_help_explains_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0 and "train" in result.stdout and "predict" in result.stdout
    train_help = run_cli("train", "--help").stdout
    for option in ("--model", "--optimizer", "--stopwords", "--patience", "--seed", "--device", "--text-col"):
        assert option in train_help


def test_planned_epochs_grow_for_small_training_sets():
    from train.classify.fit import planned_epochs

    assert planned_epochs(batches_per_pass=200, epochs=4, min_steps=800) == 4  # enough steps already
    assert planned_epochs(batches_per_pass=16, epochs=4, min_steps=800) == 50
    assert planned_epochs(batches_per_pass=16, epochs=4, min_steps=0) == 4


def test_min_steps_trains_a_small_set_for_more_epochs(tmp_path):
    result = run_cli(*tiny(tmp_path, "--run-name", "m", "--min-steps", "6", "--patience", "0"))  # 20 rows: one batch a pass
    assert result.returncode == 0, result.stderr
    assert "plan: up to 6 epochs of 1 batch of 64 rows (6 steps)" in result.stderr
    assert "6 epochs rather than 1, to make --min-steps 6 steps" in result.stderr
    assert len((tmp_path / "runs" / "m" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 6


def test_a_run_saved_before_an_option_existed_keeps_its_old_behaviour(tmp_path):
    from train.classify.settings import ClassifierConfig

    old = ClassifierConfig.from_dict({"model": "lstm"}, "old config.json", saved=True)
    assert (old.min_steps, old.word_dropout, old.word_chars) == (0, 0.0, False)
    assert (old.adversarial, old.distill, old.label_smoothing) == (0.0, "none", 0.0)  # a resumed old run trains as it did
    assert ClassifierConfig.from_dict({"model": "lstm", "word_chars": True}, "new config.json", saved=True).word_chars
    options = ClassifierConfig.from_dict({"model": "lstm"}, "options")  # not a saved run: today's defaults
    assert (options.min_steps, options.word_chars) == (ClassifierConfig.min_steps, ClassifierConfig.word_chars) == (800, True)
    assert options.adversarial == ClassifierConfig.adversarial == 1.0
