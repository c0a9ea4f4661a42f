"""Atomic file writes: write to a temporary file beside the target, then rename.

An interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from data_processor.base.errors import DiskFullError, no_space


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Use it with writers that want a file name (``np.save``, ``matplotlib``'s
    ``savefig``; for ``torch.save`` see `train.common.rundir.save_torch`). On an
    exception the temporary file is removed and ``path`` is left as it was; a
    write that failed for want of space becomes a `DiskFullError` naming ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    usual_permissions(tmp_name)  # mkstemp makes the file private (0600)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if no_space(exc) and not isinstance(exc, DiskFullError):
            raise DiskFullError(target, exc) from None  # type: ignore[arg-type]
        raise


def usual_permissions(path: str | os.PathLike, mode: int = 0o666) -> None:
    """Give ``path`` the permissions a new file (``0o666``) or directory (``0o777``) gets: ``mode`` less the umask."""
    umask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON (non-ASCII kept readable) to ``path`` atomically."""
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def append_jsonl(path: str | os.PathLike, obj: Any) -> None:
    """Append one JSON line to ``path``, rewriting the file atomically.

    Files written this way are small (one line per epoch), so a rewrite keeps
    the no-half-written-file guarantee at negligible cost.
    """
    target = Path(path)
    old = target.read_text(encoding="utf-8") if target.exists() else ""
    write_text(target, old + json.dumps(obj, ensure_ascii=False) + "\n")
