"""End-to-end: pretrain vectors with ``run.py vectors``, train a classifier on them with ``--embedding FILE``, bad inputs."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors

import run
from data_processor.vectors.cache import CACHE_ENV
from tests.helpers import fast_flags, run_cli

POSITIVE, NEGATIVE, COMMON = "好 很好 喜欢 满意 不错 推荐".split(), "差 很差 失望 退货 垃圾 糟糕".split(), "这个 东西 我 的 了 是 Rare".split()
TINY = fast_flags(tokenizer="whitespace", min_freq=1, hidden_size=8, batch_size=16, embedding=None, embed_dim=None, max_len=None,
                  seed=None)  # the embedding options are each test's


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    """Caches made in-process or by run.py subprocesses (which inherit the environment) go to tmp_path."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def data(tmp_path) -> dict[str, Path]:
    """A tiny pre-segmented review CSV (train and dev) and an unlabelled corpus with the same words but "Rare"."""
    rng = random.Random(0)
    rows = []
    for i in range(80):
        label = "pos" if i % 2 else "neg"
        words = rng.sample(COMMON[:-1], 3) + rng.sample(POSITIVE if label == "pos" else NEGATIVE, 2)
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    rows.append(("Rare 好", "pos"))
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    for path, part in ((train, rows[8:]), (dev, rows[:8])):
        with open(path, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *part])
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.sample(POSITIVE + NEGATIVE + COMMON[:-1], 6)) for _ in range(200)), encoding="utf-8")
    return {"train": train, "dev": dev, "corpus": corpus, "runs": tmp_path / "runs"}


def main(capsys, *argv: str) -> tuple[int, str, str]:
    code = run.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.e2e
def test_pretrain_then_train_with_the_file(data, tmp_path, cache_in_tmp, capsys):
    vectors = tmp_path / "vectors" / "corpus.w2v.txt"
    code, out, err = main(capsys, "vectors", "--corpus", str(data["corpus"]), "--out", str(vectors), "--tokenizer", "whitespace",
                          "--embed-dim", "12", "--epochs", "2")
    assert code == 0, err
    kv = KeyedVectors.load_word2vec_format(str(vectors))  # any tool can read it
    assert kv.vector_size == 12 and set(kv.index_to_key) == set(POSITIVE + NEGATIVE + COMMON[:-1])
    assert f"{len(kv.index_to_key)} words x 12 written to {vectors}" in out
    assert sorted(p.name for p in vectors.parent.iterdir()) == ["corpus.w2v.txt"]  # written atomically, nothing left over

    result = run_cli("--train", str(data["train"]), "--dev", str(data["dev"]), "--embedding", str(vectors), "--freeze-embedding",
                     "--runs-dir", str(data["runs"]), "--run-name", "frozen", *TINY)
    assert result.returncode == 0, result.stderr
    assert "18 of 19 vocabulary tokens found (94.7%)" in result.stderr  # all but "Rare", which the corpus lacks
    run_dir = data["runs"] / "frozen"
    record = json.loads((run_dir / "embedding.json").read_text(encoding="utf-8"))
    assert record["coverage"]["found"] == 18 and record["coverage"]["missing"] == 1 and record["from_cache"] is False
    assert record["coverage"]["occurrences_covered"] == record["coverage"]["occurrences"] - 1
    assert json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["embed_dim"] == 12  # follows the file
    assert Path(record["cache"]).parent == cache_in_tmp

    # frozen: the trained model still holds the file's rows exactly, and zeros for <pad>
    vocab = json.loads((run_dir / "vocab.json").read_text(encoding="utf-8"))["itos"]
    weight = torch.load(run_dir / "model.pt", weights_only=True)["encoder.embedding.weight"].numpy()
    for i, token in enumerate(vocab):
        if token in kv.key_to_index:
            assert np.array_equal(weight[i], kv[token]), token
    assert not weight[0].any() and weight[vocab.index("Rare")].any()

    # the second run reads the cache; predict works from the run directory alone
    code, out, err = main(capsys, "--train", str(data["train"]), "--dev", str(data["dev"]), "--embedding", str(vectors),
                          "--runs-dir", str(data["runs"]), "--run-name", "finetuned", *TINY)
    assert code == 0, err
    assert "from the cache" in err
    assert json.loads((data["runs"] / "finetuned" / "embedding.json").read_text(encoding="utf-8"))["from_cache"] is True
    code, out, err = main(capsys, "predict", "--run", str(run_dir), "很好 喜欢")
    assert code == 0, err
    assert out.split("\t")[0] in ("pos", "neg")


def test_trained_word2vec_embedding_with_extra_corpus(data, capsys):
    code, out, err = main(capsys, "--train", str(data["train"]), "--embedding", "fasttext", "--vectors-corpus", str(data["corpus"]),
                          "--embed-dim", "10", "--embedding-epochs", "1", "--runs-dir", str(data["runs"]), "--run-name", "ft", *TINY)
    assert code == 0, err
    assert "fasttext trained on training texts + " in err
    record = json.loads((data["runs"] / "ft" / "embedding.json").read_text(encoding="utf-8"))
    assert record["dim"] == 10 and record["coverage"]["token_coverage"] == 1.0
    code, out, err = main(capsys, "--train", str(data["train"]), "--embedding", "fasttext", "--vectors-corpus", str(data["corpus"]),
                          "--embed-dim", "10", "--embedding-epochs", "1", "--runs-dir", str(data["runs"]), "--run-name", "ft2", *TINY)
    assert code == 0, err
    corpus_line = next(line for line in err.splitlines() if line.startswith(f"tokens: {data['corpus']}: "))
    assert "from the cache" in corpus_line  # the corpus is segmented once


def test_missing_vectors_file_exits_2(data, tmp_path, capsys):
    code, _, err = main(capsys, "--train", str(data["train"]), "--embedding", str(tmp_path / "nope.txt"), "--runs-dir", str(data["runs"]), *TINY)
    assert code == 2 and err.startswith("error: ") and "nope.txt: no such vectors file" in err
    assert not data["runs"].exists()


@pytest.mark.parametrize("content,extra,fragments", [
    (b"this is, not vectors\n", [], ["not a vectors file", "bad.txt:1"]),
    (b"2 4\n\xe5\xa5\xbd 1 2 3\n", [], ["bad.txt:2", "says 4 values per row, but this row has 3"]),
    (b"1 3\n\xe5\xa5\xbd 1 2 3\n", ["--embed-dim", "16"], ["--embed-dim 16 does not match", "3 values"]),
])
def test_bad_vectors_files_exit_2(data, tmp_path, capsys, content, extra, fragments):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    code, out, err = main(capsys, "--train", str(data["train"]), "--embedding", str(bad), "--runs-dir", str(data["runs"]), *TINY, *extra)
    assert code == 2
    assert err.startswith("error: ") and all(f in err for f in fragments), err
    assert not data["runs"].exists()


def test_option_mistakes_exit_2(data, tmp_path, capsys):
    code, _, err = main(capsys, "--train", str(data["train"]), "--embedding", "random", "--vectors-corpus", str(data["corpus"]), *TINY)
    assert code == 2 and "--vectors-corpus" in err and "--embedding word2vec or fasttext" in err
    code, _, err = main(capsys, "vectors", "--corpus", str(tmp_path / "none.txt"), "--out", str(tmp_path / "v.txt"))
    assert code == 2 and "none.txt: neither a corpus name" in err


HMM_TEXTS = ["他来到了网易杭研大厦", "小明硕士毕业于中国科学院计算所"]  # jieba's HMM joins 杭研 and 小明; its dictionary alone does not


@pytest.mark.parametrize("hmm", [True, False])
def test_vectors_tokenize_as_a_classifier_with_the_same_hmm_setting(tmp_path, capsys, hmm):
    from data_processor.tokenizers import tokenizer_for
    from train.classify.settings import ClassifierConfig

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(HMM_TEXTS * 3), encoding="utf-8")
    vectors = tmp_path / "v.txt"
    code, _, err = main(capsys, "vectors", "--corpus", str(corpus), "--out", str(vectors), "--tokenizer", "jieba", "--min-count", "1",
                        "--embed-dim", "4", "--epochs", "1", *([] if hmm else ["--no-hmm"]))
    assert code == 0, err
    words = set(KeyedVectors.load_word2vec_format(str(vectors)).index_to_key)
    classifier = tokenizer_for(ClassifierConfig(tokenizer="jieba", hmm=hmm))
    assert words == {token for text in HMM_TEXTS for token in classifier(text)}
    assert ("杭研" in words) is hmm and ("杭" in words) is not hmm
