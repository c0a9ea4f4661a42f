"""The torch character model, the training loop and the run directory it writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from data_processor.char_corpus import load_char_corpus
from data_processor.base.errors import ConfigError
from data_processor.vocab import EOS, Vocab
from models.char_lm import CELLS, CharLM
from tests.char_lm_helpers import (
    train_tiny,
    unigram_entropy,
    write_names,
    write_sentences,
)
from train.charlm.fit import evaluate
from train.charlm.settings import CharLMConfig
from train.charlm.trainers import NumpyLMTrainer, load_numpy_model
from train.common.rundir import RunDir


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embed_dim", [8, 0])
def test_forward_shapes_and_carried_state(cell, embed_dim):
    torch.manual_seed(0)
    model = CharLM(11, cell=cell, embed_dim=embed_dim, hidden_size=6, num_layers=2).eval()
    ids = torch.randint(0, 11, (3, 10))
    logits, state = model(ids)
    assert logits.shape == (3, 10, 11)
    first, mid = model(ids[:, :4])
    second, end = model(ids[:, 4:], mid)
    assert torch.allclose(torch.cat([first, second], dim=1), logits, atol=1e-6)
    flat = (lambda s: torch.cat([t.reshape(-1) for t in s]) if isinstance(s, tuple) else s.reshape(-1))
    assert torch.allclose(flat(end), flat(state), atol=1e-6)


@pytest.mark.e2e
@pytest.mark.parametrize("cell,chunking", [("scratch-gru", "consecutive"), ("lstm", "random")])
def test_training_beats_the_unigram_entropy(tmp_path, cell, chunking):
    text = write_sentences(tmp_path / "sentences.txt")
    summary = train_tiny(tmp_path / "sentences.txt", tmp_path / "runs", "run", cell=cell, chunking=chunking)
    entropy = unigram_entropy(list(text))
    assert summary["best_val_loss"] < 0.6 * entropy, (summary, entropy)

    run = tmp_path / "runs" / "run"
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["kind"] == "char-lm" and config["cell"] == cell and config["backend"] == "torch"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert all(r["val_perplexity"] == pytest.approx(math.exp(r["val_loss"]), rel=1e-4) for r in records)
    assert min(r["val_loss"] for r in records) == pytest.approx(summary["best_val_loss"])
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    vocab = Vocab.load(run / "vocab.json")
    state = torch.load(run / "model.pt", weights_only=True)
    model = CharLM(len(vocab), cell=cell, embed_dim=16, hidden_size=48)
    model.load_state_dict(state)
    assert (run / "curves.png").stat().st_size > 0


def test_numpy_rnn_with_sgd_learns_names(tmp_path):
    names = write_names(tmp_path / "names.txt")
    summary = train_tiny(tmp_path / "names.txt", tmp_path / "runs", "np", cell="numpy-rnn", lines=True, optimizer="sgd",
                         hidden_size=32, batch_size=4, seq_len=25)
    entropy = unigram_entropy([c for n in names for c in n] + [EOS] * len(names))
    assert summary["best_val_loss"] < 0.6 * entropy
    config = json.loads((tmp_path / "runs" / "np" / "config.json").read_text(encoding="utf-8"))
    assert (config["optimizer"], config["lr"], config["embed_dim"], config["lines"]) == ("sgd", 0.01, 0, True)
    model = load_numpy_model(RunDir(tmp_path / "runs" / "np"))
    assert (model.vocab_size, model.hidden_size) == (config["vocab_size"], 32)


def test_time_budget_stops_after_a_partial_epoch(tmp_path):
    write_sentences(tmp_path / "s.txt", n=2000)
    summary = train_tiny(tmp_path / "s.txt", tmp_path / "runs", "budget", epochs=50, time_budget=1e-7, batch_size=2, seq_len=8)  # 6 microseconds: over after the first chunk
    assert summary["stopped_by_time_budget"] and summary["epochs_run"] == 1
    record = json.loads((tmp_path / "runs" / "budget" / "metrics.jsonl").read_text(encoding="utf-8"))
    assert record["partial"] is True
    assert (tmp_path / "runs" / "budget" / "model.pt").is_file()


def test_backend_defaults_and_invalid_settings():
    numpy_config = CharLMConfig(cell="numpy-rnn", corpus="dinos").resolved()
    assert (numpy_config.hidden_size, numpy_config.seq_len, numpy_config.batch_size) == (100, 25, 1)
    assert (numpy_config.optimizer, numpy_config.lr, numpy_config.lines) == ("adagrad", 0.1, True)
    torch_config = CharLMConfig().resolved()
    assert (torch_config.hidden_size, torch_config.optimizer, torch_config.lines) == (256, "adam", False)
    for bad, fragment in [(dict(cell="numpy-rnn", optimizer="adam"), "adagrad or sgd"), (dict(cell="numpy-rnn", num_layers=2), "one layer"),
                          (dict(cell="transformer"), "unknown cell"), (dict(seq_len=0), "--seq-len"), (dict(time_budget=-1), "--time-budget")]:
        with pytest.raises(ConfigError, match=fragment):
            CharLMConfig(**bad).resolved()


def test_real_corpora_read_as_intended(shared_file):
    lyrics = load_char_corpus(str(shared_file("jaychou_lyrics.txt")), line_oriented=True)
    assert EOS in lyrics.vocab and len(lyrics.vocab) > 2000 and "想" in lyrics.vocab
    assert all(line == line.strip() and line for line in lyrics.val_lines)
    shakespeare = load_char_corpus(str(shared_file("tinyshakespeare.txt")))
    assert len(shakespeare.vocab) == 66  # 65 characters and <unk>
    assert len(shakespeare.train_ids) + len(shakespeare.val_ids) == 1115394


@pytest.mark.e2e
def test_real_dinosaur_names_learned_by_numpy_rnn(tmp_path, shared_file):
    path = shared_file("dinos.txt")
    names = path.read_text(encoding="utf-8").split()
    summary = train_tiny(path, tmp_path, "dinos", cell="numpy-rnn", lines=True, optimizer="sgd", hidden_size=50, batch_size=1, seq_len=25, epochs=1)
    entropy = unigram_entropy([c for n in names for c in n] + [EOS] * len(names))
    assert summary["best_val_loss"] < entropy
    assert np.isfinite(summary["final_train_loss"])


@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_decides_which_weights_are_saved(tmp_path, keep):
    write_names(tmp_path / "names.txt", n=60)  # few names: validation loss turns up in epoch 5 (2.065 -> 2.138 with numpy 2.4)
    summary = train_tiny(tmp_path / "names.txt", tmp_path / "runs", keep, cell="numpy-rnn", lines=True, hidden_size=24, batch_size=2,
                         seq_len=10, epochs=5, lr=0.5, keep=keep)
    run = tmp_path / "runs" / keep
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    corpus = load_char_corpus(str(tmp_path / "names.txt"), line_oriented=True)
    trainer = NumpyLMTrainer(load_numpy_model(RunDir(run)), "sgd", 0.01, 5.0)
    saved = evaluate(trainer, corpus.val_ids, 2, 10)
    best = min(r["val_loss"] for r in records)
    assert records[-1]["val_loss"] > best + 0.01  # this run's last epoch is not its best, so the two choices differ
    expected = records[-1]["val_loss"] if keep == "last" else best
    assert saved == pytest.approx(expected, abs=1e-5)
    assert summary["kept"] == keep and summary["final_val_loss"] == records[-1]["val_loss"]
