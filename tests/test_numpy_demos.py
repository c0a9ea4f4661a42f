"""The teaching demos and the check-gradients command, end to end."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import run
from tests.helpers import run_cli
from train.lessons.binary_addition import (
    exhaustive_accuracy,
    from_bits,
    to_bits,
    train_binary_addition,
)
from train.lessons.seq2seq_demo import PAIRS, Letters, train_seq2seq
from train.lessons.srn_demo import srn_demo


def _tables(text: str) -> dict[str, list[list[list[float]]]]:
    """title -> rows -> [input, state, output] vectors, read back from the printed demo."""
    tables = {}
    for block in text.split("\n\n"):
        title, *rows = block.splitlines()
        if title.endswith(":") and rows and rows[0].split()[0] == "t":
            tables[title] = [[[float(v) for v in vec.split(",")] for vec in re.findall(r"\[([^\]]*)\]", row)] for row in rows[1:]]
    return tables


def _hand_srn(act) -> list[tuple[list[float], float, float]]:
    """The SRN with all-ones weights: both units are always equal, so one number each."""
    s, steps = 0.0, []
    for x in (1.0, 1.0, 2.0):
        s = act(2 * x + 2 * s)  # two inputs and two state units, each weight 1
        steps.append(([x, x], s, 2 * s))
    return steps


def test_srn_demo_prints_hand_computed_values() -> None:
    text = srn_demo()
    tables = _tables(text)
    assert len(tables) == 4
    expected = {"identity": _hand_srn(lambda a: a), "tanh": _hand_srn(math.tanh)}
    assert [row[1][0] for row in tables["numpy, act = identity (no tanh):"]] == [2, 6, 16]
    for title, rows in tables.items():
        want = expected["identity" if "identity" in title else "tanh"]
        assert len(rows) == 3
        for (x, state, output), (wx, ws, wo) in zip(rows, want):
            assert x == wx
            assert state == pytest.approx([ws, ws], rel=1e-7)
            assert output == pytest.approx([wo, wo], rel=1e-7)
    diffs = [float(d) for d in re.findall(r"max difference (\S+)", text)]
    assert len(diffs) == 2 and max(diffs) < 1e-12


def test_demo_command_prints_srn(capsys: pytest.CaptureFixture) -> None:
    assert run.main(["demo", "srn"]) == 0
    assert len(_tables(capsys.readouterr().out)) == 4


def test_bits_round_trip() -> None:
    numbers = np.array([0, 1, 2, 127, 200, 255])
    bits = to_bits(numbers, 8)
    assert bits.shape == (8, 6) and list(bits[:, 1]) == [1, 0, 0, 0, 0, 0, 0, 0]
    assert list(from_bits(bits)) == list(numbers)


@pytest.mark.e2e
def test_binary_addition_learns_every_pair() -> None:
    lines = []
    result = train_binary_addition(seed=0, log=lines.append)
    assert result.pairs == 128 * 128
    assert result.accuracy == 1.0
    assert result.seconds < 60
    assert lines and all(line.startswith("iteration") for line in lines)
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 128, 50), rng.integers(0, 128, 50)
    assert list(result.adder.add(a, b, 8)) == [int(x) + int(y) for x, y in zip(a, b)]


def test_binary_addition_untrained_is_not_perfect() -> None:
    result = train_binary_addition(iterations=1, seed=0)
    assert result.accuracy < 0.5
    assert exhaustive_accuracy(result.adder, 8) == (result.accuracy, 128 * 128)


def test_letters_round_trip() -> None:
    letters = Letters(["king", "queen"])
    ids = letters.encode(["king"], 7, prefix=["<s>"], suffix=["</s>"])
    assert ids.shape == (1, 7)
    assert letters.decode(ids[0].tolist()) == "king"


@pytest.mark.e2e
@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_seq2seq_translates_all_training_pairs(cell: str) -> None:
    result = train_seq2seq(cell=cell, seed=0)
    assert [(s, want) for s, want, _ in result.translations] == list(PAIRS)
    assert [got for _, _, got in result.translations] == [want for _, want in PAIRS]
    assert result.accuracy == 1.0
    assert result.seconds < 60


def test_check_gradients_command_end_to_end() -> None:
    proc = run_cli("check-gradients", "--cell", "all")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[1:] if line.split()[0] in ("rnn", "gru", "lstm")]
    per_cell = {cell: [r for r in rows if r[0] == cell] for cell in ("rnn", "gru", "lstm")}
    for cell, cell_rows in per_cell.items():
        names = {" ".join(r[1:-4]) for r in cell_rows}
        assert {"d weight_ih", "d weight_hh", "d bias_ih", "d bias_hh", "d input", "d h0"} <= names, cell
        assert all(r[-1] == "pass" and float(r[-3]) <= 1e-8 for r in cell_rows)
    assert f"{len(rows)} of {len(rows)} checks passed" in proc.stdout


def test_check_gradients_exits_1_when_a_gradient_is_wrong(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from models.numpy_ref.cells import LSTM

    original = LSTM._step_backward

    def no_forget_gate(self, grad_state, cache):
        d_gates, _, d_prev = original(self, grad_state, cache)
        d_gates[:, d_gates.shape[1] // 4: d_gates.shape[1] // 2] = 0.0  # drop the gradient through f
        return d_gates, d_gates, d_prev

    monkeypatch.setattr(LSTM, "_step_backward", no_forget_gate)
    assert run.main(["check-gradients", "--cell", "lstm"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "d weight_hh" in out


@pytest.mark.parametrize("argv", [["demo", "binary-addition", "--iterations", "0"], ["demo", "seq2seq", "--epochs", "-1"]])
def test_demo_rejects_a_bad_budget(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert run.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_check_gradients_rejects_an_unknown_cell(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run.main(["check-gradients", "--cell", "transformer"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
