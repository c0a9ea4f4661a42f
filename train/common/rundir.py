"""Run directories: JSON beside a tensors-only checkpoint, every file written atomically.

A run directory holds ``config.json`` (with a ``kind`` naming what trained
it), vocabularies as JSON, ``model.pt`` (a ``state_dict`` only, loaded with
``weights_only=True`` so loading never runs code) and reports. A directory
is claimed with an exclusive ``mkdir``, so two runs never share one; while a
run trains, it holds a lock on the directory's ``.lock`` file, and
``complete.json``, written last, marks a run that finished. A directory with
a ``config.json`` but neither the marker nor a live lock was interrupted, and
can be resumed (see `train.common.resume`).
"""

from __future__ import annotations

import json
import os
import time
import warnings
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import numpy as np

from data_processor.base.atomic import atomic_path, write_json
from data_processor.base.errors import DataError
from data_processor.base.paths import check_output_dir
from train.common.settings import RunSettings, check_run_name

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are still claimed by mkdir
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import torch

    from data_processor.base.settings import Settings

S = TypeVar("S", bound="Settings")

CHECKPOINT = "model.pt"
COMPLETE = "complete.json"
LOCK = ".lock"
LAST = "last.pt"  # the resumable state of an unfinished run (see train.common.resume)


def _load_failure(exc: Exception) -> str:
    """What a failed ``torch.load(weights_only=True)`` found, in a few words, without torch's advice to load unsafely."""
    for line in str(exc).splitlines():
        if "GLOBAL" in line:
            return "a pickle of Python objects, " + line.strip().split("GLOBAL", 1)[1].split(" whose")[0].strip()
        if line.startswith("Unsupported operand"):
            return "not a torch file"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "weights_only" not in line]
    return lines[0].split(". ")[0] if lines else type(exc).__name__


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically. It is serialised in memory first, then written by Python, so a
    full disk is a `DiskFullError` naming ``path`` (torch's own writer reports it as an opaque RuntimeError)."""
    import io

    import torch  # here, not at the top: runs of the TF-IDF model and --help never need torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


class RunDir:
    """One training run's directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | Path, name: str | None, prefix: str) -> "RunDir":
        """Claim a new directory ``root/name`` (default name: ``prefix-YYYYmmdd-HHMMSS``) with an exclusive ``mkdir``,
        ``name-2``, ``name-3``... when it is taken, and lock it for this process.

        A ``name`` the user gave whose directory holds an interrupted run is a `DataError` that says how to resume it.
        """
        root = Path(root)
        cls.check_place(root, name)
        base = name if name is not None else f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{root}: cannot make the runs directory ({exc.strerror}); choose another --runs-dir") from None
        k = 1
        while True:
            run = cls(root / (base if k == 1 else f"{base}-{k}"))
            try:
                run.path.mkdir()
                claimable = True
            except FileExistsError:  # taken, unless a run was killed before writing anything there
                claimable = fcntl is not None and run.path.is_dir() and all(p.name == LOCK for p in run.path.iterdir())
            except OSError as exc:
                raise DataError(f"{run.path}: cannot make the run directory ({exc.strerror})") from None
            if claimable:
                try:
                    run.lock()
                    return run
                except DataError:  # another process claimed it first
                    pass
            elif k == 1 and name is not None and run.interrupted():
                raise cls._interrupted_error(run)
            k += 1

    @classmethod
    def check_place(cls, root: str | Path, name: str | None) -> None:
        """The checks of `create` that need no directory made, for a training command to make before any work: a
        `DataError` when ``root`` is a file, or the run ``name`` given there holds an interrupted run; a `ConfigError`
        when ``name`` is not a plain directory name."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise DataError(f"{root}: is a file, not a directory; --runs-dir must name a directory")
        if name is not None and cls(root / check_run_name(name)).interrupted():
            raise cls._interrupted_error(cls(root / name))

    @staticmethod
    def _interrupted_error(run: "RunDir") -> DataError:
        return DataError(f"{run.path}: holds an interrupted run; continue it with --resume {run.path}, or choose another --run-name")

    def lock(self) -> None:
        """Hold an exclusive lock on the directory until this process ends; a `DataError` if another process holds it."""
        if fcntl is None:
            return
        handle = open(self.path / LOCK, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise DataError(f"{self.path}: another process is training this run right now") from None
        self._lock: IO[str] = handle  # kept open: the lock lasts as long as the process, and ends with it even on SIGKILL

    def locked_by_another(self) -> bool:
        """Whether another live process holds this directory's lock (a run being trained now)."""
        if fcntl is None or not (self.path / LOCK).is_file() or hasattr(self, "_lock"):
            return False
        try:
            handle = open(self.path / LOCK, "a")
        except OSError:  # a read-only copy of a run: nobody trains there
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False

    def complete(self) -> bool:
        """Whether the run finished: its ``complete.json`` exists (or, for a run saved before the marker existed, its
        ``summary.json`` and no ``last.pt``)."""
        return (self.path / COMPLETE).is_file() or ((self.path / "summary.json").is_file() and not (self.path / LAST).exists())

    def interrupted(self) -> bool:
        """Whether this directory holds a run that started (it has ``config.json``), did not finish, and is not training now."""
        return (self.path / "config.json").is_file() and not self.complete() and not self.locked_by_another()

    def mark_complete(self, summary: dict) -> None:
        """Write ``complete.json`` (the last file of a finished run) and drop the resumable state ``last.pt``."""
        self.save_json(COMPLETE, {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **summary})
        (self.path / LAST).unlink(missing_ok=True)

    @classmethod
    def open(cls, path: str | Path, kind: str, needs: tuple[str, ...] = ()) -> "RunDir":
        """Open an existing run of ``kind``; fail clearly if it is missing, of another kind, or lacks a file in ``needs``."""
        run = cls(path)
        if run.path.is_file():
            raise DataError(f"{run.path}: is a file, not a run directory")
        if not run.path.is_dir():
            raise DataError(f"{run.path}: no such run directory")
        if not run.file("config.json").is_file():
            raise DataError(f"{run.path}: not a run directory (it has no config.json)")
        config = run.load_json("config.json")
        if not isinstance(config, dict):
            raise DataError(f"{run.file('config.json')}: expected a JSON object of settings, got {type(config).__name__}; "
                            "the file is damaged, train the run again")
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
        except ValueError:  # json.loads refuses integers of more than sys.get_int_max_str_digits() (4300) digits
            raise DataError(f"{path}: a number with too many digits to read; the file is damaged or was not written by this "
                            "tool") from None
        except RecursionError:
            raise DataError(f"{path}: JSON nested too deeply to read; the file is damaged or was not written by this tool") from None

    def load_settings(self, settings: type[S]) -> S:
        """The run's ``config.json`` as ``settings`` (strictly: unknown keys and ill-typed values are a `ConfigError`)."""
        return settings.from_dict(self.load_json("config.json"), str(self.file("config.json")), saved=True)

    def save_state_dict(self, state: dict[str, torch.Tensor], name: str = CHECKPOINT) -> None:
        """Write tensors (a ``state_dict``) to ``name``, atomically."""
        save_torch(state, self.path / name)

    def load_state_dict(self, name: str = CHECKPOINT) -> dict[str, torch.Tensor]:
        """Tensors written by `save_state_dict`, loaded with ``weights_only=True`` (never runs code)."""
        import torch

        state = self.load_tensors(name)
        if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise DataError(f"{self.file(name)}: not a tensors-only checkpoint (a dict of named tensors); it is damaged or was not "
                            "written by this tool")
        return state

    def load_tensors(self, name: str) -> dict[str, Any]:
        """A dict saved with ``torch.save``, loaded with ``weights_only=True`` (tensors, numbers, strings, lists and dicts:
        never runs code); a one-line `DataError` for anything else, a pickle of other objects included."""
        import torch

        path = self.require(name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged file or a rejected pickle
            raise DataError(f"{path}: not a tensors-only checkpoint ({_load_failure(exc)}); it is damaged or was not written by this tool, "
                            "and was not run") from None
        if not isinstance(state, dict):
            raise DataError(f"{path}: not a tensors-only checkpoint (a {type(state).__name__}, not a dict); it is damaged or was "
                            "not written by this tool")
        return state

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


def check_run_outputs(settings: RunSettings) -> None:
    """Before any work, what a new run will write: a `DataError` or `ConfigError` when its ``--runs-dir`` or
    ``--tensorboard`` is (under) a file, its ``--run-name`` is not a plain name or holds an interrupted run."""
    RunDir.check_place(settings.runs_dir, settings.run_name)
    if settings.tensorboard is not None:
        check_output_dir("--tensorboard", settings.tensorboard)
