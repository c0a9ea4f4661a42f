"""One vocabulary for every model: tokens to ids and back.

Used for classifier words, classifier labels (a `Vocab` without specials) and
the characters of the generators. The order is deterministic: specials first,
then tokens by descending frequency, ties broken by the token itself.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from data_processor.base.atomic import write_json
from data_processor.base.errors import DataError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
_FORMAT = "rnn-toolkit-vocab/1"


def count_tokens(token_lists: Iterable[Iterable[str]]) -> Counter[str]:
    """How often each token occurs in ``token_lists``."""
    counter: Counter[str] = Counter()
    for tokens in token_lists:
        counter.update(tokens)
    return counter


class Vocab:
    """A bijection between tokens and ids ``0..len-1``, with optional specials.

    Unknown tokens map to ``<unk>`` when the vocabulary has it; without it
    (label vocabularies) they raise ``KeyError``.
    """

    def __init__(self, tokens: Sequence[str], specials: Sequence[str] = (PAD, UNK), counts: dict[str, int] | None = None) -> None:
        self.itos: list[str] = list(specials) + [t for t in tokens if t not in set(specials)]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate tokens in vocabulary")
        self.specials: tuple[str, ...] = tuple(specials)
        self.counts: dict[str, int] = dict(counts or {})

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Iterable[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (PAD, UNK),
    ) -> "Vocab":
        """Count tokens and keep those seen at least ``min_freq`` times, at most ``max_size`` (specials included)."""
        return cls.from_counts(count_tokens(token_lists), min_freq=min_freq, max_size=max_size, specials=specials)

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (PAD, UNK),
    ) -> "Vocab":
        """The vocabulary `build` makes of token lists in which each token occurs ``counts[token]`` times."""
        dropped = set(specials)
        counts = {t: c for t, c in counts.items() if t not in dropped}
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(specials))]
        return cls(ranked, specials=specials, counts=counts)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.index(token)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos and self.specials == other.specials

    def index(self, token: str) -> int:
        """The id of ``token``; ``<unk>``'s id if unknown; ``KeyError`` if there is no ``<unk>``."""
        i = self.stoi.get(token)
        if i is not None:
            return i
        if UNK in self.stoi:
            return self.stoi[UNK]
        raise KeyError(token)

    @property
    def pad_id(self) -> int:
        return self.stoi[PAD]

    @property
    def unk_id(self) -> int:
        return self.stoi[UNK]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Map tokens to ids."""
        return [self.index(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Map ids back to tokens."""
        return [self.itos[i] for i in ids]

    def to_dict(self) -> dict:
        """A JSON-ready description (tokens in id order, the specials, the training counts of kept tokens)."""
        kept = {t: self.counts[t] for t in self.itos if t in self.counts}
        return {"format": _FORMAT, "specials": list(self.specials), "itos": self.itos, "counts": kept}

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON, atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read a vocabulary written by `save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"the JSON is not an object with format {_FORMAT!r}")
            if data.get("format") != _FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {_FORMAT!r}")
            specials = data["specials"]
            return cls(data["itos"][len(specials):], specials=specials, counts=data.get("counts", {}))
        except FileNotFoundError:
            raise DataError(f"{path}: no such vocabulary file") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a vocabulary file ({exc})") from None
        except RecursionError:
            raise DataError(f"{path}: not a vocabulary file (JSON nested too deeply to read)") from None
