"""Data-parallel training: a 2-process gloo group learns exactly what one process learns from the same global batches,
and ``torchrun`` runs the real command end to end, writing one run directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from data_processor.batching import BucketBatcher
from data_processor.base.errors import ConfigError
from models.char_lm import CharLM
from models.classifier import RNNClassifier
from tests.helpers import ROOT, run_cli, train_on_sample
from train.charlm.fit import fit_language_model
from train.charlm.trainers import TorchLMTrainer
from train.classify.fit import fit
from train.common.distributed import Cluster
from train.common.optim import build_optimizer

ROWS, VOCAB, BATCH = 101, 40, 8  # 101 rows in global batches of 16: the last batch has 5 rows, one share of it 2


def toy_rows(seed: int = 0) -> tuple[list[list[int]], list[int]]:
    """Token-id sequences of varied lengths whose label depends on their tokens (something to learn)."""
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(2, VOCAB, size=int(rng.integers(1, 25))).tolist() for _ in range(ROWS)]
    return seqs, [int(sum(s) % 3 == 0) for s in seqs]


def train_toy_classifier(cluster: Cluster) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Two epochs of a small LSTM on the toy rows, sharing batches of ``BATCH * world`` rows over ``cluster``."""
    seqs, labels = toy_rows()
    torch.manual_seed(0)
    model = RNNClassifier(VOCAB, 2, cell="lstm", embed_dim=8, hidden_size=12, dropout=0.0)
    global_batch = 2 * BATCH  # the same global batch for one process and for two
    train = BucketBatcher(seqs, labels, global_batch, shuffle=True, seed=3, pool_batches=2, rank=cluster.rank, world=cluster.world)
    dev = BucketBatcher(seqs[:45], labels[:45], 7, rank=cluster.rank, world=cluster.world)
    optimizer = build_optimizer("adam", model.parameters(), 0.01)
    result = fit(model, train, dev, optimizer, epochs=2, device=torch.device("cpu"), clip=1.0, patience=0, progress=False,
                 log=lambda _: None, cluster=cluster)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, result.history


def train_toy_char_lm(cluster: Cluster) -> dict[str, torch.Tensor]:
    """One epoch of a small character GRU on a toy stream, consecutive lanes, state carried."""
    ids = (np.arange(3000) * 7 % 23).astype(np.int64)
    torch.manual_seed(0)
    model = CharLM(23, cell="gru", embed_dim=6, hidden_size=10, num_layers=1, dropout=0.0)
    trainer = TorchLMTrainer(model, build_optimizer("adam", model.parameters(), 0.01), 1.0, torch.device("cpu"), cluster)
    fit_language_model(trainer, ids[:2500], ids[2500:], epochs=1, batch_size=6, seq_len=20, seed=1, progress=False,
                       log=lambda _: None, cluster=cluster)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(rank: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        cluster = Cluster(rank=rank, world=2, local_rank=rank, local_world=2)
        weights, history = train_toy_classifier(cluster)
        lm_weights = train_toy_char_lm(cluster)
        cluster.check_same("vocabulary", "a b c")
        try:
            cluster.check_same("vocabulary", f"a b c {rank}")
            refusal = ""
        except ConfigError as exc:
            refusal = str(exc)
        torch.save({"weights": weights, "history": history, "lm": lm_weights, "refusal": refusal}, f"{out}.{rank}")
    finally:
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> list[dict]:
    """What each of two gloo processes learnt (spawned here: a fresh interpreter each)."""
    d = tmp_path_factory.mktemp("gloo")
    mp.start_processes(_worker, args=(str(d / "store"), str(d / "out")), nprocs=2, start_method="spawn", join=True)
    return [torch.load(d / f"out.{rank}", weights_only=True) for rank in range(2)]


def test_two_processes_learn_what_one_learns_from_the_same_global_batches(two_processes):
    torch.set_num_threads(1)
    single, history = train_toy_classifier(Cluster())
    for rank, result in enumerate(two_processes):
        for name, value in single.items():
            assert torch.allclose(result["weights"][name], value, atol=1e-6, rtol=0), (rank, name)
    # the epoch records (train sums over both shares, dev scored half by each) are the single process's
    timing = ("seconds", "train_seconds", "elapsed")
    strip = lambda records: [{k: v for k, v in r.items() if k not in timing} for r in records]
    assert strip(two_processes[0]["history"]) == strip(two_processes[1]["history"])
    for got, want in zip(strip(two_processes[0]["history"]), strip(history)):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], abs=1e-5), key


def test_training_moved_the_weights(two_processes):
    torch.manual_seed(0)
    initial = RNNClassifier(VOCAB, 2, cell="lstm", embed_dim=8, hidden_size=12, dropout=0.0).state_dict()
    assert any(not torch.allclose(initial[k], two_processes[0]["weights"][k]) for k in initial)


def test_two_processes_train_a_char_lm_as_one_reading_all_the_lanes(two_processes):
    torch.set_num_threads(1)
    single = train_toy_char_lm(Cluster())
    for result in two_processes:
        for name, value in single.items():
            assert torch.allclose(result["lm"][name], value, atol=1e-6, rtol=0), name


def test_processes_that_built_different_vocabularies_stop(two_processes):
    for result in two_processes:
        assert result["refusal"] == "rank 1 built another vocabulary than rank 0; give every process the same data files and settings"


def test_the_cluster_comes_from_torchruns_environment():
    assert Cluster.from_environment({}) == Cluster()
    cluster = Cluster.from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (cluster.rank, cluster.world, cluster.local_rank, cluster.is_main, cluster.distributed) == (3, 4, 1, False, True)


def test_auto_means_the_cpu_when_there_are_fewer_gpus_than_processes(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    four = Cluster(rank=1, world=4, local_rank=1, local_world=4)
    assert four.resolve_device("auto") == torch.device("cpu")
    assert Cluster().resolve_device("auto") == torch.device("cuda"), "one process uses the GPU"
    with pytest.raises(ConfigError, match="local rank 1 has no GPU of its own"):
        four.device("cuda")


def test_inconsistent_torchrun_variables_are_one_line_errors():
    with pytest.raises(ConfigError, match="inconsistent torchrun variables"):
        Cluster.from_environment({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ConfigError, match="whole numbers"):
        Cluster.from_environment({"RANK": "x", "WORLD_SIZE": "2"})


def torchrun_command(*args: str, nproc: int = 2) -> list[str]:
    """``torchrun --standalone --nproc-per-node NPROC run.py ARGS``, as a user would start it."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", str(ROOT / "run.py"), *args]


TORCHRUN_ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def torchrun(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``torchrun ... run.py ARGS`` with two processes to its end."""
    return subprocess.run(torchrun_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=TORCHRUN_ENV)


def ddp_options(sample: dict, runs: Path, name: str) -> list[str]:
    return ["--model", "lstm", "--train", str(sample["train"]), "--dev", str(sample["dev"]), "--test", str(sample["test"]),
            "--embedding", "word2vec", "--vectors-corpus", "none", "--hidden-size", "32", "--batch-size", "16", "--epochs", "2",
            "--min-steps", "0", "--patience", "0", "--threads", "1", "--runs-dir", str(runs), "--run-name", name]


@pytest.fixture(scope="module")
def ddp_run(sample, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """A two-process run trained by torchrun from start to end."""
    runs = tmp_path_factory.mktemp("ddp") / "runs"
    result = torchrun(*ddp_options(sample, runs, "ddp"))
    assert result.returncode == 0, result.stderr[-3000:]
    return result, runs


@pytest.mark.distributed
def test_torchrun_trains_one_run_directory_that_predict_and_evaluate_accept(sample, ddp_run):
    result, runs = ddp_run
    assert [p.name for p in runs.iterdir()] == ["ddp"], "exactly one run directory"
    run = runs / "ddp"
    assert (run / "complete.json").is_file() and not (run / "last.pt").exists()
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    assert result.stdout.count("test accuracy:") == 1, "only rank 0 prints the results"
    assert result.stderr.count("data-parallel: 2 processes") == 1, "only rank 0 logs"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and max(r["dev_accuracy"] for r in records) > 0.65, records

    predicted = run_cli("predict", "--run", str(run), "这家店的菜很好吃", "质量太差了，再也不买")
    assert predicted.returncode == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 2
    evaluated = run_cli("evaluate", "--run", str(run), str(sample["test"]))
    assert evaluated.returncode == 0, evaluated.stderr
    test_accuracy = json.loads((run / "summary.json").read_text())["test_accuracy"]
    assert f"{test_accuracy:.4f}" in evaluated.stdout, "evaluate scores the test file as training did"


def kill_processes_naming(text: str) -> None:
    """SIGKILL every process whose command line holds ``text`` (torchrun's workers run in sessions of their own)."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass  # ended meanwhile


@pytest.mark.distributed
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the training processes through /proc (Linux)")
def test_a_killed_torchrun_run_resumes_to_the_same_result(sample, ddp_run, tmp_path):
    _, runs = ddp_run
    run = tmp_path / "runs" / "killed"
    process = subprocess.Popen(torchrun_command(*ddp_options(sample, tmp_path / "runs", "killed")), cwd=ROOT, env=TORCHRUN_ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (run / "last.pt").is_file() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        kill_processes_naming(str(tmp_path / "runs"))  # torchrun and both training processes, after the first epoch's checkpoint
    finally:
        process.wait(timeout=60)
    assert not (run / "complete.json").exists()

    resumed = torchrun("train", "--resume", str(run), "--no-progress")
    assert resumed.returncode == 0, [line for line in resumed.stderr.splitlines() if "error:" in line] or resumed.stderr[-3000:]
    assert "resumed after epoch 1 of 2" in resumed.stderr
    timing = ("seconds", "train_seconds", "elapsed")
    records = lambda r: [{k: v for k, v in json.loads(line).items() if k not in timing} for line in (r / "metrics.jsonl").open()]
    assert records(run) == records(runs / "ddp")
    want, got = torch.load(runs / "ddp" / "model.pt", weights_only=True), torch.load(run / "model.pt", weights_only=True)
    assert all(torch.equal(want[k], got[k]) for k in want)


@pytest.mark.distributed
def test_torchrun_trains_a_char_lm_into_one_run_that_samples(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 150, encoding="utf-8")
    result = torchrun("generate", "train", "--corpus", str(corpus), "--cell", "gru", "--hidden-size", "16", "--epochs", "2",
                      "--runs-dir", str(tmp_path / "runs"), "--run-name", "lm", "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["lm"]
    assert (tmp_path / "runs" / "lm" / "complete.json").is_file() and result.stdout.count("run saved to:") == 1
    sampled = run_cli("generate", "sample", "--run", str(tmp_path / "runs" / "lm"), "--length", "40")
    assert sampled.returncode == 0 and sampled.stdout.strip(), sampled.stderr


@pytest.mark.distributed
@pytest.mark.parametrize("command", [["--model", "tfidf"], ["generate", "train", "--cell", "numpy-rnn"], ["check-gradients"]])
def test_torchrun_refuses_what_runs_in_one_process(sample, tmp_path, command):
    data = {"--model": ["--train", str(sample["train"])], "generate": ["--corpus", str(sample["train"])], "check-gradients": []}[command[0]]
    result = torchrun(*command, *data, *(["--runs-dir", str(tmp_path)] if data else []))
    assert result.returncode != 0
    expected = {"--model": "error: --model tfidf trains in one process: start it with python run.py, not torchrun",
                "generate": "error: the numpy char-RNN (--cell numpy-rnn) trains in one process: start it with python run.py",
                "check-gradients": "error: under torchrun only 'train' and 'generate train' run"}
    assert expected[command[0]] in result.stderr, result.stderr[-2000:]
    assert not any(tmp_path.iterdir())


def test_a_resumed_run_must_use_as_many_processes_as_it_started_with(sample, tmp_path):
    _, run = train_on_sample(sample, "gru", "world-check", "--embedding", "random", "--hidden-size", "8", "--epochs", "1",
                             "--min-steps", "0", "--threads", "1")
    run = Path(shutil.copytree(run, tmp_path / "copy"))  # this process keeps the original's lock while it lives
    (run / "complete.json").unlink()  # as if it had stopped after its first epoch
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "world_size": 2}))
    torch.save({"format": 1, "loop": {}, "trainer": {}, "rng": {}}, run / "last.pt")
    assert config["world_size"] == 1, "a plain run records one process"
    result = run_cli("train", "--resume", str(run))
    assert result.returncode == 2 and "trained by 2 process(es) and is being resumed by 1" in result.stderr
    assert "torchrun --nproc-per-node 2 run.py" in result.stderr


