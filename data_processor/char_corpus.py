"""A text corpus as streams of character ids, for the character-level generators.

Running text (tinyshakespeare, any plain file) is read character by character,
newlines included. A line-oriented corpus (dinosaur names, lyric lines) holds
one item per line: each non-blank line is stripped and followed by the
end-of-sequence symbol ``<eos>``, and the stream also starts with ``<eos>``,
so the symbol means both "this item ends" and "a new item starts here".

The held-out (validation) slice is the corpus's tail: its last ``val_ratio``
of lines (line corpora) or of characters, cut at a line start (running text).
The character vocabulary is built from the whole file, as char-rnn does, so
every character of the held-out slice has an id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.corpora import corpus_path, is_line_oriented, read_text
from data_processor.base.errors import DataError
from data_processor.io import check_input_file
from data_processor.vocab import EOS, UNK, Vocab


@dataclass
class CharCorpus:
    """A corpus split into training and held-out id streams, with its character vocabulary."""

    path: Path
    line_oriented: bool
    vocab: Vocab
    train_ids: np.ndarray  # int64 ids of the training stream
    val_ids: np.ndarray  # int64 ids of the held-out stream
    val_lines: list[str]  # the held-out items (line corpora) or the non-blank held-out lines (running text)


def items_of(text: str) -> list[str]:
    """The items of a line-oriented corpus: its non-blank lines, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def char_vocab(pieces: Sequence[str], line_oriented: bool) -> Vocab:
    """The characters of ``pieces``, most frequent first, after ``<unk>`` (and ``<eos>`` for line corpora)."""
    specials = (UNK, EOS) if line_oriented else (UNK,)
    return Vocab.build((list(p) for p in pieces), min_freq=1, specials=specials)


def encode_items(items: Sequence[str], vocab: Vocab) -> np.ndarray:
    """``<eos> item1 <eos> item2 <eos> ...`` as ids."""
    eos = vocab[EOS]
    ids = [eos]
    for item in items:
        ids.extend(vocab.encode(item))
        ids.append(eos)
    return np.asarray(ids, dtype=np.int64)


def encode_text(text: str, vocab: Vocab) -> np.ndarray:
    """Running text as ids, one per character."""
    return np.asarray(vocab.encode(text), dtype=np.int64)


def load_char_corpus(
    name_or_path: str,
    line_oriented: bool | None = None,
    val_ratio: float = 0.1,
    cache_dir: str | Path | None = None,
    shuffle_seed: int | None = None,
) -> CharCorpus:
    """Read a named corpus or a text file and split it into training and held-out streams.

    ``line_oriented`` None means: as the corpus registry says (plain files are
    running text). ``shuffle_seed`` shuffles the items of a line corpus before
    the split, for lists of independent items that come sorted (dinosaur names
    are alphabetical: without shuffling, the held-out tail is the T-Z names
    and every epoch ends on the same letter).
    """
    path = corpus_path(name_or_path, cache_dir)
    lines_mode = is_line_oriented(name_or_path) if line_oriented is None else line_oriented
    text = read_text(path)
    if lines_mode:
        items = items_of(text)
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(items)
        n_val = max(1, round(len(items) * val_ratio))
        if len(items) - n_val < 1:
            raise DataError(f"{path}: {len(items)} non-blank lines are too few to hold out {val_ratio:g} of them for validation; use a bigger corpus")
        vocab = char_vocab(items, True)
        train, val = items[:-n_val], items[-n_val:]
        return CharCorpus(path, True, vocab, encode_items(train, vocab), encode_items(val, vocab), val)
    cut = round(len(text) * (1 - val_ratio))
    newline = text.find("\n", cut)
    if 0 <= newline < len(text) - 2:
        cut = newline + 1
    train, val = text[:cut], text[cut:]
    if len(train) < 2 or len(val) < 2:
        raise DataError(f"{path}: {len(text)} characters are too few to hold out {val_ratio:g} of them for validation; use a bigger corpus")
    vocab = char_vocab([text], False)
    return CharCorpus(path, False, vocab, encode_text(train, vocab), encode_text(val, vocab), items_of(val))


def read_lines(path: str | Path) -> list[str]:
    """Every line of a UTF-8 text file (blank ones included), without line endings."""
    path = Path(path)
    check_input_file(path)
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc.reason}); convert the file to UTF-8") from None


def continuation_pairs(lines: Sequence[str], count: int) -> tuple[list[str], list[str]]:
    """(prefixes, continuations) of the first ``count`` lines of at least two characters: prefix = first half."""
    prefixes, golds = [], []
    for line in lines:
        line = line.strip()
        if len(line) < 2:
            continue
        half = len(line) // 2
        prefixes.append(line[:half])
        golds.append(line[half:])
        if len(prefixes) == count:
            break
    return prefixes, golds
