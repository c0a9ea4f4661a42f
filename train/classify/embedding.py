"""The classifier's initial embedding matrix: random, trained with gensim on the training texts, or read from a vectors file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

from data_processor.label_names import parse_label_names
from data_processor.base.errors import ConfigError, DataError
from data_processor.base.messages import Log, log_stderr
from data_processor.stopwords import load_stopwords
from data_processor.token_store import TokenLists
from data_processor.vectors.files import VectorFile, open_vectors
from data_processor.vectors.lookup import (
    Embedding,
    embedding_from_file,
    embedding_from_training,
)
from train.vectors.training import (
    Sentences,
    corpus_texts,
    train_word_vectors,
)
from data_processor.vocab import Vocab
from models.choices import DEFAULT_EMBED_DIM
from train.classify.settings import EMBEDDINGS, ClassifierConfig


def check_inputs(config: ClassifierConfig) -> None:
    """The files a config names beyond its data exist and read: the stopword list, the --embedding vectors file and the
    --label-names file (or inline pairs)."""
    load_stopwords(config.stopwords)
    if config.label_names:
        parse_label_names(config.label_names)
    if config.embedding not in EMBEDDINGS and not Path(config.embedding).exists():
        raise DataError(f"{config.embedding}: no such vectors file; --embedding takes {', '.join(EMBEDDINGS)} or the path of a vectors file")


def resolve_embedding(config: ClassifierConfig, unpickle: bool = True) -> tuple[ClassifierConfig, VectorFile | None]:
    """The config with ``embed_dim`` settled, and the vectors file --embedding names (recognised), if it names one.

    The dimension is the vectors file's, else --embed-dim, else `DEFAULT_EMBED_DIM`;
    an --embed-dim that contradicts the file is a `ConfigError`. With ``unpickle=False`` (a dry run) a gensim
    file is not opened and ``embed_dim`` stays as given.
    """
    if config.embedding in EMBEDDINGS:
        return dataclasses.replace(config, embed_dim=config.embed_dim or DEFAULT_EMBED_DIM), None
    vectors = open_vectors(config.embedding, config.trust_pickle, unpickle)
    if vectors.dim is None:
        return config, vectors
    if config.embed_dim is not None and config.embed_dim != vectors.dim:
        raise ConfigError(f"--embed-dim {config.embed_dim} does not match {vectors.path}, whose vectors have {vectors.dim} values; "
                          "leave out --embed-dim: the dimension follows the vectors file")
    return dataclasses.replace(config, embed_dim=vectors.dim), vectors


def build_embedding(config: ClassifierConfig, vectors: VectorFile | None, vocab: Vocab, train_tokens: TokenLists,
                    tokenize_texts: Callable[[Sequence[str], str], TokenLists], log: Log = log_stderr) -> Embedding | None:
    """The embedding matrix --embedding asks for: None for random; vectors trained with gensim; or rows of a vectors file.

    word2vec and fasttext train on ``train_tokens`` (the training texts as the
    classifier sees them) plus --vectors-corpus, tokenized by ``tokenize_texts(texts, name)``
    (as the classifier tokenizes, through the token cache); gensim reads them
    from the token stores on every pass, so they are never all in memory as lists.
    """
    if vectors is not None:
        return embedding_from_file(vectors, vocab, config.seed, config.embedding_cache, log)
    if config.embedding == "random":
        return None
    parts, names = [train_tokens], ["training texts"]
    lines, tokens = _nonempty(train_tokens)
    for corpus in config.corpora():
        extra = tokenize_texts(corpus_texts(corpus), corpus)
        extra_lines, extra_tokens = _nonempty(extra)
        if not extra_lines:
            raise DataError(f"{corpus}: no tokens to train word vectors on")
        log(f"embedding: corpus {corpus}: {extra_lines} lines, {extra_tokens} tokens")
        parts.append(extra)
        names.append(corpus)
        lines, tokens = lines + extra_lines, tokens + extra_tokens
    sentences = Sentences(parts)
    dim = config.embed_dim
    recipe = {"method": config.embedding, "dim": dim, "window": config.embedding_window, "epochs": config.embedding_epochs,
              "min_count": config.embedding_min_count, "seed": config.seed}

    def train() -> Any:
        log(f"embedding: training {config.embedding} ({dim}-d, window {config.embedding_window}, {config.embedding_epochs} epochs, "
            f"min count {config.embedding_min_count}) on {lines} texts, {tokens} tokens")
        return train_word_vectors(sentences, config.embedding, dim, config.embedding_window, config.embedding_epochs,
                                  config.embedding_min_count, config.seed, config.progress)

    return embedding_from_training(train, recipe, sentences, vocab, config.seed, f"{config.embedding} trained on {' + '.join(names)}",
                                   config.embedding_cache, log)


def _nonempty(token_lists: TokenLists) -> tuple[int, int]:
    """How many of the token lists are not empty, and how many tokens they hold."""
    sizes = token_lists.sizes()
    return int((sizes > 0).sum()), int(sizes.sum())
