"""Where progress and warnings go: stderr, so stdout keeps only results."""

from __future__ import annotations

import sys
from typing import Callable

Log = Callable[[str], None]


def log_stderr(message: str) -> None:
    """Print one message line on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)
