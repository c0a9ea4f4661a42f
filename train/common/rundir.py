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
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from data_processor.atomic import atomic_path, write_json
from data_processor.errors import DataError

if TYPE_CHECKING:
    import torch

    from data_processor.settings import Settings

S = TypeVar("S", bound="Settings")

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
            run.require(name)
        return run

    def file(self, name: str) -> Path:
        """The path of ``name`` in the run directory (which may not exist yet)."""
        return self.path / name

    def require(self, name: str) -> Path:
        """The path of ``name``, which must exist: a `DataError` saying the run is incomplete otherwise."""
        path = self.path / name
        if not path.is_file():
            raise DataError(f"{path}: missing from the run directory; the run is incomplete, train it again")
        return path

    def save_json(self, name: str, obj: Any) -> None:
        """Write ``obj`` as JSON to ``name``, atomically."""
        write_json(self.path / name, obj)

    def load_json(self, name: str) -> Any:
        """The JSON in ``name``; a `DataError` if it is missing or not JSON."""
        path = self.require(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None

    def load_settings(self, settings: type[S]) -> S:
        """The run's ``config.json`` as ``settings`` (strictly: unknown keys and ill-typed values are a `ConfigError`)."""
        return settings.from_dict(self.load_json("config.json"), str(self.file("config.json")), saved=True)

    def save_state_dict(self, state: dict[str, torch.Tensor], name: str = CHECKPOINT) -> None:
        """Write tensors (a ``state_dict``) to ``name``, atomically."""
        import torch  # here, not at the top: runs of the TF-IDF model and --help never need torch

        with atomic_path(self.path / name) as tmp:
            torch.save(state, tmp)

    def load_state_dict(self, name: str = CHECKPOINT) -> dict[str, torch.Tensor]:
        """Tensors written by `save_state_dict`, loaded with ``weights_only=True`` (never runs code)."""
        import torch

        path = self.require(name)
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
        path = self.require(name)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: not a readable array file ({exc})") from None
