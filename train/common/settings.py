"""The settings every training run shares: seed, device, threads, where the run goes, progress bars."""

from __future__ import annotations

from dataclasses import dataclass

from data_processor.base.settings import DEVICES, Settings, option, threads_option

RUN_GROUP = "run"


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
