"""Training curves as a PNG, drawn without a screen (matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from data_processor.atomic import atomic_path  # noqa: E402


def plot_curves(history: Sequence[dict], path: str | Path, left: str = "train_loss", right: str = "dev_accuracy") -> None:
    """Plot ``left`` and ``right`` (keys of each epoch's record) against the epoch, side by side."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, (left, right)):
        ax.plot(epochs, [h[key] for h in history], marker="o")
        ax.set_xlabel("epoch")
        ax.set_title(key.replace("_", " "))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
