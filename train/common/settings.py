"""The settings every training run shares: seed, device, threads, where the run goes, progress bars."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from data_processor.base.errors import ConfigError
from data_processor.base.settings import DEVICES, Settings, option, threads_option

RUN_GROUP = "run"
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f]")


def check_run_name(name: str) -> str:
    """``name`` if it is one plain directory name; a `ConfigError` for a path (``../x``, ``/abs``), ``.``/``..`` or control characters."""
    if not name or name in (".", "..") or _UNSAFE_NAME.search(name) or (os.altsep and os.altsep in name):
        raise ConfigError(f"--run-name {name!r} must be a plain directory name (no '/', '\\', '..' or control characters); "
                          "choose where runs go with --runs-dir")
    return name


@dataclass
class RunSettings(Settings):
    """Seed, device, threads, run directory and progress bars: the options of every training command."""

    seed: int = option(42, "seeds Python, numpy and torch; the same seed repeats the run", group=RUN_GROUP)
    device: str = option("auto", "where the model trains: auto uses a GPU when torch sees one, else the CPU", choices=DEVICES,
                         group=RUN_GROUP)
    threads: int | None = threads_option(RUN_GROUP)
    runs_dir: str = option("runs", "where run directories are made", group=RUN_GROUP)
    run_name: str | None = option(None, "run directory name (default: the model's name, the date and the time)", group=RUN_GROUP)
    progress: bool = option(True, "no progress bars", flag="--no-progress", group=RUN_GROUP)
    tensorboard: str | None = option(None, "also write TensorBoard event files (per-step loss and learning rate, per-epoch "
                                     "metrics) to DIR/<run name>; view them with: tensorboard --logdir DIR", metavar="DIR",
                                     group=RUN_GROUP)

    def check(self, source: str = "") -> None:
        """`Settings.check`, and a `ConfigError` for a --run-name that is not a plain directory name."""
        super().check(source)
        if self.run_name is not None:
            check_run_name(self.run_name)
