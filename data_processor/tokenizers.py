"""Tokenizers: text in, a list of tokens out.

``jieba`` (Chinese words), ``rjieba`` (the same words from jieba's Rust port,
about 10x faster: identical to jieba with its HMM turned off), ``char``
(characters), ``english`` (lower-cased words and punctuation, the rules of
torchtext's ``basic_english``) and ``whitespace`` (text that is already
segmented).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Callable, Protocol

from data_processor.base.errors import ConfigError, DataError

TOKENIZERS = ("jieba", "rjieba", "char", "english", "whitespace")
LOWER_CASING = frozenset({"english"})  # the tokenizers that lower-case text; the others keep it as it is
RJIEBA_PIN = "rjieba==0.2.2"
Tokenizer = Callable[[str], list[str]]

# torchtext's basic_english normalisation rules, in its order.
_ENGLISH_RULES = [
    (re.compile(r"\'"), " '  "),
    (re.compile(r"\""), ""),
    (re.compile(r"\."), " . "),
    (re.compile(r"<br \/>"), " "),
    (re.compile(r","), " , "),
    (re.compile(r"\("), " ( "),
    (re.compile(r"\)"), " ) "),
    (re.compile(r"\!"), " ! "),
    (re.compile(r"\?"), " ? "),
    (re.compile(r"\;"), " "),
    (re.compile(r"\:"), " "),
    (re.compile(r"\s+"), " "),
]


def english_tokenize(text: str) -> list[str]:
    """Lower-case and split off punctuation, as torchtext's ``basic_english`` does."""
    text = text.lower()
    for pattern, replacement in _ENGLISH_RULES:
        text = pattern.sub(replacement, text)
    return text.split()


def whitespace_tokenize(text: str) -> list[str]:
    """Split already-segmented text on runs of whitespace."""
    return text.split()


def char_tokenize(text: str) -> list[str]:
    """One token per character, whitespace dropped (for classification)."""
    return [c for c in text if not c.isspace()]


class JiebaTokenizer:
    """Chinese word segmentation with jieba (accurate mode, HMM for unknown words).

    Each instance owns its own ``jieba.Tokenizer``, so a user dictionary never
    leaks into other instances. jieba caches its prefix dictionary in
    ``cache_dir`` (default: the system temp dir, jieba's own choice).
    """

    def __init__(self, user_dict: str | Path | None = None, cache_dir: str | Path | None = None, hmm: bool = True) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            self._jieba.tmp_dir = str(cache_dir)
        self.hmm = hmm
        if user_dict is not None:
            path = Path(user_dict)
            if not path.is_file():
                raise DataError(f"{path}: no such jieba user dictionary (one 'word [freq] [tag]' per line)")
            try:
                self._jieba.load_userdict(str(path))
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataError(f"{path}: not a valid jieba user dictionary ({exc})") from None

    def __call__(self, text: str) -> list[str]:
        return [t for t in self._jieba.lcut(text, HMM=self.hmm) if not t.isspace() and t]

    def initialize(self) -> None:
        """Load the dictionary now (otherwise the first call does), e.g. before forking worker processes."""
        self._jieba.initialize()


class RJiebaTokenizer:
    """jieba's dictionary segmentation from its Rust port (PyPI ``rjieba``), HMM off.

    On all 17,363 reviews-zh texts its tokens are identical to
    ``jieba.lcut(text, HMM=False)`` (``--tokenizer jieba --no-hmm``); with the
    HMM on the two differ on about 2% of texts (runs of digits and symbols).
    It takes no user dictionary.
    """

    def __init__(self) -> None:
        try:
            import rjieba
        except ImportError:
            raise ConfigError(f"rjieba is not installed: pip install {RJIEBA_PIN} (or use --tokenizer jieba)") from None
        self._cut = rjieba.cut

    def __call__(self, text: str) -> list[str]:
        return [t for t in self._cut(text, False) if not t.isspace() and t]


def get_tokenizer(name: str, user_dict: str | Path | None = None, cache_dir: str | Path | None = None, hmm: bool = True) -> Tokenizer:
    """Return the tokenizer called ``name``; ``user_dict`` and ``hmm`` apply to jieba only."""
    if name == "jieba":
        return JiebaTokenizer(user_dict=user_dict, cache_dir=cache_dir if cache_dir is not None else os.environ.get("JIEBA_CACHE_DIR"), hmm=hmm)
    if user_dict is not None:
        raise ConfigError(f"--user-dict works with the jieba tokenizer only, not {name!r}")
    if name == "rjieba":
        return RJiebaTokenizer()
    simple = {"char": char_tokenize, "english": english_tokenize, "whitespace": whitespace_tokenize}
    if name not in simple:
        raise ConfigError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return simple[name]


class TokenizerSettings(Protocol):
    """What a run records about its tokenizer (`train.common.text_settings.TextSettings`, the vectors settings)."""

    tokenizer: str
    user_dict: str | None
    hmm: bool


def tokenizer_for(settings: TokenizerSettings, user_dict: str | Path | None = None) -> Tokenizer:
    """The tokenizer ``settings`` describe: the one factory every caller uses, so that training, word vectors,
    prediction and export segment text alike. ``user_dict`` replaces the settings' own (a run's saved copy)."""
    return get_tokenizer(settings.tokenizer, user_dict=user_dict if user_dict is not None else settings.user_dict, hmm=settings.hmm)


def lowercases(name: str) -> bool:
    """True when the tokenizer called ``name`` lower-cases text (an exported model must do the same)."""
    return name in LOWER_CASING


def tokenizer_identity(name: str, user_dict: str | Path | None = None, hmm: bool = True) -> str:
    """A string that changes whenever the tokens the named tokenizer gives could change (for cache keys)."""
    parts = [name]
    if name in ("jieba", "rjieba"):
        from importlib.metadata import PackageNotFoundError, version

        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} not installed")
    if name == "jieba":
        parts.append(f"hmm {hmm}")
        if user_dict is not None:
            parts.append("user dict " + hashlib.sha256(Path(user_dict).read_bytes()).hexdigest())
    return "; ".join(parts)
