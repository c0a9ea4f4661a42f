"""The text encoder: token ids -> embedding -> stacked (bi)RNN/GRU/LSTM over padded batches, padding kept out.

`TextEncoder` is the part of the classifier that reads text; the classifier
adds pooling and a linear head on top, and a language model can train the
same encoder to predict the next token.
"""

from __future__ import annotations

import torch
from torch import nn

from models.choices import CLASSIFIER_CELLS, DEFAULT_CELL, DEFAULT_DROPOUT, DEFAULT_EMBED_DIM, DEFAULT_HIDDEN_SIZE

CELLS = dict(zip(CLASSIFIER_CELLS, (nn.RNN, nn.GRU, nn.LSTM)))
EMBED_INIT = 0.1  # random embeddings start uniform in [-EMBED_INIT, EMBED_INIT]


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of ``x`` ``[B, T, D]`` within its first ``lengths[b]`` steps; padding stays at the end.

    Applying it twice gives ``x`` back.
    """
    steps = torch.arange(x.size(1), device=x.device).unsqueeze(0)
    lengths = lengths.to(x.device).unsqueeze(1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class RecurrentStack(nn.Module):
    """Stacked (bi)directional RNN/GRU/LSTM layers run on padded batches whose padding never reaches a real step.

    The forward direction reads each row left to right, so the padding after
    a row's end cannot affect its real steps. The backward direction reads
    each row reversed within its length (`reverse_within_lengths`), so its
    padding also comes last. The outputs at real steps are those of packed
    sequences, yet each direction is one call on a dense batch, which lets
    PyTorch use its fused CPU kernels (oneDNN for LSTM): about twice as fast
    in training as packing, whose backward pass runs step by step.
    Outputs at padded steps are meaningless; callers mask them.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        directions = 2 if bidirectional else 1
        self.layers = nn.ModuleList(
            nn.ModuleList(CELLS[cell](input_size if i == 0 else hidden_size * directions, hidden_size, batch_first=True, **kwargs)
                          for _ in range(directions))
            for i in range(num_layers)
        )
        self.bidirectional = bidirectional
        self.between_layers = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Outputs ``[B, T, hidden * directions]`` for inputs ``[B, T, D]`` with true lengths ``[B]``.

        At step ``t`` of row ``b`` the backward half holds the state after
        reading steps ``lengths[b]-1`` down to ``t``, as `nn.LSTM` would.
        """
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.between_layers(x)
            outputs = [layer[0](x)[0]]
            if self.bidirectional:
                outputs.append(reverse_within_lengths(layer[1](reverse_within_lengths(x, lengths))[0], lengths))
            x = torch.cat(outputs, dim=2) if self.bidirectional else outputs[0]
        return x


# What each cell becomes in ONNX, and how ONNX orders the gates' weight blocks that PyTorch stacks as (i, f, g, o) for
# an LSTM and (r, z, n) for a GRU: ONNX wants (i, o, f, c) and (z, r, h).
ONNX_OPS = dict(zip(CLASSIFIER_CELLS, ("RNN", "GRU", "LSTM")))
ONNX_GATES = dict(zip(CLASSIFIER_CELLS, ((0,), (1, 0, 2), (0, 3, 1, 2))))


class OnnxRecurrence(nn.Module):
    """A `RecurrentStack` (in eval mode) as `torch.onnx.export(..., dynamo=True)` should write it: one ONNX
    ``RNN``/``GRU``/``LSTM`` operator per layer, both directions in one, each row read within its length by the
    operator's ``sequence_lens`` input, as the stack reads it. Outputs at padded steps are zeros (callers mask them).

    Its weights are copied from the stack, in ONNX's layout, when it is made: make it after training. It runs only
    inside an export (it stands for ONNX operators that PyTorch does not compute); use the stack itself elsewhere.
    """

    def __init__(self, stack: RecurrentStack) -> None:
        super().__init__()
        first = stack.layers[0][0]
        self.bidirectional, self.hidden_size, self.num_layers = stack.bidirectional, first.hidden_size, len(stack.layers)
        self.cell = next(cell for cell, cls in CELLS.items() if isinstance(first, cls))
        if self.cell == "rnn" and first.nonlinearity != "tanh":
            raise ValueError(f"only tanh RNN layers export to ONNX, not {first.nonlinearity}")
        for i, layer in enumerate(stack.layers):  # per layer: W [dirs, gates*H, D], R [dirs, gates*H, H], B [dirs, 2*gates*H]
            self.register_buffer(f"w{i}", torch.stack([self._onnx_order(d.weight_ih_l0) for d in layer]))
            self.register_buffer(f"r{i}", torch.stack([self._onnx_order(d.weight_hh_l0) for d in layer]))
            self.register_buffer(f"b{i}", torch.stack([torch.cat([self._onnx_order(d.bias_ih_l0), self._onnx_order(d.bias_hh_l0)])
                                                       for d in layer]))

    def _onnx_order(self, weight: torch.Tensor) -> torch.Tensor:
        blocks = weight.detach().chunk(len(ONNX_GATES[self.cell]))
        return torch.cat([blocks[i] for i in ONNX_GATES[self.cell]]).clone()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Outputs ``[B, T, hidden * directions]`` for inputs ``[B, T, D]`` with true lengths ``[B]`` (1 to T each)."""
        if not torch.compiler.is_compiling():
            raise RuntimeError("OnnxRecurrence only runs inside torch.onnx.export(..., dynamo=True); use RecurrentStack elsewhere")
        batch, steps = x.shape[0], x.shape[1]
        directions = 2 if self.bidirectional else 1
        attributes: dict = {"hidden_size": self.hidden_size, "direction": "bidirectional" if self.bidirectional else "forward"}
        if self.cell == "gru":
            attributes["linear_before_reset"] = 1  # PyTorch's GRU applies the reset gate after the hidden-state product
        sequence_lens = lengths.to(torch.int32)
        x = x.transpose(0, 1)  # ONNX's default layout is time-major: [T, B, D]
        for i in range(self.num_layers):
            weights = (getattr(self, f"w{i}"), getattr(self, f"r{i}"), getattr(self, f"b{i}"))
            y = torch.onnx.ops.symbolic(ONNX_OPS[self.cell], (x, *weights, sequence_lens), attributes, dtype=x.dtype,
                                        shape=(steps, directions, batch, self.hidden_size))  # Y: [T, directions, B, H]
            x = y.permute(0, 2, 1, 3).reshape(steps, batch, directions * self.hidden_size)
        return x.transpose(0, 1)


class TextEncoder(nn.Module):
    """Token ids ``[B, T]`` with true lengths -> per-step outputs ``[B, T, hidden * directions]``.

    Random embeddings start uniform in ``±EMBED_INIT``; ``embedding_weights``
    (``vocab_size x embed_dim``) start it from given vectors instead.
    With ``word_chars`` (``vocab_size`` lists of token ids, see
    `data_processor.char_backoff.word_characters`), each token's vector is its
    own embedding plus the mean embedding of its characters.
    Dropout is applied to the embedded tokens and between recurrent layers;
    ``word_dropout`` in training also drops whole tokens (each token's vector
    zeroed with that probability, the rest scaled up to keep the expectation).
    """

    def __init__(self, vocab_size: int, cell: str = DEFAULT_CELL, embed_dim: int = DEFAULT_EMBED_DIM, hidden_size: int = DEFAULT_HIDDEN_SIZE,
                 num_layers: int = 1, bidirectional: bool = True, dropout: float = DEFAULT_DROPOUT, padding_idx: int = 0,
                 embedding_weights: torch.Tensor | None = None, freeze_embedding: bool = False, word_dropout: float = 0.0,
                 word_chars: list[list[int]] | None = None) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        self.cell = cell
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
        self.rnn = RecurrentStack(cell, embed_dim, hidden_size, num_layers, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.word_dropout = word_dropout
        table = None
        if word_chars is not None:
            if len(word_chars) != vocab_size:
                raise ValueError(f"word_chars has {len(word_chars)} rows, expected one per vocabulary entry ({vocab_size})")
            table = torch.full((vocab_size, max(1, max(map(len, word_chars), default=1))), padding_idx, dtype=torch.long)
            for i, chars in enumerate(word_chars):
                table[i, :len(chars)] = torch.tensor(chars, dtype=torch.long)
        self.word_chars: torch.Tensor | None
        self.register_buffer("word_chars", table)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    @property
    def bidirectional(self) -> bool:
        return self.rnn.bidirectional

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, perturbation: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``[B, T, output_size]``; steps at or past a row's length hold meaningless values (mask them).

        ``perturbation`` ``[B, T, embed_dim]``, if given, is added to the embedded tokens (adversarial training)."""
        embedded = self.embed(tokens)
        if perturbation is not None:
            embedded = embedded + perturbation
        return self.rnn(embedded, lengths.to(tokens.device))

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """The recurrent layers' inputs ``[B, T, embed_dim]`` for token ids ``[B, T]`` (word characters added, dropouts applied)."""
        embedded = self.embedding(tokens)
        if self.word_chars is not None:
            chars = self.word_chars[tokens]  # [B, T, K], padding_idx where a word has fewer characters
            real = chars.ne(self.embedding.padding_idx).unsqueeze(-1)
            embedded = embedded + (self.embedding(chars) * real).sum(2) / real.sum(2).clamp(min=1)
        if self.training and self.word_dropout > 0:
            keep = torch.rand(tokens.shape, device=tokens.device).ge(self.word_dropout).unsqueeze(-1)
            embedded = embedded * keep / (1 - self.word_dropout)
        return self.dropout(embedded)
