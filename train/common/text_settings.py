"""The options of the text -> tokens -> ids pipeline and of the encoder's shape, declared once: shared by the
classifier (``run.py train``) and the language-model pretraining (``run.py pretrain``), so that an encoder pretrained
with some settings is fine-tuned with the very same ones. No torch here, so ``--help`` is fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_processor.char_backoff import BACKOFFS
from data_processor.base.settings import SIZE_LIMIT, Settings, option
from data_processor.stopwords import available_lists
from data_processor.tokenizers import RJIEBA_PIN, TOKENIZERS
from models.choices import DEFAULT_DROPOUT, DEFAULT_EMBED_DIM, DEFAULT_HIDDEN_SIZE

TEXT_FIELDS = ("tokenizer", "user_dict", "hmm", "stopwords", "backoff", "min_freq", "max_vocab", "max_len")  # what makes the ids
SHAPE_FIELDS = ("embed_dim", "hidden_size", "num_layers", "bidirectional", "word_chars")  # what makes the weights' shapes


@dataclass
class TextSettings(Settings):
    """How texts become tokens and ids: tokenizer, stopwords, back-off and vocabulary."""

    tokenizer: str = option("jieba", "jieba: Chinese words; rjieba: the same from jieba's Rust port, ~10x faster, identical to "
                            f"jieba --no-hmm (optional: pip install {RJIEBA_PIN}); char: characters; english: lower-cased words; "
                            "whitespace: pre-segmented", choices=TOKENIZERS, group="text")
    user_dict: str | None = option(None, "jieba user dictionary (one 'word [freq] [tag]' per line)", group="text")
    hmm: bool = option(True, "jieba: no HMM guesses for words missing from its dictionary", flag="--no-hmm", group="text")
    workers: int | None = option(None, "processes for segmentation of large inputs (default: every usable core)", at_least=1, group="text")
    token_cache: str | None = option(None, "where tokenized corpora are cached, so a second run does no segmentation; 'none' turns "
                                     "it off (default: $TOKEN_CACHE_DIR or data/cache/tokens)", metavar="DIR", group="text")
    stopwords: str = option("none", f"none, a built-in list ({', '.join(available_lists())}), a file path, or a comma-separated "
                            "union. The default is none for every tokenizer: the lists hold negations (不, 没有) that sentiment needs",
                            group="text")
    backoff: str = option("char", "char: a word seen fewer than --min-freq times is spelt out as its characters (性价比 -> 性 价 比); "
                          "none: it becomes <unk>", choices=BACKOFFS, group="text")
    min_freq: int = option(2, "keep tokens seen at least this often in training", at_least=1, group="text")
    max_vocab: int = option(50000, "largest vocabulary, specials included", at_least=1, group="text")
    max_len: int = option(150, "truncate texts to this many tokens", at_least=1, group="text")


@dataclass
class EncoderSettings(Settings):
    """The shape and regularisation of a `TextEncoder`: embedding, recurrent layers, dropouts."""

    embed_dim: int | None = option(None, f"embedding size (default: {DEFAULT_EMBED_DIM}, or the dimension of the --embedding "
                                   "vectors file or of the --encoder)", at_least=1, at_most=SIZE_LIMIT, group="model")
    hidden_size: int = option(DEFAULT_HIDDEN_SIZE, "hidden units per direction", at_least=1, at_most=SIZE_LIMIT, group="model")
    num_layers: int = option(1, "stacked recurrent layers", at_least=1, group="model")
    bidirectional: bool = option(True, "one direction instead of two", flag="--unidirectional", group="model")
    dropout: float = option(DEFAULT_DROPOUT, "dropout on embeddings, between layers and before the output", at_least=0.0, below=1.0, group="model")
    word_dropout: float = option(0.0, "in training, drop each token (its whole vector) with this probability", at_least=0.0,
                                 below=1.0, group="model")
    word_chars: bool = option(True, "do not add to each word's vector the mean vector of its characters (the character "
                              "tokens' own embeddings), through which rare words share what their characters learnt",
                              flag="--no-word-chars", group="model")
