"""Character back-off: words the vocabulary lacks are spelt out as characters.

A word tokenizer leaves every word that training saw fewer than ``min_freq``
times as ``<unk>``: on reviews-zh (jieba, min_freq 2) that is 5% of the dev
tokens and 62% of the dev texts. Chinese words are made of characters that
carry most of their meaning, so instead of ``<unk>`` such a word becomes its
characters (``性价比`` -> ``性 价 比``), each of which has its own embedding.
The vocabulary therefore holds the frequent words plus the characters that
the rare words are made of.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Sequence

from data_processor.vocab import PAD, UNK, Vocab, count_tokens

BACKOFFS = ("char", "none")


def spell_out(tokens: Iterable[str], vocab: Vocab | set[str]) -> list[str]:
    """``tokens`` with each token that is not in ``vocab`` replaced by its characters (whitespace dropped)."""
    out: list[str] = []
    for token in tokens:
        if token in vocab or len(token) == 1:
            out.append(token)
        else:
            out.extend(c for c in token if not c.isspace())
    return out


def build_backoff_vocab(token_lists: Iterable[Iterable[str]], min_freq: int = 1, max_size: int | None = None,
                        specials: Sequence[str] = (PAD, UNK)) -> Vocab:
    """A vocabulary of the words seen ``min_freq`` times plus the characters of the rarer words (see `backoff_vocab_from_counts`)."""
    return backoff_vocab_from_counts(count_tokens(token_lists), min_freq=min_freq, max_size=max_size, specials=specials)


def backoff_vocab_from_counts(counts: Mapping[str, int], min_freq: int = 1, max_size: int | None = None,
                              specials: Sequence[str] = (PAD, UNK)) -> Vocab:
    """`build_backoff_vocab` of token lists in which each token occurs ``counts[token]`` times.

    Characters are counted where `spell_out` would produce them (inside rare
    words, and as one-character words), and kept when seen ``min_freq`` times.
    """
    words = Vocab.from_counts(counts, min_freq=min_freq, specials=specials)
    spelt: Counter[str] = Counter()
    for token, count in counts.items():
        for piece in spell_out((token,), words):
            spelt[piece] += count
    return Vocab.from_counts(spelt, min_freq=min_freq, max_size=max_size, specials=specials)


def word_characters(vocab: Vocab, max_chars: int = 8) -> list[list[int]]:
    """For each vocabulary entry, the ids of its characters that are vocabulary entries themselves (at most
    ``max_chars``, in order); empty for specials and one-character tokens. A model can add these characters'
    vectors to a word's own, so a word shares what its characters have learnt (``性价比`` gets ``性``, ``价``, ``比``)."""
    specials = set(vocab.specials)
    table = []
    for token in vocab.itos:
        if token in specials or len(token) == 1:
            table.append([])
        else:
            table.append([vocab.index(c) for c in token if c in vocab and c not in specials][:max_chars])
    return table
