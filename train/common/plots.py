"""Training curves and confusion matrices as PNGs, drawn without a screen (matplotlib's Agg backend)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from data_processor.base.atomic import atomic_path  # noqa: E402


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


# Families that draw Chinese (and most other CJK) text, most preferred first; matched as prefixes of the installed names.
CJK_FONTS = ("Noto Sans CJK", "Noto Serif CJK", "Noto Sans SC", "Noto Sans TC", "Source Han Sans", "Source Han Serif",
             "WenQuanYi", "SimHei", "Microsoft YaHei", "PingFang", "Hiragino Sans GB", "Heiti", "AR PL", "Droid Sans Fallback")
BASE_FONT = "DejaVu Sans"  # matplotlib's own font: Latin, Greek, Cyrillic, no CJK


def find_cjk_font() -> tuple[str, str] | None:
    """``(family, file)`` of an installed font that draws CJK text (the first of `CJK_FONTS` found), or None."""
    from matplotlib import font_manager

    installed = sorted({(f.name, f.fname) for f in font_manager.fontManager.ttflist})
    for wanted in CJK_FONTS:
        for name, fname in installed:
            if name.lower().startswith(wanted.lower()):
                return name, fname
    return None


@functools.lru_cache(maxsize=8)
def _charmap(font_file: str) -> frozenset[int]:
    """The code points ``font_file`` has glyphs for."""
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(font_file).get_charmap())


def _drawable(text: str, font_files: Sequence[str]) -> bool:
    """Whether every character of ``text`` has a glyph in one of ``font_files`` (ASCII always has)."""
    if text.isascii():
        return True
    covered = frozenset().union(*(_charmap(f) for f in font_files))
    return all(ord(c) in covered or c.isspace() for c in text)


def normalise_rows(confusion: Sequence[Sequence[float]]) -> list[list[float]]:
    """Each row divided by its sum (for a confusion matrix: recall per true class); a row summing to 0 stays all 0."""
    rows = []
    for row in confusion:
        total = float(sum(row))
        rows.append([float(v) / total if total else 0.0 for v in row])
    return rows


def plot_confusion(confusion: Sequence[Sequence[int]], label_names: Sequence[str], path: str | Path, title: str) -> bool:
    """Draw ``confusion`` (rows: true, columns: predicted) row-normalised as a heatmap PNG at ``path``, atomically.

    Each cell shows its share of the row (2 decimals) and, for up to 12 labels, the raw count; cells are
    annotated for up to 40 labels. The label names go on both axes, in a CJK font when one is installed
    (`find_cjk_font`). Without a font that draws them all, the axes show ``L0, L1, ...`` (the order of the
    names, as in ``labels.json``) and the title says so: nothing undrawable is ever drawn, so matplotlib never
    warns about missing glyphs. Returns whether the names themselves were drawn.
    """
    n = len(label_names)
    if len(confusion) != n or any(len(row) != n for row in confusion):
        raise ValueError(f"confusion must be {n} x {n} (one row and one column per label name)")
    shares = normalise_rows(confusion)
    cjk = find_cjk_font()
    families = ([cjk[0]] if cjk else []) + [BASE_FONT]
    from matplotlib import font_manager

    font_files = ([cjk[1]] if cjk else []) + [font_manager.findfont(BASE_FONT)]
    names_drawn = all(_drawable(name, font_files) for name in label_names)
    ticks = list(label_names) if names_drawn else [f"L{i}" for i in range(n)]
    if not names_drawn:
        title += ("\nno CJK font found: labels by index (L0, L1, ... in labels.json order)\ninstall fonts-noto-cjk to see the names"
                  if cjk is None else f"\nsome label names have no glyphs in {cjk[0]}:\nlabels by index (L0, L1, ... in labels.json order)")
    title = "".join(c if _drawable(c, font_files) else "?" for c in title)

    side = max(4.5, 0.55 * n + 2.5)
    with plt.rc_context({"font.family": families}):
        fig, ax = plt.subplots(figsize=(side + 1.5, side + 0.5))
        image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        wide = sum(2 if ord(c) > 0x2E80 else 1 for c in max(ticks, key=len, default=""))
        if wide > 4 or n > 10:
            ax.set_xticklabels(ticks, rotation=45, ha="right", rotation_mode="anchor")
        else:
            ax.set_xticklabels(ticks)
        ax.set_yticklabels(ticks)
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        ax.set_title(title, fontsize=9)
        if n <= 40:
            size = 9 if n <= 8 else 7 if n <= 20 else 5
            for i in range(n):
                for j in range(n):
                    text = f"{shares[i][j]:.2f}" + (f"\n({confusion[i][j]})" if n <= 12 else "")
                    ax.text(j, i, text, ha="center", va="center", fontsize=size, color="white" if shares[i][j] > 0.5 else "black")
        try:
            fig.tight_layout()
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=100)
        finally:
            plt.close(fig)
    return names_drawn
