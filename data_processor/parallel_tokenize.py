"""Tokenize many texts over all cores: a process pool over chunks, results in the input order.

Workers are forked, so they inherit the parent's tokenizer with its
dictionary already loaded (a spawned worker would reload jieba's in about a
second each). Where fork is unavailable, or the input is small, the texts are
tokenized in this process: the tokens are the same either way.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from typing import Sequence

from tqdm import tqdm

from data_processor.tokenizers import Tokenizer

PARALLEL_MIN_CHARS = 500_000  # below this (about 7,000 reviews), starting workers costs more than it saves
CHUNK_TEXTS = 500  # texts per task: small enough for a smooth progress bar and balanced workers
TOKEN_SEP, TEXT_SEP = "\x1f", "\x1e"  # ASCII unit and record separators: a worker's chunk travels as one string

_worker_tokenize: Tokenizer | None = None  # set in the parent just before forking; inherited by the workers


def usable_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _tokenize_chunk(texts: list[str]) -> str | list[list[str]]:
    """Tokens of ``texts``, joined into one string when no token holds a separator (else the lists).

    One string pickles and unpickles many times faster than thousands of
    small ones, and the parent that unpickles shares the cores with the workers.
    """
    assert _worker_tokenize is not None, "worker started without a tokenizer"
    tokens = [_worker_tokenize(t) for t in texts]
    glued = "".join(map("".join, tokens))
    if TOKEN_SEP in glued or TEXT_SEP in glued or not all(map(all, tokens)):
        return tokens  # a separator inside a token, or an empty token: splitting would not give the tokens back
    return TEXT_SEP.join(map(TOKEN_SEP.join, tokens))


def _split_chunk(chunk: str | list[list[str]]) -> list[list[str]]:
    """Undo `_tokenize_chunk`'s joining."""
    if isinstance(chunk, list):
        return chunk
    return [text.split(TOKEN_SEP) if text else [] for text in chunk.split(TEXT_SEP)]


def tokenize_all(texts: Sequence[str], tokenize: Tokenizer, workers: int | None = None, progress: bool = True,
                 min_chars: int = PARALLEL_MIN_CHARS, desc: str = "tokenizing") -> list[list[str]]:
    """``[tokenize(t) for t in texts]``, over ``workers`` processes (default: all usable cores) when it pays.

    It pays when the texts hold at least ``min_chars`` characters, more than
    one worker is asked for, and the platform can fork.
    """
    global _worker_tokenize
    workers = usable_cores() if workers is None else workers
    parallel = workers > 1 and "fork" in multiprocessing.get_all_start_methods() and sum(map(len, texts)) >= min_chars
    bar = tqdm(total=len(texts), desc=desc + (f" ({workers} processes)" if parallel else ""), unit="text", file=sys.stderr,
               leave=False, disable=None if progress else True, mininterval=0.5)
    if not parallel:
        out = []
        for text in texts:
            out.append(tokenize(text))
            bar.update(1)
        bar.close()
        return out
    initialize = getattr(tokenize, "initialize", None)
    if initialize is not None:
        initialize()  # load the dictionary once, before forking
    chunks = [list(texts[i:i + CHUNK_TEXTS]) for i in range(0, len(texts), CHUNK_TEXTS)]
    out = []
    _worker_tokenize = tokenize
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for chunk, tokens in zip(chunks, pool.imap(_tokenize_chunk, chunks)):
                out.extend(_split_chunk(tokens))
                bar.update(len(chunk))
    finally:
        _worker_tokenize = None
        bar.close()
    return out
