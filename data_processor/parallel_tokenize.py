"""Tokenize many texts over all cores: a process pool over chunks, results in the input order, streamed.

Workers are forked, so they inherit the parent's tokenizer with its
dictionary already loaded (a spawned worker would reload jieba's in about a
second each). Where fork is unavailable, or the input is small, the texts are
tokenized in this process: the tokens are the same either way.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections import deque
from itertools import islice
from multiprocessing.pool import AsyncResult
from typing import Iterable, Iterator, Sequence

from tqdm import tqdm

from data_processor.base.cores import usable_cores
from data_processor.tokenizers import Tokenizer

PARALLEL_MIN_CHARS = 500_000  # below this (about 7,000 reviews), starting workers costs more than it saves
CHUNK_TEXTS = 500  # texts per task: small enough for a smooth progress bar and balanced workers
TOKEN_SEP, TEXT_SEP = "\x1f", "\x1e"  # ASCII unit and record separators: a worker's chunk travels as one string

IN_FLIGHT_WAIT = 60.0  # seconds a chunk still being tokenized is given to finish when the reader stops early
_worker_tokenize: Tokenizer | None = None  # set in the parent just before forking; inherited by the workers


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


def worker_count(workers: int | None, chars: int, min_chars: int = PARALLEL_MIN_CHARS) -> int:
    """How many processes should segment texts of ``chars`` characters: ``workers`` (default: every usable core) when
    it pays, i.e. the texts hold at least ``min_chars`` characters and the platform can fork; else 1."""
    workers = usable_cores() if workers is None else workers
    return workers if workers > 1 and chars >= min_chars and "fork" in multiprocessing.get_all_start_methods() else 1


def tokenize_all(texts: Sequence[str], tokenize: Tokenizer, workers: int | None = None, progress: bool = True,
                 min_chars: int = PARALLEL_MIN_CHARS, desc: str = "tokenizing") -> list[list[str]]:
    """``[tokenize(t) for t in texts]``, over ``workers`` processes (default: all usable cores) when it pays (see `worker_count`)."""
    processes = worker_count(workers, sum(map(len, texts)), min_chars)
    return [tokens for chunk in tokenize_stream(texts, tokenize, processes, progress, desc, len(texts)) for tokens in chunk]


def tokenize_stream(texts: Iterable[str], tokenize: Tokenizer, processes: int = 1, progress: bool = True, desc: str = "tokenizing",
                    total: int | None = None) -> Iterator[list[list[str]]]:
    """The tokens of ``texts``, in order, in chunks of up to `CHUNK_TEXTS` texts, over ``processes`` forked processes.

    ``texts`` is read lazily: one pool of workers serves the whole stream,
    with at most ``2 * processes`` chunks in flight, so memory holds a few
    chunks, never the whole stream. ``total`` (the number of texts, if known)
    sizes the progress bar.
    """
    global _worker_tokenize
    parallel = processes > 1
    bar = tqdm(total=total, desc=desc + (f" ({processes} processes)" if parallel else ""), unit="text", file=sys.stderr,
               leave=False, disable=None if progress else True, mininterval=0.5)
    chunks = _chunks(texts, CHUNK_TEXTS)
    if not parallel:
        try:
            for chunk in chunks:
                yield [tokenize(text) for text in chunk]
                bar.update(len(chunk))
        finally:
            bar.close()
        return
    initialize = getattr(tokenize, "initialize", None)
    if initialize is not None:
        initialize()  # load the dictionary once, before forking
    _worker_tokenize = tokenize
    pool = multiprocessing.get_context("fork").Pool(processes)
    pending: deque[tuple[int, AsyncResult]] = deque()
    try:
        for chunk in chunks:
            pending.append((len(chunk), pool.apply_async(_tokenize_chunk, (chunk,))))
            if len(pending) >= 2 * processes:
                yield _collect(pending, bar)
        while pending:
            yield _collect(pending, bar)
    finally:
        _worker_tokenize = None
        bar.close()
        _shut_down(pool, [result for _, result in pending])


def _shut_down(pool, in_flight: list[AsyncResult]) -> None:
    """End ``pool`` when its reader stopped, early or not. The chunks still being tokenized are let finish first (a few
    seconds at most): terminating a worker in the middle of sending its answer leaves the pool's result thread waiting
    for the rest of the message forever, which hung a run whose disk filled up while it tokenized."""
    for result in in_flight:
        result.wait(IN_FLIGHT_WAIT)
    if all(result.ready() for result in in_flight):
        pool.close()
    else:  # a worker that never answers (killed by the system): nothing is in the middle of a message from it
        pool.terminate()
    pool.join()


def _collect(pending: deque, bar: tqdm) -> list[list[str]]:
    """The tokens of the oldest chunk in flight, once its worker is done."""
    size, result = pending.popleft()
    tokens = _split_chunk(result.get())
    bar.update(size)
    return tokens


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
