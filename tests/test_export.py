"""ONNX export of recurrent classifier runs: parity with PyTorch, padding, dynamic shapes, the JSON, the CLI and its errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from data_processor.base.errors import DataError
from tests.helpers import assert_user_error, fast_flags, run_cli, train_on_sample, write_csv
from train.inference.export.onnx_predictor import OnnxPredictor
from train.inference.export.parity import TOLERANCE, ParityError, check_parity
from train.inference.export.writer import export_onnx
from train.inference.rnn_predictor import Predictor

pytestmark = pytest.mark.e2e  # each test trains a small run or exports one (~1 minute in all): out of the fast loop, CI runs them

TINY = fast_flags(max_len=80)


def texts_of(path: Path, n: int | None = None) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)][:n]


def varied_texts(sample: dict) -> list[str]:
    """Texts from one character to far past --max-len tokens, and some without a single known token."""
    test = texts_of(sample["test"])
    by_length = sorted(test, key=len)
    return ["好", "差", "", "   ", "qwerty zxcv", by_length[0], by_length[len(by_length) // 2], by_length[-1], "".join(test[:40]), *test[:20]]


def torch_probabilities(predictor: Predictor, tokens: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return predictor.model.probabilities(predictor.model(tokens, lengths)).numpy()


def one_padded_batch(predictor: Predictor, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """All ``texts`` in one batch, padded to the longest, as the run's pipeline makes it: tokens, lengths, row order."""
    (batch,) = list(predictor.pipeline.batches(texts, batch_size=len(texts)))
    return batch.tokens, batch.lengths, batch.index.numpy()


@pytest.fixture(scope="module")
def lstm_export(lstm_run, tmp_path_factory):
    files = export_onnx(lstm_run, tmp_path_factory.mktemp("onnx") / "lstm.onnx")
    return files, Predictor(lstm_run), OnnxPredictor(files.onnx)


def test_graph_equals_pytorch_on_one_batch_of_very_different_lengths(lstm_export, sample):
    files, predictor, exported = lstm_export
    tokens, lengths, _ = one_padded_batch(predictor, varied_texts(sample))
    assert lengths.min() == 1 and lengths.max() == 80 and tokens.shape[1] == 80  # 1 token to --max-len, all in one padded batch
    expected, got = torch_probabilities(predictor, tokens, lengths), exported.run(tokens.numpy(), lengths.numpy())
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert np.allclose(got.sum(1), 1.0, atol=1e-5)  # a softmax over the labels


def test_padding_never_changes_a_row(lstm_export, sample):
    _, predictor, exported = lstm_export
    short, long = "物流很快，质量不错", "".join(texts_of(sample["test"], 40))
    tokens, lengths, index = one_padded_batch(predictor, [short, long])
    row = int(np.flatnonzero(index == 0)[0])  # the short text's row
    n = int(lengths[row])
    assert n * 5 < int(lengths.max())  # padded to several times its length
    padded = exported.run(tokens.numpy(), lengths.numpy())[row]
    alone = exported.run(tokens[row:row + 1, :n].numpy(), lengths[row:row + 1].numpy())[0]
    assert np.abs(padded - alone).max() <= 1e-6
    assert np.abs(alone - torch_probabilities(predictor, tokens[row:row + 1, :n], lengths[row:row + 1])[0]).max() <= TOLERANCE
    # the check can fail: a graph that read the padding as text (its length taken as the full width) would differ
    reading_padding = exported.run(tokens[row:row + 1].numpy(), np.array([tokens.shape[1]]))[0]
    assert np.abs(reading_padding - alone).max() > 1e-4


@pytest.mark.parametrize("batch_size", [1, 2, 7, 33])
def test_dynamic_batch_size_and_length(lstm_export, sample, batch_size):
    _, predictor, exported = lstm_export
    texts = texts_of(sample["dev"], batch_size)
    tokens, lengths, _ = one_padded_batch(predictor, texts)
    got = exported.run(tokens.numpy(), lengths.numpy())
    assert got.shape == (batch_size, 2)
    assert np.abs(got - torch_probabilities(predictor, tokens, lengths)).max() <= TOLERANCE


def test_onnx_predictor_alone_gives_the_runs_labels_and_probabilities(lstm_export, lstm_run, sample, tmp_path):
    files, predictor, _ = lstm_export
    moved = tmp_path / "elsewhere"  # the .onnx and its .json alone: no run directory, no torch weights
    moved.mkdir()
    for path in (files.onnx, files.settings):
        shutil.copy(path, moved / path.name)
    exported = OnnxPredictor(moved / "lstm.onnx")
    texts = varied_texts(sample) + texts_of(sample["test"])[:200]
    expected, got = predictor.predict_proba(texts), exported.predict_proba(texts)
    assert np.abs(got - expected).max() <= TOLERANCE
    ours, theirs = exported.predict(texts), predictor.predict(texts)
    assert [label for label, _ in ours] == [label for label, _ in theirs]
    assert [p for _, p in ours] == pytest.approx([p for _, p in theirs], abs=TOLERANCE)
    assert exported.label_names == predictor.label_names == ["negative", "positive"]
    assert exported.predict_labels(texts[:3]) == [[pair] for pair in exported.predict(texts[:3])]
    in_file_order = exported.predict_proba(texts, batch_size=16, by_length=False)
    assert np.abs(in_file_order - expected).max() <= TOLERANCE


def test_exported_files_are_plain_json_and_a_dynamic_graph(lstm_export, lstm_run):
    files, predictor, _ = lstm_export
    meta = json.loads(files.settings.read_text(encoding="utf-8"))
    assert files.settings == files.onnx.with_suffix(".json") and files.user_dict is None
    assert meta["input_names"] == ["tokens", "lengths"] and meta["output_names"] == ["probabilities"]
    assert meta["labels"] == ["negative", "positive"] and meta["multi_label"] is False and meta["thresholds"] is None
    assert meta["vocab"]["itos"] == predictor.pipeline.vocab.itos and meta["vocab"]["pad_id"] == 0
    assert meta["text"] == {"tokenizer": "jieba", "hmm": True, "user_dict": None, "lowercase": False, "stopwords": [], "max_len": 80,
                            "max_chars": 80 * 20, "backoff": "char"}
    graph = onnx.load(str(files.onnx)).graph
    assert {node.op_type for node in graph.node} >= {"LSTM"} and "Loop" not in {node.op_type for node in graph.node}
    lstm = next(node for node in graph.node if node.op_type == "LSTM")
    assert len(lstm.input) >= 5 and lstm.input[4]  # sequence_lens is wired: each row is read within its length
    assert [i.name for i in graph.input] == ["tokens", "lengths"] and [o.name for o in graph.output] == ["probabilities"]
    dims = [[d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input]
    assert all(dims[0]) and len(dims[0]) == 2 and dims[1] == [dims[0][0]]  # dynamic batch and length, one batch dimension
    assert not [p for p in files.onnx.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def gru_run(sample, tmp_path_factory):
    """A unidirectional two-layer GRU pooling its last state, with a jieba user dictionary and stopwords."""
    d = tmp_path_factory.mktemp("gru")
    user_dict = d / "user_dict.txt"
    user_dict.write_text("性价比很高 10 n\n物流很快 10 n\n", encoding="utf-8")
    stopwords = d / "stop.txt"
    stopwords.write_text("的\n了\n", encoding="utf-8")
    return train_on_sample(sample, "gru", "onnx-gru", *TINY, "--unidirectional", "--num-layers", "2", "--pooling", "last",
                           "--user-dict", str(user_dict), "--stopwords", str(stopwords))[1]


def test_unidirectional_gru_with_user_dictionary_and_stopwords(gru_run, sample, tmp_path):
    files = export_onnx(gru_run, tmp_path / "gru.onnx")
    assert files.user_dict == tmp_path / "gru.user_dict.txt" and "性价比很高" in files.user_dict.read_text(encoding="utf-8")
    meta = json.loads(files.settings.read_text(encoding="utf-8"))
    assert meta["text"]["user_dict"] == "gru.user_dict.txt" and meta["text"]["stopwords"] == ["了", "的"]
    assert meta["model"]["cell"] == "gru" and meta["model"]["num_layers"] == 2 and meta["model"]["bidirectional"] is False
    assert sum(node.op_type == "GRU" for node in onnx.load(str(files.onnx)).graph.node) == 2
    exported, pipeline = OnnxPredictor(files.onnx), Predictor(gru_run).pipeline
    assert "性价比很高" in exported.tokenize("这个性价比很高的")  # the copied user dictionary is used
    for text in varied_texts(sample):
        assert exported.encode(text) == (pipeline.vocab.encode(pipeline.tokens(text))[:80] or [pipeline.vocab.unk_id])
    report = check_parity(gru_run, files.onnx, varied_texts(sample) + texts_of(sample["test"])[:100])
    assert report.passed and not report.label_mismatches and report.end_to_end_diff <= TOLERANCE


def test_rnn_with_attention_without_word_characters(sample, tmp_path):
    run = train_on_sample(sample, "rnn", "onnx-rnn", *TINY, "--pooling", "attention", "--no-word-chars", "--backoff", "none",
                          "--tokenizer", "char")[1]
    files = export_onnx(run, tmp_path / "rnn.onnx", opset=18)
    assert "RNN" in {node.op_type for node in onnx.load(str(files.onnx)).graph.node}
    report = check_parity(run, files.onnx, varied_texts(sample))
    assert report.passed and report.graph_diff <= TOLERANCE


def test_multi_label_run_exports_its_sigmoids_and_thresholds(sample, tmp_path):
    with open(sample["train"], encoding="utf-8", newline="") as handle:
        rows = [(r["text"], r["label"] + ("|物流" if "快递" in r["text"] or "物流" in r["text"] else "")) for r in csv.DictReader(handle)]
    train, dev = write_csv(tmp_path / "train.csv", rows[:1200]), write_csv(tmp_path / "dev.csv", rows[1200:])
    result = run_cli("--model", "lstm", "--multi-label", "--train", str(train), "--dev", str(dev), "--runs-dir", str(tmp_path / "runs"),
                     "--run-name", "ml", *TINY)
    assert result.returncode == 0, result.stderr
    files = export_onnx(tmp_path / "runs" / "ml", tmp_path / "ml.onnx")
    meta = json.loads(files.settings.read_text(encoding="utf-8"))
    predictor = Predictor(tmp_path / "runs" / "ml")
    assert meta["multi_label"] is True and meta["thresholds"] == pytest.approx(list(predictor.thresholds))
    texts = texts_of(sample["test"], 100)
    exported = OnnxPredictor(files.onnx)
    probs = exported.predict_proba(texts)
    assert not np.allclose(probs.sum(1), 1.0)  # a sigmoid per label, not a softmax
    assert np.abs(probs - predictor.predict_proba(texts)).max() <= TOLERANCE
    assert [[n for n, _ in labels] for labels in exported.predict_labels(texts)] == \
        [[n for n, _ in labels] for labels in predictor.predict_labels(texts)]
    assert check_parity(tmp_path / "runs" / "ml", files.onnx, texts).passed


# ------------------------------------------------------------------ the command line and broken cases

def test_export_cli_with_check_passes_on_a_text_file_and_a_csv(lstm_run, sample, tmp_path):
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(t.replace("\t", " ") for t in texts_of(sample["test"], 150)) + "\n", encoding="utf-8")
    out = tmp_path / "cli" / "model.onnx"
    result = run_cli("export", "--run", str(lstm_run), "--out", str(out), "--check", str(lines))
    assert result.returncode == 0, result.stderr
    assert f"written: {out}, {out.with_suffix('.json')}" in result.stdout
    assert "same predicted labels for all 150 texts" in result.stdout and "max |probability difference|" in result.stdout
    assert out.is_file() and out.with_suffix(".json").is_file()
    from_csv = run_cli("export", "--run", str(lstm_run), "--out", str(out), "--check", str(sample["dev"]))
    assert from_csv.returncode == 0, from_csv.stderr
    assert "same predicted labels for all 300 texts" in from_csv.stdout


def test_export_cli_check_fails_in_one_line_when_onnxruntime_disagrees(lstm_run, sample, tmp_path, monkeypatch):
    real = OnnxPredictor.run
    monkeypatch.setattr(OnnxPredictor, "run", lambda self, tokens, lengths: real(self, tokens, lengths)[:, ::-1].copy())  # labels swapped
    result = run_cli("export", "--run", str(lstm_run), "--out", str(tmp_path / "model.onnx"), "--check", str(sample["dev"]))
    assert_user_error(result, "ONNX parity check failed", "of 300 texts get other labels")


def tampered_copy(files, directory: Path) -> Path:
    directory.mkdir()
    for path in (files.onnx, files.settings):
        shutil.copy(path, directory / path.name)
    return directory / files.onnx.name


def test_check_fails_when_the_exported_labels_are_swapped(lstm_export, lstm_run, sample, tmp_path):
    files, _, _ = lstm_export
    onnx_path = tampered_copy(files, tmp_path / "swapped")
    settings = onnx_path.with_suffix(".json")
    meta = json.loads(settings.read_text(encoding="utf-8"))
    meta["labels"] = meta["labels"][::-1]
    settings.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ParityError, match=r"ONNX parity check failed: \d+ of 50 texts get other labels"):
        check_parity(lstm_run, onnx_path, texts_of(sample["test"], 50))


def test_check_fails_when_the_graph_weights_are_changed(lstm_export, lstm_run, sample, tmp_path):
    files, _, _ = lstm_export
    onnx_path = tampered_copy(files, tmp_path / "weights")
    model = onnx.load(str(onnx_path))
    for tensor in model.graph.initializer:  # logits 5% larger: the same labels, other probabilities
        if tensor.name.endswith(("output.weight", "output.bias")):
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * np.float32(1.05), tensor.name))
    onnx.save(model, str(onnx_path))
    with pytest.raises(ParityError, match=r"max \|probability difference\| .* exceeds 1e-05"):
        check_parity(lstm_run, onnx_path, texts_of(sample["test"], 50))


def test_damaged_files_are_clear_errors(lstm_export, tmp_path):
    files, _, _ = lstm_export
    onnx_path = tampered_copy(files, tmp_path / "damaged")
    onnx_path.write_bytes(onnx_path.read_bytes()[:1000])
    with pytest.raises(DataError, match="not a loadable ONNX model"):
        OnnxPredictor(onnx_path)
    settings = onnx_path.with_suffix(".json")
    settings.write_text(json.dumps({"format": "rnn-toolkit-onnx/1", "labels": "negative"}), encoding="utf-8")
    with pytest.raises(DataError, match="'labels' must be distinct strings"):
        OnnxPredictor(onnx_path)
    settings.unlink()
    with pytest.raises(DataError, match="missing"):
        OnnxPredictor(onnx_path)


def test_tfidf_run_is_refused_in_one_line(sample, tmp_path):
    _, run = train_on_sample(sample, "tfidf", "onnx-tfidf", "--tfidf-classifier", "logreg")
    result = run_cli("export", "--run", str(run), "--out", str(tmp_path / "m.onnx"))
    assert_user_error(result, "--model tfidf run", "only recurrent runs (--model rnn, gru or lstm) export to ONNX")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_usage_errors(lstm_run, tmp_path):
    assert_user_error(run_cli("export", "--run", str(lstm_run), "--out", str(tmp_path / "m.json")), "ending in .onnx")
    assert_user_error(run_cli("export", "--run", str(lstm_run), "--out", str(tmp_path / "m.onnx"), "--check", str(tmp_path / "none.txt")),
                      "none.txt")
    assert_user_error(run_cli("export", "--run", str(lstm_run), "--out", str(tmp_path / "m.onnx"), "--opset", "12"), "--opset")
    assert_user_error(run_cli("export", "--run", str(tmp_path / "no-run"), "--out", str(tmp_path / "m.onnx")), "no-run")
    assert not (tmp_path / "m.onnx").exists()
