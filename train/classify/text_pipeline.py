"""Text to batches for the RNN classifier: tokenize (cached), build the vocabularies, encode, batch every split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from data_processor.batching import BucketBatcher
from data_processor.char_backoff import build_backoff_vocab, spell_out
from data_processor.io import Example
from data_processor.messages import Log, log_stderr
from data_processor.stopwords import load_stopwords, remove_stopwords
from data_processor.token_cache import cache_dir, cached_tokens
from data_processor.tokenizers import Tokenizer, get_tokenizer, tokenizer_identity
from data_processor.vocab import Vocab
from train.classify.data import build_label_vocab, encode_labels, load_splits
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

    def tokens(self, text: str) -> list[str]:
        """The tokens the model sees for ``text``: tokenized, stopwords removed, unknown words spelt out (with char back-off)."""
        return self.with_backoff(remove_stopwords(self.tokenize(text), self.stopwords))

    def with_backoff(self, tokens: Sequence[str]) -> list[str]:
        """``tokens`` with the words the vocabulary lacks spelt out as characters, when back-off is ``char``."""
        return spell_out(tokens, self.vocab) if self.backoff == "char" else list(tokens)

    def encode_labels(self, examples: Sequence[Example], source: str) -> list[int]:
        """Label ids; a label that training never saw is a `DataError` naming its line."""
        return encode_labels(self.labels, examples, source)

    def batches(self, texts: Sequence[str], batch_size: int, labels: Sequence[int] | None = None, shuffle: bool = False, seed: int = 0,
                tokens: Sequence[list[str]] | None = None) -> BucketBatcher:
        """Length-bucketed batches of ``texts`` (with label ids, if given); ``tokens``, if given, are the texts already
        tokenized with stopwords removed (back-off is applied here)."""
        if tokens is None:
            budget = self.max_len * CHARS_PER_TOKEN
            tokens = [remove_stopwords(self.tokenize(t[:budget]), self.stopwords) for t in texts]
        ids = [self.vocab.encode(self.with_backoff(t)) for t in tokens]
        return BucketBatcher(ids, labels, batch_size, pad_id=self.vocab.pad_id, unk_id=self.vocab.unk_id, max_len=self.max_len,
                             shuffle=shuffle, seed=seed)

    def labelled_batches(self, examples: Sequence[Example], source: str, batch_size: int, tokens: Sequence[list[str]] | None = None,
                         shuffle: bool = False, seed: int = 0) -> BucketBatcher:
        """Batches of labelled ``examples``; a label that training never saw is a `DataError` naming its line."""
        return self.batches([e.text for e in examples], batch_size, self.encode_labels(examples, source), shuffle, seed, tokens)


@dataclass
class PreparedData:
    """What training needs from the data: the text pipeline, the training tokens, batches per split, and
    ``tokenize_texts(texts, name)``: more texts tokenized as the training texts were (cached, back-off applied)."""

    pipeline: TextPipeline
    train_tokens: list[list[str]]
    train: BucketBatcher
    dev: BucketBatcher
    test: BucketBatcher | None
    tokenize_texts: Callable[[Sequence[str], str], list[list[str]]]


def prepare_data(config: ClassifierConfig, log: Log = log_stderr) -> PreparedData:
    """Read the splits, tokenize them, build the vocabularies and batch every split (training batches shuffled)."""
    stopwords = load_stopwords(config.stopwords)
    splits, names = load_splits(config, log)
    log(f"data: {splits.source}: {len(splits.train)} train, {len(splits.dev)} dev, {len(splits.test)} test")

    tokenize = get_tokenizer(config.tokenizer, user_dict=config.user_dict, hmm=config.hmm)
    identity, directory = tokenizer_identity(config.tokenizer, config.user_dict, config.hmm), cache_dir(config.token_cache)

    def tokenize_texts(texts: Sequence[str], name: str) -> list[list[str]]:
        return cached_tokens(texts, tokenize, identity, stopwords, directory, config.workers, config.progress, name, log)

    def tokens(examples: Sequence[Example], name: str) -> list[list[str]]:
        return tokenize_texts([e.text for e in examples], name)

    train_tokens = tokens(splits.train, "train")
    build_vocab = build_backoff_vocab if config.backoff == "char" else Vocab.build
    vocab = build_vocab(train_tokens, min_freq=config.min_freq, max_size=config.max_vocab)
    labels = build_label_vocab(splits.train, names["train"])
    pipeline = TextPipeline(tokenize, stopwords, vocab, labels, config.max_len, config.backoff)
    train_tokens = [pipeline.with_backoff(t) for t in train_tokens]  # back-off is idempotent: batching applies it again at no change
    log(f"vocabulary: {len(vocab)} tokens (min_freq {config.min_freq}, back-off {config.backoff}); labels: {', '.join(labels.itos)}")

    train_batches = pipeline.labelled_batches(splits.train, names["train"], config.batch_size, train_tokens, shuffle=True, seed=config.seed)
    eval_batch = eval_batch_size(config)
    dev_batches = pipeline.labelled_batches(splits.dev, names["dev"], eval_batch, tokens(splits.dev, "dev"))
    test_batches = pipeline.labelled_batches(splits.test, names["test"], eval_batch, tokens(splits.test, "test")) if splits.test else None
    return PreparedData(pipeline, train_tokens, train_batches, dev_batches, test_batches,
                        lambda texts, name: [pipeline.with_backoff(t) for t in tokenize_texts(texts, name)])
