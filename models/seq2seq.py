"""A small encoder-decoder: the encoder's last hidden state starts the decoder (no attention)."""

from __future__ import annotations

import torch
from torch import nn

CELLS = {"rnn": nn.RNN, "gru": nn.GRU}


class Seq2Seq(nn.Module):
    """Map a token sequence to another: embed, encode with an RNN/GRU, decode with another, project to the vocabulary."""

    def __init__(self, vocab_size: int, cell: str = "gru", embed_dim: int = 32, hidden_size: int = 64, padding_idx: int = 0) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.encoder = CELLS[cell](embed_dim, hidden_size, batch_first=True)
        self.decoder = CELLS[cell](embed_dim, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size, vocab_size)

    def encode(self, source: torch.Tensor) -> torch.Tensor:
        """The encoder's final hidden state ``[1, B, H]`` for token ids ``[B, S]``."""
        _, state = self.encoder(self.embedding(source))
        return state

    def forward(self, source: torch.Tensor, decoder_input: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, V]`` for the next token at each decoder step, with teacher forcing."""
        outputs, _ = self.decoder(self.embedding(decoder_input), self.encode(source))
        return self.output(outputs)

    @torch.no_grad()
    def greedy_decode(self, source: torch.Tensor, start_id: int, max_len: int) -> torch.Tensor:
        """Token ids ``[B, max_len]``, each step fed the previous step's most likely token."""
        state = self.encode(source)
        token = torch.full((source.size(0), 1), start_id, dtype=torch.long, device=source.device)
        decoded = []
        for _ in range(max_len):
            output, state = self.decoder(self.embedding(token), state)
            token = self.output(output).argmax(dim=-1)
            decoded.append(token)
        return torch.cat(decoded, dim=1)
