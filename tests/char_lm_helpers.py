"""Small generated corpora and a tiny-training helper for the character-model tests."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

from train.charlm.pipeline import train_char_lm
from train.charlm.settings import CharLMConfig

MEMO_LINES = ["the quick brown fox", "jumps over the lazy dog", "hello world again", "one two three four"]


def write_sentences(path: Path, n: int = 400, seed: int = 0) -> str:
    """Running text from a tiny grammar: structured enough to learn in seconds."""
    rng = random.Random(seed)
    subjects, verbs, objects = ["the cat", "a dog", "my friend", "the king"], ["sees", "likes", "finds", "keeps"], ["the ball", "a hat", "the moon", "bread"]
    lines = [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}." for _ in range(n)]
    text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def write_names(path: Path, n: int = 300, seed: int = 0) -> list[str]:
    """Made-up dinosaur names, one per line."""
    rng = random.Random(seed)
    syllables, endings = ["ka", "ro", "mi", "tu", "sa", "ne", "lo", "ur"], ["saurus", "don", "raptor"]
    names = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))).capitalize() + rng.choice(endings) for _ in range(n)]
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    return names


def write_memo(path: Path, repeats: int = 40) -> None:
    """A few lines repeated often enough for a small model to learn them by heart."""
    path.write_text("".join(line + "\n" for line in MEMO_LINES * repeats), encoding="utf-8")


def unigram_entropy(symbols: list[str]) -> float:
    """Entropy in nats of the symbols' frequency distribution."""
    counts = Counter(symbols)
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values())


def train_tiny(corpus: Path, runs_dir: Path, name: str, **overrides) -> dict:
    """Train a small model quickly (one thread, no progress bars) and return the summary."""
    settings = dict(corpus=str(corpus), cell="gru", embed_dim=16, hidden_size=48, epochs=4, batch_size=8, seq_len=32,
                    threads=1, device="cpu", runs_dir=str(runs_dir), run_name=name, progress=False)
    settings.update(overrides)
    return train_char_lm(CharLMConfig(**settings), log=lambda _: None)
