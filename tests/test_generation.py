"""Sampling (temperature, top-k, seeds, primes) and greedy continuation scoring."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from data_processor.base.errors import ConfigError, DataError
from models.sampling import greedy_id, next_distribution
from tests.char_lm_helpers import MEMO_LINES, train_tiny, write_memo, write_sentences
from train.charlm.generation import (
    CharGenerator,
    continuation_scores,
    evaluate_continuations,
)


@pytest.fixture(scope="module")
def memo_run(tmp_path_factory) -> str:
    """A small GRU that has learned four lines by heart (line corpus)."""
    root = tmp_path_factory.mktemp("memo")
    write_memo(root / "memo.txt", repeats=30)
    return train_tiny(root / "memo.txt", root / "runs", "memo", lines=True, epochs=12, batch_size=4, seq_len=24, lr=5e-3)["run"]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> str:
    """A numpy char-RNN trained briefly on running text."""
    root = tmp_path_factory.mktemp("text")
    write_sentences(root / "s.txt")
    return train_tiny(root / "s.txt", root / "runs", "text", cell="numpy-rnn", hidden_size=32, batch_size=4, seq_len=25, epochs=2)["run"]


def _conditional_entropy(text: str) -> float:
    """Empirical entropy (nats) of a character given the one before it."""
    pairs, firsts, n = Counter(zip(text, text[1:])), Counter(text[:-1]), len(text) - 1
    return -sum(c / n * math.log(c / firsts[a]) for (a, _), c in pairs.items())


def test_next_distribution_temperature_top_k_and_forbidden():
    logits = np.array([2.0, 1.0, 0.5, -1.0, 3.0])
    base = next_distribution(logits)
    np.testing.assert_allclose(base, np.exp(logits) / np.exp(logits).sum())
    entropies = [-(p * np.log(p)).sum() for p in (next_distribution(logits, t) for t in (0.3, 1.0, 2.0))]
    assert entropies[0] < entropies[1] < entropies[2]
    top2 = next_distribution(logits, top_k=2)
    assert set(np.flatnonzero(top2)) == {0, 4} and top2.sum() == pytest.approx(1.0)
    assert next_distribution(logits, forbidden=[4])[4] == 0.0
    assert greedy_id(logits) == 4 and greedy_id(logits, forbidden=[4]) == 0
    assert np.isfinite(next_distribution(np.array([1000.0, 0.0]), 0.01)).all()  # the max is subtracted first
    with pytest.raises(ValueError):
        next_distribution(logits, 0.0)


def test_samples_are_reproducible_with_a_seed(text_run):
    generator = CharGenerator(text_run)
    first = generator.samples("the", count=2, length=80, seed=7)
    assert first == generator.samples("the", count=2, length=80, seed=7)
    assert first != generator.samples("the", count=2, length=80, seed=8)
    assert all(s.startswith("the") and len(s) == 83 for s in first)


def test_lower_temperature_gives_lower_sample_entropy(text_run):
    generator = CharGenerator(text_run)
    entropies = [_conditional_entropy(generator.samples("", length=1500, seed=1, temperature=t)[0]) for t in (0.5, 1.0, 2.0)]
    assert entropies[0] < entropies[1] - 0.1 and entropies[1] < entropies[2] - 0.1, entropies


def test_top_k_one_is_greedy(text_run):
    generator = CharGenerator(text_run)
    a = generator.samples("a dog", length=40, seed=1, top_k=1)
    b = generator.samples("a dog", length=40, seed=2, top_k=1)
    assert a == b


def test_line_corpus_samples_stop_at_end_of_line(memo_run):
    generator = CharGenerator(memo_run)
    samples = generator.samples("", count=20, length=200, seed=0, temperature=0.3)
    assert all("\n" not in s and 0 < len(s) < 200 for s in samples)
    assert sum(s in MEMO_LINES for s in samples) >= 16  # a model that learned four lines mostly says them at low temperature
    capped = generator.samples("jumps", count=1, length=3, seed=0)[0]
    assert capped == "jumps ov"


def test_bad_sampling_requests_are_config_errors(memo_run):
    generator = CharGenerator(memo_run)
    with pytest.raises(ConfigError, match=r"never saw: 'Z', 'é'"):
        generator.samples("Zé the", count=1)
    with pytest.raises(ConfigError, match="--temperature must be > 0"):
        generator.samples("the", temperature=0)
    with pytest.raises(ConfigError, match="--top-k"):
        generator.samples("the", top_k=-1)


def test_continuation_scores_by_hand():
    scores = continuation_scores(["brown fox ", "the lazy cat", "", "abc"], [" brown fox", "the lazy dog", "xy", "abd"])
    assert scores["lines"] == 4
    assert scores["exact_match"] == pytest.approx(1 / 4)
    assert scores["char_accuracy"] == pytest.approx((9 + 9 + 0 + 2) / (9 + 12 + 2 + 3))


def test_eval_on_hand_made_files(memo_run, tmp_path):
    prefixes, gold = tmp_path / "test_x.txt", tmp_path / "test_y.txt"
    prefixes.write_text("the quick\njumps over\nhello wo\none two\n", encoding="utf-8")
    gold.write_text(" brown fox\n the lazy dog\nrld again\n three five\n", encoding="utf-8")  # the last gold differs from training
    out = tmp_path / "out" / "pred.txt"
    result = evaluate_continuations(CharGenerator(memo_run), str(prefixes), str(gold), str(out))
    assert out.read_text(encoding="utf-8").splitlines() == [" brown fox", " the lazy dog", "rld again", " three four"]
    assert result.scores["exact_match"] == pytest.approx(0.75)
    assert result.scores["char_accuracy"] == pytest.approx((9 + 12 + 9 + 7) / (9 + 12 + 9 + 10))
    assert result.unknown_chars == 0


def test_eval_builds_pairs_from_the_held_out_lines(memo_run):
    result = evaluate_continuations(CharGenerator(memo_run), count=8)
    run = CharGenerator(memo_run).run
    prefixes = run.file("eval_prefixes.txt").read_text(encoding="utf-8").splitlines()
    golds = run.file("eval_gold.txt").read_text(encoding="utf-8").splitlines()
    assert len(prefixes) == len(golds) == 8
    assert all(p + g in MEMO_LINES for p, g in zip(prefixes, golds))
    assert result.scores["exact_match"] == 1.0 and result.scores["lines"] == 8


def test_eval_reads_unknown_prefix_characters_as_unk_and_checks_pairs(memo_run, tmp_path):
    prefixes, gold = tmp_path / "x.txt", tmp_path / "y.txt"
    prefixes.write_text("hello wö\n", encoding="utf-8")
    gold.write_text("rld again\n", encoding="utf-8")
    result = evaluate_continuations(CharGenerator(memo_run), str(prefixes), str(gold), str(tmp_path / "p.txt"))
    assert result.unknown_chars == 1 and result.scores["lines"] == 1
    gold.write_text("rld again\nextra\n", encoding="utf-8")
    with pytest.raises(DataError, match="has 1 lines but"):
        evaluate_continuations(CharGenerator(memo_run), str(prefixes), str(gold), str(tmp_path / "q.txt"))
    assert not (tmp_path / "q.txt").exists()
    with pytest.raises(ConfigError, match="both --test"):
        evaluate_continuations(CharGenerator(memo_run), str(prefixes), None)
