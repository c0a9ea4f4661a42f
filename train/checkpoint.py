"""Run directories: JSON beside a tensors-only checkpoint, every file written atomically.

A run directory holds ``config.json`` (with a ``kind`` naming what trained
it), vocabularies as JSON, ``model.pt`` (a ``state_dict`` only, loaded with
``weights_only=True`` so loading never runs code) and reports.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data_processor.atomic import atomic_path, write_json
from data_processor.errors import DataError

CHECKPOINT = "model.pt"


class RunDir:
    """One training run's directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | Path, name: str | None, prefix: str) -> "RunDir":
        """Make a new directory ``root/name`` (default name: ``prefix-YYYYmmdd-HHMMSS``), never reusing one."""
        base = name or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, k = Path(root) / base, 1
        while path.exists() and any(path.iterdir()):
            k += 1
            path = Path(root) / f"{base}-{k}"
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def open(cls, path: str | Path, kind: str, needs: tuple[str, ...] = ()) -> "RunDir":
        """Open an existing run of ``kind``; fail clearly if it is missing, of another kind, or lacks a file in ``needs``."""
        run = cls(path)
        if not run.path.is_dir():
            raise DataError(f"{run.path}: no such run directory")
        config = run.load_json("config.json")
        if config.get("kind") != kind:
            raise DataError(f"{run.path}: this is a {config.get('kind', 'unknown')!r} run, not a {kind!r} run")
        for name in needs:
            if not (run.path / name).is_file():
                raise DataError(f"{run.path / name}: missing from the run directory; the run is incomplete, train it again")
        return run

    def file(self, name: str) -> Path:
        return self.path / name

    def save_json(self, name: str, obj: Any) -> None:
        write_json(self.path / name, obj)

    def load_json(self, name: str) -> Any:
        path = self.path / name
        if not path.is_file():
            raise DataError(f"{path}: missing from the run directory; the run is incomplete, train it again")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None

    def save_state_dict(self, state: dict[str, torch.Tensor], name: str = CHECKPOINT) -> None:
        with atomic_path(self.path / name) as tmp:
            torch.save(state, tmp)

    def load_state_dict(self, name: str = CHECKPOINT) -> dict[str, torch.Tensor]:
        path = self.path / name
        if not path.is_file():
            raise DataError(f"{path}: missing from the run directory; the run is incomplete, train it again")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged file
            raise DataError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None

    def save_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Write numpy arrays as one ``.npz``, atomically."""
        with atomic_path(self.path / name) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        """Read arrays written by `save_arrays` (``allow_pickle=False``: never runs code)."""
        path = self.path / name
        if not path.is_file():
            raise DataError(f"{path}: missing from the run directory; the run is incomplete, train it again")
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: not a readable array file ({exc})") from None
