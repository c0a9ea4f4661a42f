"""The settings of ``run.py vectors`` (train word vectors on a corpus), declared once."""

from __future__ import annotations

from dataclasses import dataclass

from data_processor.corpora import CORPORA
from data_processor.base.settings import Settings, option
from data_processor.tokenizers import TOKENIZERS
from models.choices import DEFAULT_EMBED_DIM
from train.vectors.training import (
    DEFAULT_EPOCHS,
    DEFAULT_MIN_COUNT,
    DEFAULT_WINDOW,
    METHODS,
)


@dataclass
class VectorsSettings(Settings):
    """Which corpora, how to tokenize them, and the word2vec/FastText recipe."""

    corpus: list[str] | None = option(None, f"a corpus name ({', '.join(CORPORA)}) or a UTF-8 text file, one text per line; "
                                      "repeat to combine", required=True)
    out: str = option("", "the vectors file to write", required=True)
    method: str = option("word2vec", "fasttext also learns character n-grams", choices=METHODS)
    tokenizer: str = option("jieba", "use the tokenizer the classifier will use", choices=TOKENIZERS)
    user_dict: str | None = option(None, "jieba user dictionary")
    hmm: bool = option(True, "jieba: no HMM guesses for words missing from its dictionary (as the classifier's --no-hmm)",
                       flag="--no-hmm")
    stopwords: str = option("none", "stopwords to drop, as for train")
    embed_dim: int = option(DEFAULT_EMBED_DIM, "vector size (the classifier's default --embed-dim)", at_least=1)
    embedding_window: int = option(DEFAULT_WINDOW, "context window (as train's --embedding-window)", at_least=1, aliases=("--window",))
    embedding_epochs: int = option(DEFAULT_EPOCHS, "passes over the corpus (as train's --embedding-epochs)", at_least=1,
                                   aliases=("--epochs",))
    embedding_min_count: int = option(DEFAULT_MIN_COUNT, "ignore words seen fewer times (as train's --embedding-min-count)",
                                      at_least=1, aliases=("--min-count",))
    seed: int = option(42, "the same seed gives the same vectors")
    progress: bool = option(True, "no progress bar", flag="--no-progress")
