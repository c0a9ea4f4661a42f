"""Train word vectors with gensim (word2vec or FastText) and save them as word2vec text.

Training is skip-gram with negative sampling, on one worker thread, so the
same seed gives the same vectors on the same machine. FastText uses character
n-grams of 2 to 5 characters (so two-character Chinese words still share
n-grams) hashed into 200,000 buckets, and can give a vector to any word.
"""

from __future__ import annotations

import logging
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from tqdm import tqdm

from data_processor.base.atomic import atomic_path
from data_processor.corpora import (
    corpus_path,
    peoples_daily_sentences,
    read_text,
)
from data_processor.base.errors import ConfigError, DataError
from data_processor.base.messages import Log, log_stderr
from data_processor.stopwords import load_stopwords, remove_stopwords
from data_processor.tokenizers import tokenizer_for
from models.choices import DEFAULT_EMBED_DIM

if TYPE_CHECKING:
    from train.vectors.settings import VectorsSettings

METHODS = ("word2vec", "fasttext")
DEFAULT_WINDOW, DEFAULT_EPOCHS, DEFAULT_MIN_COUNT = 5, 5, 1
FASTTEXT_BUCKETS, FASTTEXT_NGRAMS = 200_000, (2, 5)



class _ProgressFromLog(logging.Handler):
    """Moves a progress bar of ``epochs * 100`` units along gensim's INFO lines ('EPOCH 2 - PROGRESS: at 40.00%
    examples', about once a second, and 'EPOCH 2: training on ...' when an epoch ends); every other line is dropped."""

    PROGRESS = re.compile(r"EPOCH (\d+)(?: - PROGRESS: at ([\d.]+)%|: training on)")

    def __init__(self, bar) -> None:
        super().__init__(logging.INFO)
        self.bar = bar

    def emit(self, record: logging.LogRecord) -> None:
        found = self.PROGRESS.search(record.getMessage())
        if found:  # gensim counts epochs from 0 (4.x) or 1: the bar only moves forward either way
            done = (int(found.group(1)) + (float(found.group(2)) / 100 if found.group(2) else 1.0)) * 100
            self.bar.update(max(0, min(self.bar.total, round(done)) - self.bar.n))


@contextmanager
def _gensim_progress(epochs: int, method: str, show: bool) -> Iterator[tqdm]:
    """While gensim trains: a progress bar over its epochs on stderr (``show``; it is given), and none of its
    INFO/WARNING chatter (e.g. 'under 10 jobs per worker' on small corpora) anywhere."""
    logger = logging.getLogger("gensim")
    saved = logger.level, logger.propagate
    bar = tqdm(total=epochs * 100, desc=f"{method} vectors", unit="%", file=sys.stderr, leave=False, disable=None if show else True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| epoch {postfix} [{elapsed}<{remaining}]", mininterval=0.5)
    bar.set_postfix_str(f"of {epochs}", refresh=False)
    handler = _ProgressFromLog(bar)
    logger.setLevel(logging.INFO if show else logging.ERROR)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield bar
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        bar.close()


def corpus_texts(name_or_path: str) -> list[str]:
    """A corpus (a name from data_processor.corpora, or a UTF-8 text file) as its non-blank lines.

    ``peoples-daily`` is already segmented: each line's words are joined with
    spaces, so the whitespace tokenizer keeps its words and jieba or char
    split them as the classifier would.
    """
    if name_or_path == "peoples-daily":
        return [" ".join(words) for words in peoples_daily_sentences()]
    return [text for text in read_text(corpus_path(name_or_path)).splitlines() if text.strip()]


def corpus_sentences(name_or_path: str, tokens: Callable[[str], list[str]]) -> list[list[str]]:
    """A corpus (see `corpus_texts`) as token lists; a `DataError` if it holds no tokens."""
    return nonempty_sentences(name_or_path, [tokens(text) for text in corpus_texts(name_or_path)])


def nonempty_sentences(name_or_path: str, token_lists: Sequence[list[str]]) -> list[list[str]]:
    """The non-empty token lists of a corpus; a `DataError` naming it if none is left."""
    sentences = [t for t in token_lists if t]
    if not sentences:
        raise DataError(f"{name_or_path}: no tokens to train word vectors on")
    return sentences


class Sentences:
    """The non-empty token lists of several restartable iterables, one after another: a restartable iterable, as
    gensim wants (it reads the sentences once to count the words, then once per epoch), that holds none of them."""

    def __init__(self, parts: Sequence[Iterable[list[str]]]) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[list[str]]:
        return (sentence for part in self.parts for sentence in part if sentence)


def train_word_vectors(sentences: Iterable[list[str]], method: str, dim: int = DEFAULT_EMBED_DIM, window: int = DEFAULT_WINDOW,
                       epochs: int = DEFAULT_EPOCHS, min_count: int = DEFAULT_MIN_COUNT, seed: int = 42, progress: bool = False):
    """Train gensim word2vec or FastText vectors on token lists (a list, or a restartable iterable such as
    `Sentences`), with a progress bar on stderr if ``progress``; returns the KeyedVectors."""
    from gensim.models import FastText, Word2Vec

    if method not in METHODS:
        raise ConfigError(f"unknown word-vector method {method!r}; choose one of {', '.join(METHODS)}")
    for name, value in (("dimension", dim), ("window", window), ("epochs", epochs), ("min-count", min_count)):
        if value < 1:
            raise ConfigError(f"word vectors: {name} must be >= 1, got {value}")
    if not any(sentences):
        raise DataError("no tokens to train word vectors on")
    common = dict(sentences=sentences, vector_size=dim, window=window, epochs=epochs, min_count=min_count,
                  seed=seed, workers=1, sg=1)
    with _gensim_progress(epochs, method, progress):
        try:
            if method == "word2vec":
                model = Word2Vec(**common)
            else:
                model = FastText(**common, bucket=FASTTEXT_BUCKETS, min_n=FASTTEXT_NGRAMS[0], max_n=FASTTEXT_NGRAMS[1])
        except RuntimeError as exc:  # gensim: "you must first build vocabulary before training the model"
            raise DataError(f"no word occurs at least {min_count} times (--min-count); nothing to train ({exc})") from None
    return model.wv


def save_word2vec_text(kv, path: str | Path) -> None:
    """Write vectors in word2vec text format (``count dim`` then ``word v1 ... vd``), atomically."""
    with atomic_path(path) as tmp:
        kv.save_word2vec_format(str(tmp), binary=False)


def pretrain_vectors(settings: "VectorsSettings", log: Log = log_stderr):
    """Tokenize the settings' corpora as a classifier would, train vectors on them and save them; returns the KeyedVectors."""
    s = settings
    tokenize = tokenizer_for(s)
    drop = load_stopwords(s.stopwords)
    sentences: list[list[str]] = []
    for name in s.corpus or ():
        part = corpus_sentences(name, lambda text: remove_stopwords(tokenize(text), drop))
        log(f"corpus {name}: {len(part)} lines, {sum(map(len, part))} tokens ({s.tokenizer})")
        sentences += part
    log(f"training {s.method} vectors: {s.embed_dim}-d, window {s.embedding_window}, {s.embedding_epochs} epochs, min count "
        f"{s.embedding_min_count}, seed {s.seed}")
    kv = train_word_vectors(sentences, s.method, s.embed_dim, s.embedding_window, s.embedding_epochs, s.embedding_min_count, s.seed,
                            s.progress)
    save_word2vec_text(kv, s.out)
    return kv
