"""Text to batches for the RNN classifier: tokenize (cached), build the vocabularies, encode, batch every split.

Memory stays bounded for large corpora: files are read row by row, tokenized
chunk by chunk into a token store (memory-mapped from the token cache), the
vocabulary is counted from the store, and batches are cut from it lazily; no
stage holds a Python list per text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from data_processor.batching import BucketBatcher, EncodedRows, Expansion
from data_processor.char_backoff import backoff_vocab_from_counts, spell_out
from data_processor.io import Example
from data_processor.base.messages import Log, log_stderr
from data_processor.stopwords import load_stopwords, remove_stopwords
from data_processor.token_cache import TextScan, cache_dir, cached_tokens
from data_processor.token_store import TokenLists, TokenStore
from data_processor.tokenizers import Tokenizer, tokenizer_for, tokenizer_identity
from data_processor.vocab import Vocab
from train.classify.data import (
    LabelledTexts,
    Split,
    encode_label_sets,
    encode_labels,
    read_splits,
)
from train.classify.settings import ClassifierConfig, eval_batch_size

# Texts to label are cut to max_len * CHARS_PER_TOKEN characters before segmentation: far more than max_len tokens
# need (a Chinese word is 1-4 characters), so the model sees the same tokens, without segmenting a whole book first.
CHARS_PER_TOKEN = 20


@dataclass
class TextPipeline:
    """Tokenizer, stopwords and vocabularies: the text -> ids half of a run."""

    tokenize: Tokenizer
    stopwords: frozenset[str]
    vocab: Vocab
    labels: Vocab
    max_len: int
    backoff: str = "none"
    label_sep: str | None = None  # multi-label data: the labels of a cell are joined by it

    def tokens(self, text: str) -> list[str]:
        """The tokens the model sees for ``text``: tokenized, stopwords removed, unknown words spelt out (with char back-off)."""
        return self.with_backoff(remove_stopwords(self.tokenize(text), self.stopwords))

    def with_backoff(self, tokens: Sequence[str]) -> list[str]:
        """``tokens`` with the words the vocabulary lacks spelt out as characters, when back-off is ``char``."""
        return spell_out(tokens, self.vocab) if self.backoff == "char" else list(tokens)

    def backoff_table(self, table: Sequence[str]) -> list[list[str]]:
        """What each token of a store's ``table`` becomes with back-off (itself, its characters, or nothing)."""
        return [self.with_backoff((token,)) for token in table]

    def token_lists(self, store: TokenStore, rows: np.ndarray | None = None) -> TokenLists:
        """The token lists the model sees for texts ``rows`` of ``store`` (default: all), back-off applied: read lazily."""
        return TokenLists(store, rows, self.backoff_table(store.table))

    def encode_labels(self, examples: Sequence[Example], source: str) -> list[int] | np.ndarray:
        """Label ids (a multi-hot matrix for multi-label data); a label that training never saw is a `DataError` naming its line."""
        if self.label_sep is not None:
            return encode_label_sets(self.labels, examples, self.label_sep, source)
        return encode_labels(self.labels, examples, source)

    def batches(self, texts: Sequence[str], batch_size: int, labels: Sequence[int] | np.ndarray | None = None, shuffle: bool = False,
                seed: int = 0) -> BucketBatcher:
        """Length-bucketed batches of ``texts`` (with label ids, if given)."""
        budget = self.max_len * CHARS_PER_TOKEN
        store = TokenStore.from_lists(remove_stopwords(self.tokenize(t[:budget]), self.stopwords) for t in texts)
        return self.store_batches(store, None, batch_size, labels, shuffle, seed)

    def store_batches(self, store: TokenStore, rows: np.ndarray | None, batch_size: int, labels: Sequence[int] | np.ndarray | None = None,
                      shuffle: bool = False, seed: int = 0, rank: int = 0, world: int = 1) -> BucketBatcher:
        """Length-bucketed batches of texts ``rows`` of ``store`` (default: all; tokenized with stopwords removed; back-off
        is applied here), with label ids if given: cut from the store when drawn; with ``world > 1``, process
        ``rank``'s share of each batch (see `BucketBatcher`)."""
        expansion = Expansion.of([self.vocab.encode(tokens) for tokens in self.backoff_table(store.table)])
        return BucketBatcher(EncodedRows(store.ids, store.offsets, rows, expansion), labels, batch_size, pad_id=self.vocab.pad_id,
                             unk_id=self.vocab.unk_id, max_len=self.max_len, shuffle=shuffle, seed=seed, rank=rank,
                             world=world)

    def labelled_batches(self, examples: Sequence[Example], source: str, batch_size: int, shuffle: bool = False,
                         seed: int = 0) -> BucketBatcher:
        """Batches of labelled ``examples``; a label that training never saw is a `DataError` naming its line."""
        return self.batches([e.text for e in examples], batch_size, self.encode_labels(examples, source), shuffle, seed)


@dataclass
class PreparedData:
    """What training needs from the data: the text pipeline, the training texts' token lists as the model sees them
    (back-off applied; a restartable iterable read from the token store), batches per split,
    ``tokenize_texts(texts, name)``: more texts tokenized as the training texts were (cached, back-off applied, read lazily),
    and ``train_texts()``: the training texts themselves, in row order (read again when called)."""

    pipeline: TextPipeline
    train_tokens: TokenLists
    train: BucketBatcher
    dev: BucketBatcher
    test: BucketBatcher | None
    tokenize_texts: Callable[[Sequence[str], str], TokenLists]
    train_texts: Callable[[], list[str]]


def prepare_data(config: ClassifierConfig, log: Log = log_stderr, rank: int = 0, world: int = 1) -> PreparedData:
    """Read the splits, tokenize them, build the vocabularies and batch every split (training batches shuffled); with
    ``world > 1``, every split's batches are process ``rank``'s shares.

    Each file is tokenized once, into one token store (a dev split held out
    of the training file is a set of its rows).
    """
    stopwords = load_stopwords(config.stopwords)
    splits = read_splits(config, log)
    log(f"data: {splits.source}: {len(splits.train)} train, {len(splits.dev)} dev, {len(splits.test) if splits.test else 0} test")

    tokenize = tokenizer_for(config)
    identity, directory = tokenizer_identity(config.tokenizer, config.user_dict, config.hmm), cache_dir(config.token_cache)

    def tokenize_texts(texts: Iterable[str], name: str, scan: TextScan | None = None) -> TokenStore:
        return cached_tokens(texts, tokenize, identity, stopwords, directory, config.workers, config.progress, name, log, scan)

    stores: dict[int, TokenStore] = {}

    def store(data: LabelledTexts, name: str) -> TokenStore:
        if id(data) not in stores:
            stores[id(data)] = tokenize_texts(data.texts, name, data.scan)
        return stores[id(data)]

    train_store = store(splits.train.data, "train")
    counts = train_store.token_counts(splits.train.rows)
    build_vocab = backoff_vocab_from_counts if config.backoff == "char" else Vocab.from_counts
    vocab = build_vocab(counts, min_freq=config.min_freq, max_size=config.max_vocab)
    sep = config.label_sep if config.multi_label else None
    labels = splits.train.multi_label_vocab(sep) if sep is not None else splits.train.label_vocab()
    pipeline = TextPipeline(tokenize, stopwords, vocab, labels, config.max_len, config.backoff, sep)
    log(f"vocabulary: {len(vocab)} tokens (min_freq {config.min_freq}, back-off {config.backoff}); labels: {', '.join(labels.itos)}")

    def batches(split: Split, name: str, batch_size: int, shuffle: bool = False) -> BucketBatcher:
        targets = split.label_matrix(labels, sep) if sep is not None else split.label_ids(labels)
        return pipeline.store_batches(store(split.data, name), split.rows, batch_size, targets, shuffle, config.seed, rank, world)

    train_batches = batches(splits.train, "train", config.batch_size, shuffle=True)
    eval_batch = eval_batch_size(config)
    dev_batches = batches(splits.dev, "dev", eval_batch)
    test_batches = batches(splits.test, "test", eval_batch) if splits.test is not None else None
    return PreparedData(pipeline, pipeline.token_lists(train_store, splits.train.rows), train_batches, dev_batches, test_batches,
                        lambda texts, name: pipeline.token_lists(tokenize_texts(texts, name)), splits.train.texts)
