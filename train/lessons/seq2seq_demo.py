"""Teach an encoder-decoder to map words to their pairs (man -> women, king -> queen), letter by letter.

Words become letter ids with three special symbols: ``<pad>`` fills short
words, ``<s>`` starts the decoder and ``</s>`` ends its output. Training uses
teacher forcing (the decoder reads ``<s>`` + the target and predicts the
target + ``</s>``); translation is greedy, each step fed the previous guess.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from data_processor.base.errors import ConfigError
from models.seq2seq import Seq2Seq
from train.common.runtime import set_seed, set_threads
from train.lessons.settings import Seq2SeqSettings

PAIRS = (("man", "women"), ("black", "white"), ("king", "queen"), ("girl", "boy"), ("up", "down"), ("high", "low"))
PAD, START, END = "<pad>", "<s>", "</s>"
EPOCHS = Seq2SeqSettings.epochs
Log = Callable[[str], None]


class Letters:
    """Letter <-> id, with ``<pad>`` = 0, ``<s>`` and ``</s>`` first."""

    def __init__(self, words: Sequence[str]) -> None:
        self.symbols = [PAD, START, END] + sorted(set("".join(words)))
        self.ids = {s: i for i, s in enumerate(self.symbols)}

    def encode(self, words: Sequence[str], width: int, prefix: Sequence[str] = (), suffix: Sequence[str] = ()) -> torch.Tensor:
        """``[len(words), width]`` ids of ``prefix + letters + suffix``, padded with ``<pad>``."""
        rows = [[self.ids[s] for s in [*prefix, *word, *suffix]] for word in words]
        return torch.tensor([row + [self.ids[PAD]] * (width - len(row)) for row in rows])

    def decode(self, ids: Sequence[int]) -> str:
        """The letters before the first ``</s>`` (special symbols dropped)."""
        letters = []
        for i in ids:
            symbol = self.symbols[i]
            if symbol == END:
                break
            if symbol not in (PAD, START):
                letters.append(symbol)
        return "".join(letters)


@dataclass
class Seq2SeqResult:
    """Translations of the training words after training, and how long it took."""

    translations: list[tuple[str, str, str]]  # (source, expected, produced)
    accuracy: float
    final_loss: float
    epochs: int
    seconds: float


def train_seq2seq(pairs: Sequence[tuple[str, str]] = PAIRS, cell: str = "gru", epochs: int = EPOCHS, lr: float = 0.01,
                  hidden_size: int = 64, seed: int = 0, threads: int = 1, log: Log | None = None,
                  log_every: int = 50) -> Seq2SeqResult:
    """Train `Seq2Seq` on ``pairs`` (full batch, Adam) and translate every source word greedily.

    The model is tiny, so one torch thread (the default) is fastest: more threads
    only add synchronisation, and on a busy machine that costs many times the
    work. The previous thread count is restored afterwards.
    """
    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {epochs}")
    set_seed(seed)
    previous = torch.get_num_threads()
    set_threads(threads)
    try:
        return _train_and_translate(pairs, cell, epochs, lr, hidden_size, log, log_every)
    finally:
        torch.set_num_threads(previous)


def _train_and_translate(pairs: Sequence[tuple[str, str]], cell: str, epochs: int, lr: float, hidden_size: int,
                         log: Log | None, log_every: int) -> Seq2SeqResult:
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    letters = Letters(sources + targets)
    width = max(map(len, targets)) + 1
    source = letters.encode(sources, max(map(len, sources)))
    decoder_input = letters.encode(targets, width, prefix=[START])
    decoder_target = letters.encode(targets, width, suffix=[END])
    model = Seq2Seq(len(letters.symbols), cell=cell, hidden_size=hidden_size, padding_idx=letters.ids[PAD])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=letters.ids[PAD])
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        logits = model(source, decoder_input)
        loss = loss_fn(logits.reshape(-1, logits.size(-1)), decoder_target.reshape(-1))
        loss.backward()
        optimizer.step()
        if log is not None and (epoch % log_every == 0 or epoch == epochs):
            log(f"epoch {epoch:4d}  loss {loss.item():.4f}")
    model.eval()
    produced = [letters.decode(row) for row in model.greedy_decode(source, letters.ids[START], width).tolist()]
    translations = list(zip(sources, targets, produced))
    accuracy = sum(want == got for _, want, got in translations) / len(translations)
    return Seq2SeqResult(translations, accuracy, loss.item(), epochs, time.perf_counter() - start)
