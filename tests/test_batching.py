import random

import numpy as np
import pytest
import torch

from data_processor.batching import BucketBatcher, EncodedRows, Expansion
from data_processor.char_backoff import build_backoff_vocab, spell_out
from data_processor.token_store import TokenStore
from data_processor.vocab import Vocab
from train.classify.text_pipeline import TextPipeline


def test_rows_are_padded_with_true_lengths_truncated_and_never_empty():
    seqs = [[5, 6, 7], [8], [], [9, 10, 11, 12, 13]]
    b = BucketBatcher(seqs, [0, 1, 0, 1], batch_size=4, pad_id=0, unk_id=1, max_len=4)
    (batch,) = list(b)
    rows = {int(i): (batch.tokens[k], int(batch.lengths[k])) for k, i in enumerate(batch.index)}
    assert rows[2][1] == 1 and rows[2][0][0] == 1  # empty -> <unk>
    assert rows[3][1] == 4 and rows[3][0].tolist() == [9, 10, 11, 12]  # truncated to max_len
    assert rows[1][0].tolist() == [8, 0, 0, 0]
    assert batch.tokens.shape == (4, 4)
    assert sorted(batch.labels.tolist()) == [0, 0, 1, 1]


def test_every_row_once_per_epoch_and_reproducible():
    rng = random.Random(0)
    seqs = [[1] * rng.randint(1, 60) for _ in range(500)]
    make = lambda: BucketBatcher(seqs, [i % 2 for i in range(500)], batch_size=32, shuffle=True, seed=7)
    a, b = make(), make()
    epoch_a = [x.index.tolist() for x in a]
    assert sorted(sum(epoch_a, [])) == list(range(500))
    assert epoch_a == [x.index.tolist() for x in b]
    assert epoch_a != [x.index.tolist() for x in a], "a second epoch should be shuffled differently"


def test_buckets_compute_less_padding_than_random_batches():
    rng = random.Random(1)
    seqs = [[1] * rng.randint(1, 200) for _ in range(2000)]
    bucketed = BucketBatcher(seqs, None, batch_size=32, shuffle=True, seed=0)
    padded_cells = sum(x.tokens.numel() for x in bucketed)
    random_batches = BucketBatcher(seqs, None, batch_size=32, shuffle=True, seed=0, pool_batches=1)
    random_cells = sum(x.tokens.numel() for x in random_batches)
    real = sum(len(s) for s in seqs)
    assert padded_cells < 1.1 * real < random_cells


def test_unshuffled_order_is_sorted_by_length():
    b = BucketBatcher([[1] * n for n in (5, 2, 9, 1)], None, batch_size=2)
    assert [x.lengths.tolist() for x in b] == [[1, 2], [5, 9]]
    assert torch.equal(b.lengths, torch.tensor([5, 2, 9, 1]))


def test_shards_split_each_batch_so_every_row_comes_once_across_processes():
    rng = random.Random(2)
    seqs = [[1] * rng.randint(1, 40) for _ in range(203)]
    labels = [i % 3 for i in range(203)]
    whole = [x.index.tolist() for x in BucketBatcher(seqs, labels, batch_size=16, shuffle=True, seed=5)]
    shards = [list(BucketBatcher(seqs, labels, batch_size=16, shuffle=True, seed=5, rank=r, world=3)) for r in range(3)]
    assert all(len(s) == len(whole) for s in shards), "every process must make the same number of steps"
    for step, rows in enumerate(whole):
        pieces = [shards[r][step] for r in range(3)]
        assert sorted(sum((p.index.tolist() for p in pieces), [])) == sorted(rows)
        assert all(p.total == len(rows) for p in pieces)
        assert max(len(p.index) for p in pieces) - min(len(p.index) for p in pieces) <= 1
        for p in pieces:  # each share is cut to its own longest row
            assert p.tokens.shape[1] == (int(p.lengths.max()) if len(p.index) else 1)


def test_a_share_of_a_batch_smaller_than_the_world_is_empty():
    b = BucketBatcher([[3, 4]], [1], batch_size=4, rank=1, world=2)
    (batch,) = list(b)
    assert len(batch.index) == 0 and batch.total == 1 and batch.tokens.shape == (0, 1)


def eager_batches(seqs, labels, batch_size, pad_id=0, unk_id=1, max_len=None, shuffle=False, seed=0, rank=0, world=1, epochs=2):
    """The batches of the former eager batcher (one padded matrix of every row), drawn with the same algorithm."""
    rows = [list(s[:max_len] if max_len else s) or [unk_id] for s in seqs]
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    matrix = torch.full((len(rows), int(lengths.max()) if rows else 1), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        matrix[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        if not shuffle:
            order = list(torch.sort(lengths, stable=True).indices.split(batch_size))
        else:
            perm, batches = torch.randperm(len(rows), generator=generator), []
            for chunk in perm.split(batch_size * 50):
                batches.extend(chunk[torch.sort(lengths[chunk], stable=True).indices].split(batch_size))
            order = [batches[i] for i in torch.randperm(len(batches), generator=generator)]
        for whole in order:
            idx = whole if world == 1 else torch.tensor_split(whole[torch.sort(lengths[whole], stable=True).indices], world)[rank]
            width = int(lengths[idx].max()) if len(idx) else 1
            out.append((matrix[idx, :width], lengths[idx], torch.tensor(labels)[idx] if labels is not None else None, idx, len(whole)))
    return out


def lazy_batches(batcher, epochs=2):
    return [(b.tokens, b.lengths, b.labels, b.index, b.total) for _ in range(epochs) for b in batcher]


def same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[0].dtype == y[0].dtype == torch.long and x[1].dtype == y[1].dtype == torch.long
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and torch.equal(x[3], y[3]) and x[4] == y[4]
        assert (x[2] is None and y[2] is None) or torch.equal(x[2], y[2])


@pytest.mark.parametrize("max_len", [None, 1, 7])
@pytest.mark.parametrize("shuffle, world", [(False, 1), (True, 1), (True, 3)])
def test_lazy_batches_of_sequences_equal_the_eager_ones(max_len, shuffle, world):
    rng = random.Random(4)
    seqs = [[rng.randrange(2, 50) for _ in range(rng.choice([0, 1, 3, 9, 20]))] for _ in range(333)]
    labels = [rng.randrange(3) for _ in seqs]
    for rank in range(world):
        lazy = BucketBatcher(seqs, labels, 16, pad_id=0, unk_id=1, max_len=max_len, shuffle=shuffle, seed=9, pool_batches=50,
                             rank=rank, world=world)
        same_batches(lazy_batches(lazy), eager_batches(seqs, labels, 16, max_len=max_len, shuffle=shuffle, seed=9, rank=rank, world=world))


@pytest.mark.parametrize("max_len", [None, 1, 4, 30])
def test_rows_of_a_store_through_an_expansion_equal_eager_expanded_sequences(max_len):
    rng = random.Random(5)
    pieces = [[], [7], [8, 9], [10, 11, 12, 13], [], [14]]  # what each token id becomes: some nothing, some several
    texts = [[rng.randrange(len(pieces)) for _ in range(rng.choice([0, 1, 2, 6, 15]))] for _ in range(400)]
    store = TokenStore.from_lists([[str(t) for t in text] for text in texts])
    by_table = [pieces[int(token)] for token in store.table]
    rows = np.array(sorted(rng.sample(range(400), 250)))
    encoded = EncodedRows(store.ids, store.offsets, rows, Expansion.of(by_table))
    expanded = [[v for t in texts[i] for v in pieces[t]] for i in rows]
    labels = [i % 2 for i in rows]
    lazy = BucketBatcher(encoded, labels, 8, pad_id=0, unk_id=1, max_len=max_len, shuffle=True, seed=3)
    same_batches(lazy_batches(lazy), eager_batches(expanded, labels, 8, max_len=max_len, shuffle=True, seed=3))
    assert lazy.num_rows == len(rows) and torch.equal(lazy.labels, torch.tensor(labels))


@pytest.mark.parametrize("backoff", ["char", "none"])
def test_pipeline_batches_of_a_store_equal_the_former_eager_encoding(backoff):
    rng = random.Random(6)
    words = ["性价比", "好", "吃", "不错", "很好吃", "送餐快", "a b", "  ", "x", "难吃极了"]
    lists = [[rng.choice(words) for _ in range(rng.choice([0, 1, 4, 12]))] for _ in range(300)]
    vocab = build_backoff_vocab(lists[:100], min_freq=3) if backoff == "char" else Vocab.build(lists[:100], min_freq=3)
    pipeline = TextPipeline(str.split, frozenset(), vocab, Vocab(["n", "p"], specials=()), max_len=6, backoff=backoff)
    labels = [i % 2 for i in range(300)]
    lazy = pipeline.store_batches(TokenStore.from_lists(lists), None, 32, labels, shuffle=True, seed=1)
    ids = [vocab.encode(spell_out(t, vocab) if backoff == "char" else t) for t in lists]
    same_batches(lazy_batches(lazy, epochs=3), eager_batches(ids, labels, 32, vocab.pad_id, vocab.unk_id, 6, True, 1, epochs=3))
    assert list(pipeline.token_lists(TokenStore.from_lists(lists))) == [pipeline.with_backoff(t) for t in lists]


def test_a_restored_generator_state_draws_the_same_batches_and_a_subset_batches_its_rows():
    seqs = [[1] * n for n in range(1, 120)]
    a = BucketBatcher(seqs, list(range(119)), 8, shuffle=True, seed=2)
    list(a)
    state = a.state_dict()
    first = [x.index.tolist() for x in a]
    a.load_state_dict(state)
    assert [x.index.tolist() for x in a] == first
    part = a.subset([5, 50, 100, 7], shuffle=False)
    (batch,) = list(part)
    assert batch.lengths.tolist() == [6, 8, 51, 101] and batch.labels.tolist() == [5, 7, 50, 100] and batch.tokens.shape == (4, 101)

