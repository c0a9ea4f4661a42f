"""``run.py generate train|sample|eval`` end to end, and every bad input's one-line error with exit status 2."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

import run as run_py
from tests.char_lm_helpers import train_tiny, write_names, write_sentences
from tests.helpers import assert_user_error, run_cli

TINY = ["--embed-dim", "16", "--hidden-size", "32", "--batch-size", "4", "--seq-len", "20", "--threads", "1", "--no-progress"]


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``run.py ARGS`` in this process (the same ``main`` the script calls)."""
    status = run_py.main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_error(status: int, err: str, *fragments: str) -> None:
    assert status == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def names_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("names")
    write_names(root / "names.txt")
    return train_tiny(root / "names.txt", root / "runs", "names", lines=True, epochs=2)["run"]


@pytest.mark.e2e
def test_train_sample_eval_end_to_end(tmp_path):
    write_names(tmp_path / "names.txt")
    runs = tmp_path / "runs"
    trained = run_cli("generate", "train", "--corpus", str(tmp_path / "names.txt"), "--lines", "--cell", "gru", "--epochs", "2",
                      "--runs-dir", str(runs), "--run-name", "cli", *TINY)
    assert trained.returncode == 0, trained.stderr
    assert "best validation loss:" in trained.stdout and f"run saved to: {runs / 'cli'}" in trained.stdout
    assert "epoch 2/2" in trained.stderr and "epoch 1/2" not in trained.stdout and "corpus:" not in trained.stdout  # logs on stderr

    sampled = run_cli("generate", "sample", "--run", str(runs / "cli"), "--prime", "Ka", "--count", "5", "--seed", "3", "--temperature", "0.8")
    assert sampled.returncode == 0, sampled.stderr
    names = sampled.stdout.splitlines()
    assert len(names) == 5 and all(n.startswith("Ka") and len(n) > 2 for n in names)

    evaluated = run_cli("generate", "eval", "--run", str(runs / "cli"), "--count", "20")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "lines: 20" in evaluated.stdout and "exact match:" in evaluated.stdout and "char accuracy:" in evaluated.stdout
    predictions = (runs / "cli" / "eval_predictions.txt").read_text(encoding="utf-8").splitlines()
    assert len(predictions) == 20
    assert json.loads((runs / "cli" / "eval.json").read_text(encoding="utf-8"))["lines"] == 20


def test_numpy_char_rnn_from_the_command_line(tmp_path, capsys):
    write_sentences(tmp_path / "s.txt")
    run_dir = tmp_path / "runs" / "np"
    status, out, err = _main(capsys, "generate", "train", "--corpus", str(tmp_path / "s.txt"), "--cell", "numpy-rnn", "--hidden-size", "32",
                             "--epochs", "1", "--runs-dir", str(tmp_path / "runs"), "--run-name", "np", "--no-progress")
    assert status == 0, err
    assert f"run saved to: {run_dir}" in out
    assert (run_dir / "model.npz").is_file() and not (run_dir / "model.pt").exists()
    sample = ["generate", "sample", "--run", str(run_dir), "--prime", "the cat", "--length", "60", "--seed", "5"]
    status, first, _ = _main(capsys, *sample)
    assert status == 0 and first.startswith("the cat") and len(first.rstrip("\n")) == 67
    assert _main(capsys, *sample)[1] == first  # the same seed, the same text


def test_dry_run_prints_the_resolved_config(capsys):
    status, out, _ = _main(capsys, "generate", "train", "--corpus", "jaychou", "--cell", "scratch-gru", "--dry-run")
    config = json.loads(out)
    assert status == 0 and config["cell"] == "scratch-gru" and config["lines"] is True and config["hidden_size"] == 256


def test_empty_corpus_is_refused_without_leaving_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n   \n", encoding="utf-8")
    result = run_cli("generate", "train", "--corpus", str(empty), "--runs-dir", str(tmp_path / "runs"), "--no-progress")
    assert_user_error(result, "the corpus is empty", str(empty))
    assert not (tmp_path / "runs").exists()


def test_offline_named_corpus_says_where_to_put_it(tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    status, _, err = _main(capsys, "generate", "train", "--corpus", "tinyshakespeare", "--cache-dir", str(tmp_path / "cache"),
                           "--runs-dir", str(tmp_path / "runs"))
    _assert_error(status, err, "could not download tinyshakespeare", str(tmp_path / "cache" / "tinyshakespeare.txt"), "--corpus PATH")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache" / "tinyshakespeare.txt").exists()


def test_prime_with_unknown_characters_names_them(names_run, capsys):
    status, out, err = _main(capsys, "generate", "sample", "--run", names_run, "--prime", "Ka9#")
    _assert_error(status, err, "never saw", "'#'", "'9'")
    assert out == ""


@pytest.mark.parametrize("value", ["0", "-0.5"])
def test_temperature_must_be_positive(names_run, capsys, value):
    status, _, err = _main(capsys, "generate", "sample", "--run", names_run, f"--temperature={value}")
    _assert_error(status, err, "--temperature must be > 0")


def test_classifier_run_given_to_generate(tmp_path, capsys):
    run_dir = tmp_path / "classifier-run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"kind": "classifier", "model": "lstm"}), encoding="utf-8")
    for action in ("sample", "eval"):
        status, _, err = _main(capsys, "generate", action, "--run", str(run_dir))
        _assert_error(status, err, "is a 'classifier' run, not a 'char-lm' run")
    status, _, err = _main(capsys, "generate", "sample", "--run", str(tmp_path / "nowhere"))
    _assert_error(status, err, "no such run directory")


def test_eval_file_problems(names_run, tmp_path, capsys):
    prefixes = tmp_path / "x.txt"
    prefixes.write_text("Ka\nRo\n", encoding="utf-8")
    status, _, err = _main(capsys, "generate", "eval", "--run", names_run, "--test", str(prefixes))
    _assert_error(status, err, "give both --test")
    gold = tmp_path / "y.txt"
    gold.write_text("saurus\n", encoding="utf-8")
    out = tmp_path / "pred.txt"
    status, _, err = _main(capsys, "generate", "eval", "--run", names_run, "--test", str(prefixes), "--gold", str(gold), "--output", str(out))
    _assert_error(status, err, "has 2 lines but", "has 1")
    assert not out.exists()


def test_bad_training_options(tmp_path, capsys):
    write_sentences(tmp_path / "s.txt", n=20)
    common = ["generate", "train", "--corpus", str(tmp_path / "s.txt"), "--runs-dir", str(tmp_path / "runs")]
    cases = [(["--cell", "numpy-rnn", "--optimizer", "adam"], "adagrad or sgd"),
             (["--seq-len", "5000"], "fewer than one chunk"),
             (["--val-ratio", "1.5"], "--val-ratio")]
    for extra, fragment in cases:
        status, _, err = _main(capsys, *common, *extra)
        _assert_error(status, err, fragment)
    assert not (tmp_path / "runs").exists()
