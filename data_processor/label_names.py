"""Display names for raw labels (``--label-names``): ``0=negative,1=positive``, or a file of such pairs.

A file is a JSON object (``{"0": "negative", "1": "positive"}``), or lines of
``RAW<TAB>NAME`` or ``RAW=NAME`` (blank lines and lines starting with ``#``
are skipped). A label without a display name keeps its own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from data_processor.base.errors import ConfigError, DataError


def parse_label_names(spec: str) -> dict[str, str]:
    """The raw label -> display name mapping ``spec`` gives (inline pairs, or the path of a file of them); a
    `ConfigError` (inline) or `DataError` (a file, naming its line) for a malformed one or a repeated name."""
    path = Path(spec)
    if path.is_file():
        return _checked(_read_file(path), str(path))
    if path.is_dir():
        raise ConfigError(f"--label-names {spec}: is a directory; give a file of RAW=NAME lines, or pairs such as "
                          "'0=negative,1=positive'")
    pairs: list[tuple[str, str, str]] = []
    for number, item in enumerate(spec.split(","), start=1):
        raw, sep, name = item.partition("=")
        if not sep or not raw.strip() or not name.strip():
            raise ConfigError(f"--label-names {spec!r}: item {number} ({item!r}) is not RAW=NAME; give pairs such as "
                              "'0=negative,1=positive', or the path of a file of them")
        pairs.append((raw.strip(), name.strip(), f"item {number}"))
    return _checked(pairs, f"--label-names {spec!r}")


def _read_file(path: Path) -> list[tuple[str, str, str]]:
    """The (raw, name, where) pairs of a label-names file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the label names ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); give an object such as "
                            "{\"0\": \"negative\"}") from None
        except (RecursionError, ValueError):  # nested too deeply, or a number of more digits than Python converts
            raise DataError(f"{path}: JSON this tool cannot read (nested too deeply, or a number too long); give an object "
                            "such as {\"0\": \"negative\"}") from None
        if not isinstance(data, dict) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in data.values()):
            raise DataError(f"{path}: expected a JSON object of raw label -> name, such as {{\"0\": \"negative\"}}")
        pairs = [(str(k).strip(), str(v).strip(), f"key {k!r}") for k, v in data.items()]
        for raw, name, where in pairs:
            if not raw or not name:
                raise DataError(f"{path}: {where}: a blank {'label' if not raw else 'name'}; give each raw label a name, such as "
                                "{\"0\": \"negative\"}")
        return pairs
    pairs = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):  # not str.splitlines: a name may hold U+2028
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        raw, sep, name = line.partition("\t") if "\t" in line else line.partition("=")
        if not sep or not raw.strip() or not name.strip():
            raise DataError(f"{path}:{number}: expected RAW<TAB>NAME or RAW=NAME, got {line!r}")
        pairs.append((raw.strip(), name.strip(), f"line {number}"))
    return pairs


def _checked(pairs: list[tuple[str, str, str]], source: str) -> dict[str, str]:
    """The pairs as a mapping; an error naming where a raw label or a display name comes twice."""
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    error = DataError if not source.startswith("--") else ConfigError
    for raw, name, where in pairs:
        if raw in mapping:
            raise error(f"{source}: {where}: the label {raw!r} is named twice")
        if name in seen:
            raise error(f"{source}: {where}: the name {name!r} is given to both {seen[name]!r} and {raw!r}")
        mapping[raw], seen[name] = name, raw
    if not mapping:
        raise error(f"{source}: no label names in it")
    return mapping


def shown_names(labels: list[str], names: dict[str, str]) -> list[str]:
    """``labels`` as they are shown: each one's display name from ``names``, else itself; a `DataError` when ``names``
    names a label that is not among ``labels``, or shows two labels alike."""
    unknown = sorted(set(names) - set(labels))
    if unknown:
        raise DataError(f"--label-names names {', '.join(map(repr, unknown))}, not a label of the training data (its labels: "
                        f"{', '.join(labels[:20])}{', ...' if len(labels) > 20 else ''})")
    shown = [names.get(label, label) for label in labels]
    clash = sorted({name for name in shown if shown.count(name) > 1})
    if clash:
        raise DataError(f"--label-names shows two labels as {clash[0]!r}; give each label its own name")
    return shown
