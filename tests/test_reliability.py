"""Faults and hostile input found by a new-user pass: each reproduced here, each a one-line error or a safe outcome."""

from __future__ import annotations

import json
import math
import pickle
import threading
from pathlib import Path

import pytest
import torch

from data_processor.base.errors import ConfigError, DataError, TrainingError
from data_processor.vocab import Vocab
from models.classifier import RNNClassifier
from tests.helpers import assert_user_error, run_cli, write_csv
from train.classify.text_pipeline import CHARS_PER_TOKEN, TextPipeline
from train.common.loop import run_epochs
from train.common.rundir import RunDir


class _RunsCode:
    """A pickle that creates ``marker`` when it is unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def tiny_args(tmp_path: Path, *extra: str) -> list[str]:
    train = write_csv(tmp_path / "tiny.csv", [("好吃 又 便宜", "pos"), ("难吃 还 贵", "neg")] * 10)
    return ["--train", str(train), "--runs-dir", str(tmp_path / "runs"), "--tokenizer", "whitespace", "--epochs", "1", "--embed-dim", "4",
            "--hidden-size", "4", "--embedding", "random", "--no-progress", "--threads", "1", "--min-steps", "0", *extra]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A trained (one-epoch) LSTM run directory."""
    tmp = tmp_path_factory.mktemp("tiny")
    result = run_cli(*tiny_args(tmp, "--run-name", "r"))
    assert result.returncode == 0, result.stderr
    return tmp / "runs" / "r"


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute-run", "a/b", "..", ".", "tab\there"])
def test_run_name_cannot_leave_the_runs_directory(tmp_path, name):
    assert_user_error(run_cli(*tiny_args(tmp_path, "--run-name", name)), "--run-name", "must be a plain directory name")
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/absolute-run").exists()


def test_runs_dir_that_is_a_file_is_one_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_user_error(run_cli(*tiny_args(tmp_path), "--runs-dir", str(blocker)), f"{blocker}: is a file, not a directory")


def test_token_cache_that_is_a_file_is_a_warning_and_the_run_goes_on(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli(*tiny_args(tmp_path, "--token-cache", str(blocker), "--run-name", "t"))
    assert result.returncode == 0, result.stderr
    assert "warning: could not write the token cache" in result.stderr and (tmp_path / "runs" / "t" / "complete.json").is_file()


def test_racing_processes_never_share_a_run_directory(tmp_path):
    for attempt in range(20):
        barrier, claimed = threading.Barrier(4), []

        def claim() -> None:
            barrier.wait()
            claimed.append(RunDir.create(tmp_path / str(attempt), "same", prefix="x"))  # kept: its lock lasts as long as it

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(run.path.name for run in claimed) == ["same", "same-2", "same-3", "same-4"]


def test_an_emptied_directory_of_a_run_killed_before_it_wrote_is_reused(tmp_path):
    (tmp_path / "same").mkdir()
    (tmp_path / "same" / ".lock").write_text("")
    assert RunDir.create(tmp_path, "same", prefix="x").path == tmp_path / "same"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("the user's own files")
    assert RunDir.create(tmp_path, "other", prefix="x").path == tmp_path / "other-2"


@pytest.mark.parametrize("content", [[1, 2], "text", None])
def test_a_config_json_that_is_not_an_object_is_one_error(tiny_run, tmp_path, content):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "config.json").write_text(json.dumps(content), encoding="utf-8")
    assert_user_error(run_cli("predict", "--run", str(run), "好吃"), "config.json: expected a JSON object of settings")


def test_a_pickle_in_model_pt_is_refused_in_one_line_and_never_run(tiny_run, tmp_path):
    import shutil

    run, marker = tmp_path / "run", tmp_path / "ran"
    shutil.copytree(tiny_run, run)
    torch.save({"weight": _RunsCode(marker)}, run / "model.pt")
    result = run_cli("predict", "--run", str(run), "好吃")
    assert_user_error(result, "model.pt: not a tensors-only checkpoint", "a pickle of Python objects", "was not run")
    assert "weights_only" not in result.stderr and "Warning" not in result.stderr and not marker.exists()
    torch.save({"weight": [1, 2]}, run / "model.pt")  # loadable, but not tensors
    with pytest.raises(DataError, match="not a tensors-only checkpoint"):
        RunDir(run).load_state_dict()


def test_gensim_pickle_needs_trust_pickle_and_a_dry_run_never_unpickles(tmp_path):
    marker, vectors = tmp_path / "ran", tmp_path / "v.kv"
    vectors.write_bytes(pickle.dumps(_RunsCode(marker), protocol=4))
    assert_user_error(run_cli(*tiny_args(tmp_path), "--embedding", str(vectors), "--dry-run"), "--trust-pickle", "word2vec text")
    result = run_cli(*tiny_args(tmp_path), "--embedding", str(vectors), "--trust-pickle", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["embed_dim"] == 4 and not marker.exists()
    renamed = tmp_path / "v.txt"
    vectors.rename(renamed)
    assert_user_error(run_cli(*tiny_args(tmp_path), "--embedding", str(renamed), "--trust-pickle"), "not named .kv or .model")
    assert not marker.exists()


def test_predict_escapes_the_echoed_text_and_offers_jsonl(tiny_run):
    texts = ["好吃\t又\n便宜\r", "back\\slash\x07"]
    result = run_cli("predict", "--run", str(tiny_run), *texts)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and [line.split("\t")[2] for line in lines] == ["好吃\\t又\\n便宜\\r", "back\\\\slash\\x07"]
    result = run_cli("predict", "--run", str(tiny_run), "--output-format", "jsonl", *texts)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts and all(r["label"] in ("pos", "neg") and 0 <= r["probability"] <= 1 for r in rows)


@pytest.mark.parametrize("text", ["", "   "])
def test_predict_refuses_an_empty_text(tiny_run, text):
    assert_user_error(run_cli("predict", "--run", str(tiny_run), "好吃", text), "text 2 of the command line is empty")


def test_a_long_text_is_cut_to_a_character_budget_before_segmentation():
    seen: list[int] = []

    def tokenize(text: str) -> list[str]:
        seen.append(len(text))
        return list(text)

    vocab = Vocab.build([["好"]], min_freq=1)
    pipeline = TextPipeline(tokenize, frozenset(), vocab, Vocab(["a", "b"], specials=()), max_len=50)
    batches = pipeline.batches(["好" * 100_000], batch_size=1)
    assert seen == [50 * CHARS_PER_TOKEN] and int(batches.lengths[0]) == 50


class _DivergingTrainer:
    """An `EpochTrainer` whose loss becomes NaN at the third step of epoch 2."""

    unit = "batch"

    def __init__(self) -> None:
        self.steps = 0

    def epoch_steps(self, epoch):
        return range(4), 4

    def train_step(self, step):
        self.steps += 1
        return {"loss": math.nan if self.steps == 7 else 1.0, "count": 1}

    def train_metrics(self, sums):
        return {"train_loss": sums["loss"] / sums["count"]}

    def validate(self):
        return {"dev_accuracy": 0.5}

    def describe(self, record):
        return ""

    def learning_rate(self):
        return 0.1

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_a_non_finite_loss_stops_training_with_an_error_and_keeps_the_best_epoch():
    kept = []
    with pytest.raises(TrainingError, match=r"epoch 2, batch 3: the training loss became nan; lower --lr.*best epoch so far \(1\)"):
        run_epochs(_DivergingTrainer(), 5, monitor="dev_accuracy", higher_is_better=True, progress=False, log=lambda m: None,
                   on_epoch=lambda record, improved: kept.append(record["epoch"]))
    assert kept == [1]


def test_nan_weights_stop_a_real_model_at_its_first_step(tmp_path):
    from data_processor.batching import BucketBatcher
    from train.classify.fit import fit

    model = RNNClassifier(10, 2, cell="gru", embed_dim=4, hidden_size=4)
    with torch.no_grad():
        model.output.weight.fill_(math.nan)
    batches = BucketBatcher([[2, 3], [4, 5, 6]], [0, 1], batch_size=2, shuffle=True)
    dev = BucketBatcher([[2, 3]], [0], batch_size=2)
    with pytest.raises(TrainingError, match="epoch 1, batch 1: the training loss became nan"):
        fit(model, batches, dev, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, device=torch.device("cpu"),
            progress=False, log=lambda m: None)


def test_non_finite_sampling_temperature_is_refused(tmp_path):
    for value in ("nan", "inf"):
        assert_user_error(run_cli("generate", "sample", "--run", str(tmp_path), "--temperature", value), "not a finite number")


def test_a_config_error_is_not_a_traceback_for_settings_of_the_wrong_type():
    from train.classify.settings import ClassifierConfig

    with pytest.raises(ConfigError, match="'trust_pickle' must be true or false"):
        ClassifierConfig.from_dict({"trust_pickle": "yes"}, "config.json")


def test_a_run_killed_before_its_first_epoch_resumes_from_the_start(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "killed-early"
    run.mkdir()
    shutil.copyfile(tiny_run / "config.json", run / "config.json")  # all a run had written when it was killed
    result = run_cli("--resume", str(run))
    assert result.returncode == 0, result.stderr
    strip = lambda r: [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "train_seconds", "elapsed")}
                       for line in (r / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert (run / "complete.json").is_file() and strip(run) == strip(tiny_run)


def test_resume_on_changed_data_is_refused(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "changed"
    shutil.copytree(tiny_run, run)
    (run / "complete.json").unlink()
    (run / "summary.json").unlink()
    other = write_csv(tmp_path / "other.csv", [("完全 不同 的 词", "pos"), ("另外 一些 字", "neg")] * 10)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    (run / "config.json").write_text(json.dumps({**config, "train": str(other)}), encoding="utf-8")
    assert_user_error(run_cli("--resume", str(run)), "vocab.json: the training data gives another vocab now",
                      "a run can resume only on the data it started with")
