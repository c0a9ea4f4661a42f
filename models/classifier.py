"""RNN text classifier: embedding -> (bi)RNN/GRU/LSTM over packed sequences -> pooling -> linear."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
POOLINGS = ("last", "max", "mean")
EMBED_INIT = 0.1  # random embeddings start uniform in [-EMBED_INIT, EMBED_INIT]


class RNNClassifier(nn.Module):
    """Classify padded token-id sequences.

    Sequences are packed by their true lengths, so padding never reaches the
    recurrent layers and never changes a prediction. ``pooling`` turns the
    per-step outputs into one vector: ``last`` (the final hidden state of each
    direction), ``max`` or ``mean`` over the real steps.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cell: str = "lstm",
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.3,
        pooling: str = "max",
        padding_idx: int = 0,
        embedding_weights: torch.Tensor | None = None,
        freeze_embedding: bool = False,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        self.cell, self.pooling = cell, pooling
        if embedding_weights is not None:
            if tuple(embedding_weights.shape) != (vocab_size, embed_dim):
                raise ValueError(f"embedding_weights has shape {tuple(embedding_weights.shape)}, expected {(vocab_size, embed_dim)}")
            self.embedding = nn.Embedding.from_pretrained(embedding_weights.float(), freeze=freeze_embedding, padding_idx=padding_idx)
        else:
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
            # Small initial vectors (instead of N(0, 1)): Adam's steps are about lr in size, so word vectors
            # that start small can move far, relative to their scale, in the few updates a rare word gets.
            with torch.no_grad():
                nn.init.uniform_(self.embedding.weight, -EMBED_INIT, EMBED_INIT)
                self.embedding.weight[padding_idx].zero_()
            self.embedding.weight.requires_grad_(not freeze_embedding)
        rnn_kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = CELLS[cell](
            embed_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            **rnn_kwargs,
        )
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` for token ids ``[B, T]`` with true lengths ``[B]`` (on the CPU)."""
        embedded = self.dropout(self.embedding(tokens))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, state = self.rnn(packed)
        if self.pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state
            directions = 2 if self.rnn.bidirectional else 1
            pooled = torch.cat([h_n[-d] for d in range(directions, 0, -1)], dim=1)
        else:
            padded, _ = pad_packed_sequence(outputs, batch_first=True)
            mask = (torch.arange(padded.size(1), device=padded.device)[None, :] < lengths.to(padded.device)[:, None]).unsqueeze(-1)
            if self.pooling == "max":
                pooled = padded.masked_fill(~mask, float("-inf")).max(dim=1).values
            else:
                pooled = padded.sum(dim=1) / lengths.to(padded.device).unsqueeze(1).to(padded.dtype)
        return self.output(self.dropout(pooled))
