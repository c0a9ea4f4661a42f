import json
import random

import numpy as np
import pytest

from data_processor.char_backoff import backoff_vocab_from_counts, build_backoff_vocab
from data_processor.base.errors import DataError
from data_processor.token_store import TokenStore
from data_processor.vocab import BOS, EOS, PAD, UNK, Vocab


def test_specials_first_then_frequency_then_token():
    v = Vocab.build([["b", "a", "c"], ["c", "b"], ["c", "d"]])
    assert v.itos == [PAD, UNK, "c", "b", "a", "d"]
    assert v.pad_id == 0 and v.unk_id == 1
    assert v.counts["c"] == 3


def test_min_freq_and_max_size():
    data = [["a", "a", "a", "b", "b", "c"]]
    assert Vocab.build(data, min_freq=2).itos == [PAD, UNK, "a", "b"]
    assert Vocab.build(data, max_size=3).itos == [PAD, UNK, "a"]


def test_encode_decode_and_unknown():
    v = Vocab.build([["好", "吃"]], specials=(PAD, UNK, BOS, EOS))
    assert v.encode(["<bos>", "好", "没见过", "<eos>"]) == [2, v["好"], 1, 3]
    assert v.decode(v.encode(["吃", "好"])) == ["吃", "好"]
    assert "好" in v and "没见过" not in v and len(v) == 6


def test_label_vocab_has_no_unknown():
    labels = Vocab(["negative", "positive"], specials=())
    assert labels.encode(["positive", "negative"]) == [1, 0]
    with pytest.raises(KeyError):
        labels.index("neutral")


def test_save_load_round_trip(tmp_path):
    v = Vocab.build([["天气", "不错"], ["天气"]], specials=(PAD, UNK, EOS))
    v.save(tmp_path / "vocab.json")
    w = Vocab.load(tmp_path / "vocab.json")
    assert w == v and w.specials == v.specials and w.counts == {"天气": 2, "不错": 1}
    assert "天气" in (tmp_path / "vocab.json").read_text(encoding="utf-8")  # readable, not \\u-escaped


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}), encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.json: not a vocabulary file"):
        Vocab.load(tmp_path / "x.json")
    with pytest.raises(DataError, match="no such vocabulary file"):
        Vocab.load(tmp_path / "missing.json")


@pytest.mark.parametrize("content", ["null", "[]", '"itos"', "[" * 5000 + "]" * 5000], ids=["null", "list", "string", "deep"])
def test_load_rejects_json_that_is_not_an_object(tmp_path, content):
    # found by tests/test_fuzz.py: null or a list raised AttributeError, deep nesting RecursionError
    (tmp_path / "v.json").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=r"v\.json: not a vocabulary file \((the JSON is not an object|JSON nested too deeply)"):
        Vocab.load(tmp_path / "v.json")


@pytest.mark.parametrize("min_freq, max_size", [(1, None), (2, None), (3, 5), (1, 2)])
def test_a_vocabulary_from_a_stores_counts_equals_one_built_from_the_lists(min_freq, max_size):
    rng = random.Random(min_freq)
    words = ["性价比", "好", "吃", "不错", "很好吃", "a b", "  ", "x", "y", PAD, UNK, "<bos>"]
    lists = [[rng.choice(words) for _ in range(rng.randint(0, 9))] for _ in range(200)]
    rows = np.array(sorted(rng.sample(range(200), 150)))
    counts = TokenStore.from_lists(lists).token_counts(rows)
    chosen = [lists[i] for i in rows]
    for built, counted in ((Vocab.build(chosen, min_freq, max_size), Vocab.from_counts(counts, min_freq, max_size)),
                           (build_backoff_vocab(chosen, min_freq, max_size), backoff_vocab_from_counts(counts, min_freq, max_size))):
        assert built.itos == counted.itos and built.counts == counted.counts and built.to_dict() == counted.to_dict()
