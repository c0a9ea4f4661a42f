"""RNN text classifier: a `TextEncoder` (embedding -> (bi)RNN/GRU/LSTM, padding kept out) -> pooling -> linear."""

from __future__ import annotations

import torch
from torch import nn

from models.choices import DEFAULT_CELL, DEFAULT_DROPOUT, DEFAULT_EMBED_DIM, DEFAULT_HIDDEN_SIZE, DEFAULT_POOLING, POOLINGS
from models.encoder import OnnxRecurrence, TextEncoder


class RNNClassifier(nn.Module):
    """Classify padded token-id sequences.

    The recurrent layers never see padding (see `RecurrentStack`), so padding
    never changes a prediction. ``pooling`` turns the per-step outputs into
    one vector: ``last`` (the final hidden state of each direction), ``max``
    or ``mean`` over the real steps, ``attention``: a weighted mean whose
    weights (a softmax over the real steps) a learnt linear score of each
    step's output sets; or ``concat``: last, max and mean side by side.

    With ``multi_label`` each class is a yes/no question of its own:
    `probabilities` is a sigmoid per class instead of a softmax over them.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cell: str = DEFAULT_CELL,
        embed_dim: int = DEFAULT_EMBED_DIM,
        hidden_size: int = DEFAULT_HIDDEN_SIZE,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = DEFAULT_DROPOUT,
        pooling: str = DEFAULT_POOLING,
        padding_idx: int = 0,
        embedding_weights: torch.Tensor | None = None,
        freeze_embedding: bool = False,
        word_dropout: float = 0.0,
        word_chars: list[list[int]] | None = None,
        multi_label: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        self.pooling, self.num_classes, self.multi_label = pooling, num_classes, multi_label
        self.encoder = TextEncoder(vocab_size, cell, embed_dim, hidden_size, num_layers, bidirectional, dropout, padding_idx,
                                   embedding_weights, freeze_embedding, word_dropout, word_chars)
        self.attention = nn.Linear(self.encoder.output_size, 1) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(self.encoder.output_size * (3 if pooling == "concat" else 1), num_classes)

    @property
    def cell(self) -> str:
        return self.encoder.cell

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, perturbation: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, num_classes]`` for token ids ``[B, T]`` with true lengths ``[B]``; ``perturbation``
        ``[B, T, embed_dim]``, if given, is added to the embedded tokens (see `TextEncoder.forward`)."""
        lengths = lengths.to(tokens.device)
        return self.classify(self.encoder(tokens, lengths, perturbation), lengths)

    def classify(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` from the encoder's outputs ``[B, T, output_size]``: pooled over each row's real steps."""
        if self.pooling == "concat":
            pooled = torch.cat([self._pool(outputs, lengths, way) for way in ("last", "max", "mean")], dim=1)
        else:
            pooled = self._pool(outputs, lengths, self.pooling)
        return self.output(self.dropout(pooled))

    def _pool(self, outputs: torch.Tensor, lengths: torch.Tensor, way: str) -> torch.Tensor:
        """One vector per row ``[B, output_size]``: ``last``, ``max``, ``mean`` or ``attention`` over the real steps."""
        if way == "last":
            last = outputs[torch.arange(lengths.size(0), device=outputs.device), lengths - 1]
            if self.encoder.bidirectional:  # the backward direction ends at step 0
                half = outputs.size(2) // 2
                last = torch.cat([last[:, :half], outputs[:, 0, half:]], dim=1)
            return last
        mask = (torch.arange(outputs.size(1), device=outputs.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        if way == "max":
            return outputs.masked_fill(~mask, float("-inf")).max(dim=1).values
        if way == "attention" and self.attention is not None:
            weights = torch.softmax(self.attention(outputs).masked_fill(~mask, float("-inf")), dim=1)
            return (weights * outputs.masked_fill(~mask, 0.0)).sum(dim=1)
        return outputs.masked_fill(~mask, 0.0).sum(dim=1) / lengths.unsqueeze(1).to(outputs.dtype)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities from `forward`'s logits: a softmax over the classes, or a sigmoid per class (multi-label)."""
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)


class ExportableClassifier(nn.Module):
    """``(tokens [B, T], lengths [B]) -> probabilities [B, C]`` of a trained `RNNClassifier`, for
    ``torch.onnx.export(..., dynamo=True)``: its recurrent layers become ONNX RNN/GRU/LSTM operators that read each row
    within its length (`OnnxRecurrence`); the embedding, pooling and head are the classifier's own. It runs only inside
    an export. Puts ``model`` in eval mode (dropout off); make it after training."""

    def __init__(self, model: RNNClassifier) -> None:
        super().__init__()
        self.model = model.eval()
        self.recurrence = OnnxRecurrence(model.encoder.rnn)
        self.eval()

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs = self.recurrence(self.model.encoder.embed(tokens), lengths)
        return self.model.probabilities(self.model.classify(outputs, lengths))


def upgrade_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A classifier state_dict saved before the encoder became its own module (keys ``embedding.*``, ``rnn.*``), with today's keys."""
    moved = ("embedding.", "rnn.")
    return {f"encoder.{k}" if k.startswith(moved) else k: v for k, v in state.items()}
