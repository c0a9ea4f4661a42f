"""The settings every training run shares: seed, device, threads, where the run goes, progress bars."""

from __future__ import annotations

from dataclasses import dataclass

from data_processor.base.settings import DEVICES, Settings, option

RUN_GROUP = "run"


@dataclass
class RunSettings(Settings):
    """Seed, device, threads, run directory and progress bars: the options of every training command."""

    seed: int = option(42, "seeds Python, numpy and torch; the same seed repeats the run", group=RUN_GROUP)
    device: str = option("auto", "auto uses a GPU when one is present", choices=DEVICES, group=RUN_GROUP)
    threads: int | None = option(None, "torch threads (default: one per core; on a machine busy with other work, 1 is often "
                                 "much faster)", at_least=1, group=RUN_GROUP)
    runs_dir: str = option("runs", "where run directories are made", group=RUN_GROUP)
    run_name: str | None = option(None, "run directory name (default: the model's name, the date and the time)", group=RUN_GROUP)
    progress: bool = option(True, "no progress bars", flag="--no-progress", group=RUN_GROUP)
