"""--tensorboard: event files that TensorBoard's own reader parses, for the classifier and the character models; and
curves.png, drawn for any number of epochs."""

from __future__ import annotations

import json

import pytest

from tests.char_lm_helpers import train_tiny, write_sentences
from tests.helpers import fast_flags, train_on_sample

pytest.importorskip("tensorboard", reason="--tensorboard needs the tensorboard package (requirements.txt)")


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in the event files of ``folder``, read with TensorBoard's EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.e2e
def test_a_classifier_run_writes_step_and_epoch_scalars(sample, tmp_path):
    board = tmp_path / "tb"
    _, run = train_on_sample(sample, "lstm", "watched", *fast_flags(epochs=2, tensorboard=board))
    series = scalars(board / "watched")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    steps = 2 * 50  # 1600 rows in batches of 32, two epochs
    assert [step for step, _ in series["step/loss"]] == list(range(1, steps + 1))
    assert len(series["step/lr"]) == steps and all(value > 0 for _, value in series["step/lr"])
    for key in ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy", "lr"):
        assert series[f"epoch/{key}"] == [(r["epoch"], pytest.approx(r[key], rel=1e-5)) for r in records], key
    assert "epoch/seconds" not in series and "epoch/partial" not in series


@pytest.mark.e2e
def test_a_character_model_run_writes_its_own_metrics(tmp_path):
    corpus = tmp_path / "corpus.txt"
    write_sentences(corpus)
    train_tiny(corpus, tmp_path / "runs", "chars", epochs=2, tensorboard=str(tmp_path / "tb"))
    series = scalars(tmp_path / "tb" / "chars")
    assert [epoch for epoch, _ in series["epoch/val_loss"]] == [1, 2]
    assert "epoch/val_perplexity" in series and len(series["step/loss"]) > 2


def test_curves_read_for_one_epoch_and_mark_the_best(tmp_path):
    from tests.test_plots import read_png
    from train.common.plots import plot_curves

    one = [{"epoch": 1, "train_loss": 0.61, "dev_loss": 0.52, "dev_accuracy": 0.80}]
    plot_curves(one, tmp_path / "one.png", best_epoch=1)
    many = [{"epoch": e, "train_loss": 1 / e, "dev_loss": 1.2 / e, "dev_accuracy": 0.5 + e / 20} for e in range(1, 8)]
    plot_curves(many, tmp_path / "many.png", best_epoch=6)
    for name in ("one.png", "many.png"):
        image = read_png(tmp_path / name)
        assert image.shape[0] > 300 and image[..., :3].std() > 0.05
    import matplotlib.pyplot as plt

    from train.common import plots

    drawn = {}
    original = plt.subplots

    def keep(*args, **kwargs):
        fig, axes = original(*args, **kwargs)
        drawn["axes"] = axes
        return fig, axes

    import unittest.mock

    with unittest.mock.patch.object(plots.plt, "subplots", keep):
        plot_curves(one, tmp_path / "again.png", best_epoch=1)
    losses, accuracy = drawn["axes"]
    assert [t for t in losses.get_xticks() if losses.get_xlim()[0] <= t <= losses.get_xlim()[1]] == [1.0]  # one whole tick
    low, high = accuracy.get_ylim()
    assert high - low >= 0.05 and low < 0.80 < high  # a readable range around the one value, not 0.96-1.04 of it
    assert {line.get_label() for line in losses.get_lines()} >= {"train loss", "dev loss", "best: epoch 1"}
