"""Stopword lists: built-in lists in ``stopwords/`` by name, or files by path."""

from __future__ import annotations

from pathlib import Path

from data_processor.base.errors import ConfigError, DataError

STOPWORDS_DIR = Path(__file__).resolve().parent.parent / "stopwords"


def available_lists() -> list[str]:
    """Names of the built-in stopword lists."""
    return sorted(p.stem for p in STOPWORDS_DIR.glob("*.txt"))


def read_list(path: Path) -> set[str]:
    """Read one word per line (UTF-8); surrounding whitespace and empty lines are ignored."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: stopword lists must be UTF-8 (bad byte at offset {exc.start})") from None
    return {line.strip() for line in text.splitlines() if line.strip()}


def load_stopwords(spec: str | None) -> frozenset[str]:
    """Resolve ``none``, a built-in name, a path, or a comma-separated union of those."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return frozenset()
    words: set[str] = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        builtin = STOPWORDS_DIR / f"{part}.txt"
        if "/" not in part and "\\" not in part and builtin.is_file():
            words |= read_list(builtin)
        elif Path(part).is_file():
            words |= read_list(Path(part))
        else:
            raise ConfigError(
                f"unknown stopword list {part!r}: not a built-in list ({', '.join(available_lists())}) "
                "nor an existing file; use none to keep every word"
            )
    return frozenset(words)


def remove_stopwords(tokens: list[str], stopwords: frozenset[str]) -> list[str]:
    """Drop the tokens found in ``stopwords``."""
    return [t for t in tokens if t not in stopwords] if stopwords else tokens
