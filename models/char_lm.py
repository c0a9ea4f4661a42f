"""Character language model: ids -> embedding (or one-hot) -> recurrent layers -> next-character logits."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from models.cells import ScratchGRU, ScratchLSTM

# Every recurrent layer takes (input_size, hidden_size, num_layers=, dropout=) and reads batch-first input.
RECURRENT = {
    "rnn": partial(nn.RNN, nonlinearity="tanh", batch_first=True),
    "gru": partial(nn.GRU, batch_first=True),
    "lstm": partial(nn.LSTM, batch_first=True),
    "scratch-gru": ScratchGRU,
    "scratch-lstm": ScratchLSTM,
}
CELLS = tuple(RECURRENT)
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None


class CharLM(nn.Module):
    """Predict the next character at every step of ``[B, T]`` ids.

    ``embed_dim = 0`` feeds one-hot vectors instead of an embedding.
    ``cell`` is ``rnn | gru | lstm`` (PyTorch's layers) or ``scratch-gru |
    scratch-lstm`` (`models.cells`, written from scratch). Dropout, when > 0,
    is applied to the inputs, between layers and before the output layer.
    """

    def __init__(self, vocab_size: int, cell: str = "lstm", embed_dim: int = 64, hidden_size: int = 256, num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        if cell not in RECURRENT:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        self.vocab_size, self.cell = vocab_size, cell
        self.embedding = nn.Embedding(vocab_size, embed_dim) if embed_dim > 0 else None
        self.rnn = RECURRENT[cell](embed_dim or vocab_size, hidden_size, num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """(logits ``[B, T, V]``, the recurrent state after the last step); ``state`` None starts from zeros."""
        if self.embedding is not None:
            inputs = self.embedding(ids)
        else:
            inputs = F.one_hot(ids, self.vocab_size).to(self.output.weight.dtype)
        outputs, state = self.rnn(self.dropout(inputs), state)
        return self.output(self.dropout(outputs)), state


def detach_state(state: State) -> State:
    """The state cut from the graph, so backpropagation stops at the chunk boundary (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()
