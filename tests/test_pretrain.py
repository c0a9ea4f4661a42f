"""Pretraining the encoder as a bidirectional language model, and fine-tuning a classifier from it (ULMFiT)."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from data_processor.vocab import Vocab
from models.classifier import RNNClassifier
from models.encoder import TextEncoder
from models.language_model import EncoderLM, lm_targets
from tests.helpers import assert_user_error, run_cli
from tests.test_resume import finish, kill_after, start

# a tiny encoder that trains in seconds; one thread so separate processes make the same steps
TINY = ["--embed-dim", "16", "--hidden-size", "16", "--max-len", "40", "--threads", "1", "--no-progress", "--seed", "5"]


def test_forward_predicts_next_and_backward_previous_and_padding_never_counts():
    tokens = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    lengths = torch.tensor([4, 2])
    targets, mask = lm_targets(tokens, lengths, backward=False, pad_id=0)
    assert targets[mask].tolist() == [6, 7, 8, 10]
    targets, mask = lm_targets(tokens, lengths, backward=True, pad_id=0)
    assert targets[mask].tolist() == [5, 6, 7, 9]
    assert mask.tolist() == [[False, True, True, True], [False, True, False, False]]


def test_a_rows_likelihood_is_the_same_alone_and_beside_a_longer_row():
    torch.manual_seed(0)
    lm = EncoderLM(TextEncoder(12, "lstm", 8, 8, dropout=0.0), torch.ones(12), samples=4, dropout=0.0).eval()
    short = torch.tensor([[3, 4, 5]])
    batch = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])
    alone = lm.exact_nll(short, torch.tensor([3]))
    with_long = lm.exact_nll(batch[:1], torch.tensor([3]))  # padded to 5 steps
    for (a, n), (b, m) in zip(alone, with_long):
        assert n == m == 2 and a == pytest.approx(b, abs=1e-5)
    both = lm.exact_nll(batch, torch.tensor([3, 5]))
    assert [n for _, n in both] == [2 + 4, 2 + 4]  # padding is never a target


def test_a_tiny_corpus_is_learnt_to_low_perplexity():
    from data_processor.batching import BucketBatcher
    from train.classify.lm_training import fit_lm, heldout_metrics

    torch.manual_seed(0)
    cycle = [2, 3, 4, 5, 6, 7]  # each token determines its neighbours both ways
    rows = [[cycle[(start + i) % 6] for i in range(8)] for start in range(6)] * 8
    lm = EncoderLM(TextEncoder(8, "lstm", 16, 32, dropout=0.0), torch.ones(8), samples=6, dropout=0.0)
    batches = BucketBatcher(rows, None, 8, shuffle=True, seed=0)
    heldout = BucketBatcher(rows[:6], None, 8)
    before = heldout_metrics(lm, heldout, torch.device("cpu"))
    fit_lm(lm, batches, heldout, lr=0.02, epochs=40, max_steps=0, clip=1.0, device=torch.device("cpu"), progress=False,
           log=lambda _: None)
    after = heldout_metrics(lm, heldout, torch.device("cpu"))
    assert before["dev_forward_perplexity"] > 4
    assert after["dev_forward_perplexity"] < 1.3 and after["dev_backward_perplexity"] < 1.3


def test_a_bidirectional_stack_of_two_layers_is_refused():
    with pytest.raises(ValueError, match="one recurrent layer"):
        EncoderLM(TextEncoder(8, "lstm", 4, 4, num_layers=2), torch.ones(8))
    result = run_cli("pretrain", "--num-layers", "2", "--dry-run")
    assert_user_error(result, "--num-layers 2", "--unidirectional")


def test_the_vocabulary_is_mapped_by_token_string_and_the_recurrent_layers_copied():
    from train.classify.pretrain_settings import PretrainConfig
    from train.classify.transfer import PretrainedEncoder, map_rows, transfer_encoder

    torch.manual_seed(0)
    lm_vocab = Vocab(["好", "吃", "很"], counts={"好": 5, "吃": 4, "很": 3})
    lm = EncoderLM(TextEncoder(len(lm_vocab), "gru", 6, 5), torch.ones(len(lm_vocab)))
    encoder = PretrainedEncoder(Path("lm"), PretrainConfig(cell="gru"), lm_vocab, lm.state_dict())
    vocab = Vocab(["吃", "外卖", "好"], counts={"吃": 3, "外卖": 2, "好": 1})
    mine, theirs = map_rows(lm_vocab, vocab)
    assert [vocab.itos[i] for i in mine] == [lm_vocab.itos[i] for i in theirs] == ["<pad>", "<unk>", "吃", "好"]
    model = RNNClassifier(len(vocab), 2, "gru", 6, 5)
    stats = transfer_encoder(model, vocab, encoder)
    emb = model.encoder.embedding.weight
    for token in ("吃", "好", "<unk>"):
        assert torch.equal(emb[vocab.index(token)], lm.encoder.embedding.weight[lm_vocab.index(token)])
    assert not torch.equal(emb[vocab.index("外卖")], torch.zeros(6))  # kept its own (rescaled) row
    assert torch.equal(emb[vocab.pad_id], torch.zeros(6))
    for name, value in lm.encoder.rnn.state_dict().items():
        assert torch.equal(model.encoder.rnn.state_dict()[name], value)
    assert stats == {"vocabulary_covered": 0.8, "tokens_covered": 0.6667}


def test_slanted_triangular_rates_and_gradual_unfreezing():
    from train.classify.settings import ClassifierConfig
    from train.classify.transfer import ulmfit_optimizer
    from train.common.optim import slanted_triangular

    assert slanted_triangular(0, 100) == pytest.approx(1 / 32)
    assert slanted_triangular(10, 100) == pytest.approx(1.0)
    assert slanted_triangular(55, 100) == pytest.approx((1 + 0.5 * 31) / 32)
    model = RNNClassifier(20, 2, "lstm", 4, 4, pooling="concat")
    config = ClassifierConfig(encoder="peoples-daily", lr_decay=2.0, unfreeze="gradual", schedule="slanted")
    optimizer, scheduler = ulmfit_optimizer(model, config, lr=0.01, steps_per_epoch=10, epochs=5)
    rates = lambda: [g["lr"] for g in optimizer.param_groups]  # noqa: E731  embedding, recurrent layer, head
    assert rates()[:2] == [0.0, 0.0] and rates()[2] == pytest.approx(0.01 / 32)
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    assert rates()[0] == 0.0 and rates()[1] > 0 and rates()[2] / rates()[1] == pytest.approx(2.0)
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    assert rates()[1] / rates()[0] == pytest.approx(2.0)


def write_corpus(path: Path, sample: dict, rows: int = 300) -> Path:
    with open(sample["train"], encoding="utf-8", newline="") as handle:
        texts = [row[0] for row in list(csv.reader(handle))[1:rows + 1]]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pretrained(sample, tmp_path_factory):
    """A tiny pretraining run on 300 review texts."""
    d = tmp_path_factory.mktemp("pretrain")
    corpus = write_corpus(d / "corpus.txt", sample)
    result = run_cli("pretrain", "--corpus", str(corpus), "--epochs", "2", "--runs-dir", str(d / "runs"), "--run-name", "lm", *TINY)
    assert result.returncode == 0, result.stderr
    return {"dir": d, "corpus": corpus, "run": d / "runs" / "lm", "stdout": result.stdout}


@pytest.mark.e2e
def test_pretrain_writes_an_ordinary_run_directory(pretrained):
    run = pretrained["run"]
    assert "held-out perplexity: forward" in pretrained["stdout"]
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["kind"] == "language-model" and config["corpus"] == [str(pretrained["corpus"])]
    for name in ("vocab.json", "model.pt", "metrics.jsonl", "curves.png", "complete.json"):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 2 and records[1]["dev_forward_perplexity"] < records[0]["dev_forward_perplexity"]
    state = torch.load(run / "model.pt", weights_only=True)
    assert {"encoder.embedding.weight", "project.0.weight", "project.1.weight", "bias"} <= set(state)


@pytest.mark.e2e
def test_a_killed_pretraining_run_resumes_to_identical_weights(pretrained):
    runs = pretrained["dir"] / "runs"
    args = ["pretrain", "--corpus", str(pretrained["corpus"]), "--epochs", "3", "--runs-dir", str(runs), *TINY]
    reference = finish(start(*args, "--run-name", "whole"))
    assert reference.returncode == 0, reference.stderr
    killed = kill_after(start(*args, "--run-name", "killed"), runs / "killed", epochs=1, delay=0.0)
    assert killed.returncode != 0 and not (runs / "killed" / "complete.json").exists()
    resumed = finish(start("pretrain", "--resume", str(runs / "killed"), "--no-progress"))
    assert resumed.returncode == 0, resumed.stderr
    a, b = (torch.load(runs / name / "model.pt", weights_only=True) for name in ("whole", "killed"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (runs / "killed" / "complete.json").is_file() and not (runs / "killed" / "last.pt").exists()


@pytest.mark.e2e
def test_a_fine_tuned_run_is_an_ordinary_classifier_that_predicts_and_exports(pretrained, sample, tmp_path):
    pytest.importorskip("onnxruntime")
    runs = tmp_path / "runs"
    result = run_cli("--model", "lstm", "--train", str(sample["train"]), "--dev", str(sample["dev"]), "--test", str(sample["test"]),
                     "--encoder", str(pretrained["run"]), "--lm-steps", "20", "--pooling", "concat", "--embedding", "random",
                     "--epochs", "3", "--min-steps", "0", "--runs-dir", str(runs), "--run-name", "tuned", *TINY)
    assert result.returncode == 0, result.stderr
    assert "task LM: 20 steps" in result.stderr and "encoder: from" in result.stderr
    run = runs / "tuned"
    record = json.loads((run / "encoder.json").read_text(encoding="utf-8"))
    assert record["task_lm"]["steps"] == 20 and 0 < record["vocabulary_covered"] <= 1
    predicted = run_cli("predict", "--run", str(run), "这家店的菜很好吃", "太差了，再也不买")
    assert predicted.returncode == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 2
    check = tmp_path / "check.txt"
    check.write_text("很好吃\n太差了\n物流很快，包装完好\n", encoding="utf-8")
    exported = run_cli("export", "--run", str(run), "--out", str(tmp_path / "model.onnx"), "--check", str(check))
    assert exported.returncode == 0, exported.stderr
    assert "same predicted labels for all 3 texts" in exported.stdout


@pytest.mark.e2e
def test_an_encoder_with_other_text_settings_or_shape_is_refused(pretrained, sample):
    common = ["--train", str(sample["train"]), "--encoder", str(pretrained["run"]), "--runs-dir", str(pretrained["dir"] / "x"),
              "--embedding", "random"]
    assert_user_error(run_cli(*common, "--hidden-size", "32", "--max-len", "40"), "hidden_size 16", "--hidden-size 32")
    assert_user_error(run_cli(*common, "--model", "gru", *TINY), "pretrained as lstm", "--model lstm")
    assert_user_error(run_cli(*common, "--tokenizer", "char", *TINY), "tokenizer 'jieba'")
    assert_user_error(run_cli(*common, "--optimizer", "sgd", *TINY), "--optimizer adam")


@pytest.mark.e2e
def test_the_general_encoder_is_pretrained_once_then_cached_and_a_damaged_entry_rebuilt(sample, tmp_path):
    from train.classify import encoder_cache
    from train.classify.settings import ClassifierConfig

    corpus = write_corpus(tmp_path / "news.txt", sample, rows=200)
    config = ClassifierConfig(encoder=str(corpus), embed_dim=16, hidden_size=16, max_len=40, threads=1, progress=False,
                              encoder_cache=str(tmp_path / "cache"))
    lines: list[str] = []
    first = encoder_cache.general_encoder(config, str(corpus), lines.append)
    assert any("pretraining a lstm language model" in line for line in lines)
    assert (first / "complete.json").is_file() and first.parent == tmp_path / "cache"
    lines.clear()
    again = encoder_cache.general_encoder(config, str(corpus), lines.append)
    assert again == first and any("from the cache" in line for line in lines)
    assert not any("pretraining" in line for line in lines)
    (first / "model.pt").write_bytes(b"not a checkpoint")
    lines.clear()
    rebuilt = encoder_cache.general_encoder(config, str(corpus), lines.append)
    assert rebuilt == first and any("damaged encoder cache entry" in line for line in lines)
    assert torch.load(rebuilt / "model.pt", weights_only=True)["bias"].shape[0] > 10
    other = encoder_cache.general_encoder(ClassifierConfig(**{**config.to_dict(), "hidden_size": 12}), str(corpus), lines.append)
    assert other != first  # another shape is another entry
    shutil.rmtree(tmp_path / "cache")


def test_pretrain_errors_are_one_line(tmp_path):
    assert_user_error(run_cli("pretrain", "--corpus", str(tmp_path / "missing.txt"), "--runs-dir", str(tmp_path)), "missing.txt",
                      "no such corpus file")
    empty = tmp_path / "one.txt"
    empty.write_text("只有一行\n", encoding="utf-8")
    assert_user_error(run_cli("pretrain", "--corpus", str(empty), "--runs-dir", str(tmp_path), *TINY), "at least two")
    assert_user_error(run_cli("pretrain", "--heldout", "0.7"), "--heldout")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")
def test_pretrain_help_names_the_corpus_and_the_shape():
    result = run_cli("pretrain", "--help")
    assert result.returncode == 0
    for flag in ("--corpus", "--samples", "--hidden-size", "--tokenizer", "--resume", "--time-budget"):
        assert flag in result.stdout
    assert "--label-col" not in result.stdout


def test_a_slanted_schedule_steps_per_batch_from_scratch_too():
    from train.common.optim import build_scheduler

    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.032)
    scheduler = build_scheduler("slanted", optimizer, epochs=2, steps_per_epoch=50)
    assert scheduler.per_step and optimizer.param_groups[0]["lr"] == pytest.approx(0.001)
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.032)


def test_encoder_fine_tuning_refuses_an_epoch_schedule(tmp_path):
    result = run_cli("--encoder", str(tmp_path), "--schedule", "plateau", "--runs-dir", str(tmp_path / "runs"))
    assert_user_error(result, "--schedule plateau", "slanted")
