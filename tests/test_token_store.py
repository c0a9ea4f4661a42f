"""The token store: token lists in, the same token lists out, compactly and memory-mapped."""

import json
import random
import shutil
from collections import Counter

import numpy as np
import pytest

from data_processor.token_store import (
    BLOCK_TOKENS,
    StoreWriter,
    TokenLists,
    TokenStore,
    concat_ranges,
    read_blocks,
    read_store,
)

ODD = [["好", "吃"], [], ["a\x1fb", "x\x1ey", ""], ["\x00", " ", "  ", "\ud800lone", "😀", "\u2028"], [], ["好", "好", "é"]]


def random_lists(seed: int, count: int) -> list[list[str]]:
    rng = random.Random(seed)
    words = ["好", "吃", "性价比", "  ", "", "a b", "x", "\x1f"] + [f"w{i}" for i in range(40)]
    return [[rng.choice(words) for _ in range(rng.choice([0, 0, 1, 3, 12]))] for _ in range(count)]


def write_store(directory, token_lists, chunk: int, key: str = "key") -> TokenStore:
    directory.mkdir()
    writer = StoreWriter(directory)
    for i in range(0, len(token_lists), chunk):
        writer.add(token_lists[i:i + chunk])
    writer.finish(key)
    return read_store(directory, key)


def test_in_memory_store_round_trips_empty_texts_and_odd_tokens():
    store = TokenStore.from_lists(ODD)
    assert list(store) == ODD and len(store) == len(ODD)
    assert [store[i] for i in range(len(ODD))] == ODD and store[-1] == ODD[-1]
    assert store.ids.dtype == np.int32 and store.offsets.dtype == np.int64
    assert len(store.table) == len(set(t for tokens in ODD for t in tokens))  # each distinct token stored once
    with pytest.raises(IndexError):
        store[len(ODD)]


@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_a_store_written_in_chunks_reads_back_the_same_lists_memory_mapped(tmp_path, chunk):
    lists = ODD + random_lists(0, 300)
    store = write_store(tmp_path / "entry", lists, chunk)
    assert list(store) == lists and store.table == TokenStore.from_lists(lists).table
    assert isinstance(store.ids, np.memmap) and isinstance(store.offsets, np.memmap)
    meta = json.loads((tmp_path / "entry" / "meta.json").read_text())
    assert (meta["format"], meta["texts"], meta["tokens"]) == ("rnn-toolkit-tokens/2", len(lists), sum(map(len, lists)))


def test_an_empty_store_reads_back(tmp_path):
    assert list(write_store(tmp_path / "none", [], 10)) == []
    assert list(write_store(tmp_path / "blank", [[], []], 10)) == [[], []]


def test_read_store_refuses_another_key_or_format(tmp_path):
    write_store(tmp_path / "entry", ODD, 2, key="mine")
    with pytest.raises(ValueError, match="it belongs to other texts or settings"):
        read_store(tmp_path / "entry", "yours")
    meta = tmp_path / "entry" / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": "rnn-toolkit-tokens/1"}))
    with pytest.raises(ValueError, match="its format is not rnn-toolkit-tokens/2"):
        read_store(tmp_path / "entry", "mine")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": "rnn-toolkit-tokens/2", "texts": "6"}))
    with pytest.raises(ValueError, match="its counts do not add up"):
        read_store(tmp_path / "entry", "mine")


def test_token_counts_over_all_texts_or_some_rows():
    lists = random_lists(1, 500)
    store = TokenStore.from_lists(lists)
    assert store.token_counts() == Counter(t for tokens in lists for t in tokens)
    rows = np.array(sorted(random.Random(2).sample(range(500), 123)))
    assert store.token_counts(rows) == Counter(t for i in rows for t in lists[i])


def test_token_lists_of_rows_with_each_token_expanded():
    lists = random_lists(3, 200)
    store = TokenStore.from_lists(lists)
    expand = [[t.upper(), t] if t.startswith("w") else ([] if not t.strip() else [t]) for t in store.table]
    by_table = dict(zip(store.table, expand))
    rows = np.array([5, 0, 199, 7, 7])
    expected = [[piece for t in lists[i] for piece in by_table[t]] for i in rows]
    view = TokenLists(store, rows, expand)
    assert list(view) == expected and list(view) == expected  # restartable
    assert view.sizes().tolist() == [len(e) for e in expected] and len(view) == 5
    assert TokenLists(store).sizes().tolist() == [len(t) for t in lists]


def test_blocks_cover_every_text_once_and_stay_small():
    sizes = np.array([0, 3, BLOCK_TOKENS + 5, 1, 0, 2] * 50)
    ids = np.arange(int(sizes.sum())) % 7
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    blocks = list(read_blocks(ids, offsets))
    assert np.array_equal(np.concatenate([s for _, s in blocks]), sizes)
    assert np.array_equal(np.concatenate([b for b, _ in blocks]), ids)
    assert all(len(b) <= BLOCK_TOKENS or len(s) == 1 for b, s in blocks)  # only a text longer than the budget is alone over it
    ((block, block_sizes),) = read_blocks(ids, offsets, np.array([5, 1]))  # some texts, in the order given
    assert block_sizes.tolist() == [2, 3] and block.tolist() == ids[offsets[5]:offsets[5] + 2].tolist() + ids[0:3].tolist()


def test_concat_ranges():
    assert concat_ranges(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist() == [5, 6, 9, 10, 11]
    assert concat_ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []


def test_a_corrupted_store_is_refused_with_a_value_or_os_error_never_another(tmp_path):
    source = tmp_path / "source"
    write_store(source, ODD * 5, 7, key="k")
    rng = random.Random(0)
    for trial in range(300):
        entry = tmp_path / f"t{trial}"
        shutil.copytree(source, entry)
        victim = entry / rng.choice(sorted(p.name for p in entry.iterdir()))
        data = bytearray(victim.read_bytes())
        if trial % 3 == 0 and data:  # header bytes replaced by characters that parse in odd ways
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(min(len(data), 128))] = rng.choice(b"{}()[]',: \n\\x0123456789<>|fiuU\"")
        elif trial % 3 == 1:
            data = data[:rng.randrange(len(data) + 1)]
        else:
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 30)))
        victim.write_bytes(bytes(data))
        try:
            list(read_store(entry, "k"))
        except (ValueError, OSError, EOFError):
            pass
