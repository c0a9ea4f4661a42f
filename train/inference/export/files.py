"""The exported files' format: where ``model.json`` and the user dictionary lie beside ``model.onnx``, and reading
``model.json`` back, checked field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from data_processor.base.errors import DataError
from data_processor.tokenizers import TOKENIZERS

FORMAT = "rnn-toolkit-onnx/1"
INPUT_NAMES = ("tokens", "lengths")
OUTPUT_NAMES = ("probabilities",)


def sidecar_paths(onnx_path: str | Path) -> tuple[Path, Path]:
    """The JSON settings file and the jieba user dictionary copy that go with ``onnx_path``: ``model.json`` and
    ``model.user_dict.txt`` beside ``model.onnx``."""
    path = Path(onnx_path)
    return path.with_suffix(".json"), path.with_name(path.stem + ".user_dict.txt")


def read_settings(path: Path) -> dict:
    """The JSON `export_onnx` wrote, checked field by field (it is data from a file: a `DataError` names what is wrong)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing; export_onnx writes it beside the .onnx file (run.py export)") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise DataError(f"{path}: {what}; export the run again (run.py export)")

    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    need(isinstance(meta, dict) and meta.get("format") == FORMAT, f"not an ONNX export settings file of format {FORMAT!r}")
    text, vocab = meta.get("text"), meta.get("vocab")
    need(strings(meta.get("labels")) and len(set(meta["labels"])) == len(meta["labels"]) > 0, "'labels' must be distinct strings")
    need(isinstance(meta.get("multi_label"), bool), "'multi_label' must be true or false")
    thresholds = meta.get("thresholds")
    need(thresholds is None or (isinstance(thresholds, list) and len(thresholds) == len(meta["labels"])
                                and all(isinstance(t, (int, float)) and 0 <= t <= 1 for t in thresholds)),
         "'thresholds' must be null or one number in [0, 1] per label")
    need(strings(meta.get("input_names")) and strings(meta.get("output_names")), "'input_names' and 'output_names' must be lists of names")
    need(isinstance(text, dict) and text.get("tokenizer") in TOKENIZERS, f"'text.tokenizer' must be one of {', '.join(TOKENIZERS)}")
    need(isinstance(text.get("hmm"), bool) and strings(text.get("stopwords")) and text.get("backoff") in ("none", "char"),
         "'text' needs hmm (true/false), stopwords (a list) and backoff (none or char)")
    need(all(isinstance(text.get(k), int) and not isinstance(text.get(k), bool) and text[k] >= 1 for k in ("max_len", "max_chars")),
         "'text.max_len' and 'text.max_chars' must be positive integers")
    user_dict = text.get("user_dict")
    need(user_dict is None or (isinstance(user_dict, str) and user_dict == Path(user_dict).name and user_dict not in ("", ".", "..")),
         "'text.user_dict' must be null or a file name beside it")
    need(isinstance(vocab, dict) and strings(vocab.get("itos")) and strings(vocab.get("specials")), "'vocab' needs itos and specials")
    need(vocab["itos"][:len(vocab["specials"])] == vocab["specials"] and {"<pad>", "<unk>"} <= set(vocab["specials"])
         and len(set(vocab["itos"])) == len(vocab["itos"]), "'vocab.itos' must start with its specials (<pad>, <unk>) and hold no duplicates")
    return meta
