"""The settings of ``check-gradients`` and the teaching demos, declared once. No torch here."""

from __future__ import annotations

from dataclasses import dataclass

from data_processor.base.settings import Settings, option
from models.choices import SEQ2SEQ_CELLS

CELL_NAMES = ("rnn", "gru", "lstm")  # the numpy reference cells checked against torch.nn.RNN/GRU/LSTM
TOLERANCE = 1e-8  # largest absolute difference from autograd that passes


@dataclass
class GradientCheckSettings(Settings):
    """``check-gradients``: numpy backprop through time against PyTorch autograd."""

    cell: str = option("all", "which cell to check", choices=(*CELL_NAMES, "all"))
    seed: int = option(0, "seed of the random weights, inputs and gradients")


@dataclass
class BinaryAdditionSettings(Settings):
    """``demo binary-addition``: a numpy RNN learns to add 8-bit numbers."""

    iterations: int = option(3000, "SGD steps of 32 random additions", at_least=1)
    seed: int = option(0, "seed of the weights and the training examples")


@dataclass
class Seq2SeqSettings(Settings):
    """``demo seq2seq``: an encoder-decoder maps words to their pairs."""

    cell: str = option("gru", "recurrent cell of the encoder and decoder", choices=SEQ2SEQ_CELLS)
    epochs: int = option(200, "full-batch training steps", at_least=1)
    seed: int = option(0, "seeds Python, numpy and torch")
