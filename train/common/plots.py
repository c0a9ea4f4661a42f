"""Training curves and confusion matrices as PNGs, drawn without a screen (matplotlib's Agg backend)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, MaxNLocator  # noqa: E402

from data_processor.base.atomic import atomic_path  # noqa: E402
from data_processor.base.messages import Log, log_stderr  # noqa: E402
from train.common.metrics import most_confused  # noqa: E402


def plot_curves(history: Sequence[dict], path: str | Path, losses: Sequence[str] = ("train_loss", "dev_loss"),
                metric: str = "dev_accuracy", best_epoch: int | None = None) -> None:
    """Two panels against the epoch, as a PNG at ``path`` (atomically): the ``losses`` the records hold (training and
    validation loss) and the validation ``metric``. Epochs are whole-number ticks; ``best_epoch`` (the kept weights)
    is marked on both with its values written beside it, so a run of one epoch reads as well as a long one."""
    epochs = [h["epoch"] for h in history]
    best = next((h for h in history if h["epoch"] == best_epoch), None)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    panels = ((axes[0], [key for key in losses if all(key in h for h in history)], "loss"), (axes[1], [metric], _title(metric)))
    for ax, keys, title in panels:
        for key in keys:
            values = [h[key] for h in history]
            ax.plot(epochs, values, marker="o", label=_title(key))
            if best is not None:
                ax.annotate(f"{best[key]:.4g}", (best["epoch"], best[key]), textcoords="offset points", xytext=(6, 6), fontsize=8)
        if best is not None:
            ax.axvline(best["epoch"], color="grey", linestyle="--", linewidth=1, label=f"best: epoch {best['epoch']}")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.xaxis.set_major_locator(FixedLocator(epochs) if len(epochs) <= 12 else MaxNLocator(integer=True))
        ax.set_xlim(min(epochs, default=1) - 0.5, max(epochs, default=1) + 0.5)
        _pad_flat(ax, [h[key] for key in keys for h in history])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def draw_or_skip(what: str, draw: Callable[[], object], log: Log = log_stderr) -> str | None:
    """Draw an optional picture with ``draw()``; a failure (no memory, no space, a font that cannot be read...) never
    ends the work that wanted it: it is logged as a warning, and the returned note says what was skipped and why
    (None when the picture was drawn)."""
    try:
        draw()
        return None
    except Exception as exc:  # noqa: BLE001 - whatever stopped it, a picture is not worth a run
        why = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        note = f"{what} not drawn ({type(exc).__name__}: {why})"
        log(f"warning: {note}")
        return note


def _title(key: str) -> str:
    """A record key as a panel or legend title: ``dev_accuracy`` -> ``dev accuracy``."""
    return key.replace("_", " ")


def _pad_flat(ax, values: Sequence[float]) -> None:
    """Give a panel whose values (nearly) coincide, such as one epoch's, a y range of 10% of their size around them
    rather than matplotlib's tiny one."""
    if values and max(values) - min(values) < 1e-3 * max(1.0, abs(max(values))):
        middle = (max(values) + min(values)) / 2
        half = max(0.05 * abs(middle), 0.01)
        ax.set_ylim(middle - half, middle + half)


# Families that draw Chinese (and most other CJK) text, most preferred first; matched as prefixes of the installed names.
CJK_FONTS = ("Noto Sans CJK", "Noto Serif CJK", "Noto Sans SC", "Noto Sans TC", "Source Han Sans", "Source Han Serif",
             "WenQuanYi", "SimHei", "Microsoft YaHei", "PingFang", "Hiragino Sans GB", "Heiti", "AR PL", "Droid Sans Fallback")
BASE_FONT = "DejaVu Sans"  # matplotlib's own font: Latin, Greek, Cyrillic, no CJK


# The file names those fonts are installed under (lower case, without '-' and '_'; matched as parts of a name).
CJK_FONT_FILES = ("notosanscjk", "notoserifcjk", "notosanssc", "notosanstc", "sourcehansans", "sourcehanserif", "wqy", "simhei",
                  "msyh", "pingfang", "hiragino", "stheiti", "uming", "ukai", "droidsansfallback")
INSTALL_ADVICE = "install a CJK font (e.g. apt install fonts-noto-cjk):\nthe next run finds it"


def find_cjk_font() -> tuple[str, str] | None:
    """``(family, file)`` of an installed font that draws CJK text (the first of `CJK_FONTS` found), or None.

    matplotlib knows the fonts that were installed when it built its font cache; one installed since is found
    among the system's font files (`register_new_cjk_fonts`) and added for this process.
    """
    return _known_cjk_font() or (_known_cjk_font() if register_new_cjk_fonts() else None)


def _known_cjk_font() -> tuple[str, str] | None:
    from matplotlib import font_manager

    installed = sorted({(f.name, f.fname) for f in font_manager.fontManager.ttflist})
    for wanted in CJK_FONTS:
        for name, fname in installed:
            if name.lower().startswith(wanted.lower()):
                return name, fname
    return None


def register_new_cjk_fonts(files: Sequence[str] | None = None) -> list[str]:
    """Add to matplotlib's font list (for this process) the CJK font files among ``files`` (default: every font file
    of the system) that it does not know yet, such as one installed after its font cache was built. Returns those
    added."""
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    added = []
    for path in font_manager.findSystemFonts() if files is None else files:
        name = os.path.basename(path).lower().replace("-", "").replace("_", "")
        if path not in known and any(part in name for part in CJK_FONT_FILES):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # unreadable, or not a font after all
                continue
            added.append(path)
    return added


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


def normalise_rows(confusion: Sequence[Sequence[float]], totals: Sequence[float] | None = None) -> list[list[float]]:
    """Each row divided by its total: ``totals`` when given, else its sum (for a confusion matrix: recall per true
    class); a row whose total is 0 stays all 0."""
    rows = []
    for i, row in enumerate(confusion):
        total = float(totals[i] if totals is not None else sum(row))
        rows.append([float(v) / total if total else 0.0 for v in row])
    return rows


def plot_confusion(confusion: Sequence[Sequence[int]], label_names: Sequence[str], path: str | Path, title: str,
                   row_totals: Sequence[int] | None = None) -> bool:
    """Draw ``confusion`` (rows: true, columns: predicted) row-normalised as a heatmap PNG at ``path``, atomically.

    Each row is divided by its sum, or by ``row_totals`` when given: for multi-label data, where a text counts once
    in every cell of its labels, the number of texts of each true label, so each cell is the share of the label's texts
    that were given the column's label (the diagonal: recall).

    Each cell shows its share of the row (2 decimals) and, for up to 12 labels, the raw count. Of more than
    `MOST_SHOWN` labels, the most confused ones are drawn (`most_confused`), each row still divided by its whole
    total, and the title says so. The label names go on both axes, in a CJK font when one is installed
    (`find_cjk_font`). Without a font that draws them all, the axes show ``L0, L1, ...`` (the order of the
    names, as in ``labels.json``) and the title says so: nothing undrawable is ever drawn, so matplotlib never
    warns about missing glyphs. Returns whether the names themselves were drawn.
    """
    n = len(label_names)
    if len(confusion) != n or any(len(row) != n for row in confusion):
        raise ValueError(f"confusion must be {n} x {n} (one row and one column per label name)")
    kept = most_confused(confusion)
    if len(kept) < n:  # a picture of thousands of labels can neither be drawn nor read: the most confused ones
        totals = row_totals if row_totals is not None else [sum(row) for row in confusion]
        confusion = [[confusion[i][j] for j in kept] for i in kept]
        row_totals = [totals[i] for i in kept]
        title += f"\nthe {len(kept)} most confused of {n} labels (most errors in their row and column)"
        label_names = [label_names[i] for i in kept]
    else:
        kept = list(range(n))
    n = len(label_names)
    shares = normalise_rows(confusion, row_totals)
    cjk = find_cjk_font()
    families = ([cjk[0]] if cjk else []) + [BASE_FONT]
    from matplotlib import font_manager

    font_files = ([cjk[1]] if cjk else []) + [font_manager.findfont(BASE_FONT)]
    names_drawn = all(_drawable(name, font_files) for name in label_names)
    ticks = list(label_names) if names_drawn else [f"L{i}" for i in kept]
    if not names_drawn:
        title += (f"\nno CJK font found: labels by index (L0, L1, ... in labels.json order)\nto see the names, {INSTALL_ADVICE}"
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
