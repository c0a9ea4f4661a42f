import random

import torch

from data_processor.batching import BucketBatcher


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
