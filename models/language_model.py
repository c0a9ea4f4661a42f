"""A `TextEncoder` trained as a language model: its forward direction predicts the next token, its backward direction
the previous one (a pair of ULMFiT/ELMo language models sharing one embedding).

The output layer is tied to the input embedding (each direction projects its hidden state to the embedding size and
scores a token by its embedding row plus a bias), so the whole language model is indexed by the vocabulary alone: it
can be carried to another vocabulary token by token, and its cost does not grow with the vocabulary when it trains
with a sampled softmax (Jean et al. 2015): each batch scores the true tokens against ``samples`` tokens drawn from a
smoothed unigram distribution, with the log-expected-count correction. `exact_nll` scores with the full softmax, for
an honest held-out perplexity.
"""

from __future__ import annotations

import torch
from torch import nn

from models.encoder import TextEncoder

SMOOTHING = 0.75  # negatives are drawn from the unigram distribution raised to this power (word2vec's choice)


def lm_targets(tokens: torch.Tensor, lengths: torch.Tensor, backward: bool, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What each step of a direction predicts, and where a prediction counts: ``(targets [B, T], mask [B, T])``.

    Forward: step ``t`` predicts token ``t+1`` (steps up to a row's second-to-last). Backward: step ``t`` predicts token
    ``t-1`` (steps from 1 to a row's last). Padding is never a target.
    """
    steps = torch.arange(tokens.size(1), device=tokens.device).unsqueeze(0)
    lengths = lengths.to(tokens.device).unsqueeze(1)
    if backward:
        targets = torch.cat([torch.full_like(tokens[:, :1], pad_id), tokens[:, :-1]], dim=1)
        mask = (steps >= 1) & (steps < lengths)
    else:
        targets = torch.cat([tokens[:, 1:], torch.full_like(tokens[:, :1], pad_id)], dim=1)
        mask = steps < lengths - 1
    return targets, mask


class EncoderLM(nn.Module):
    """Language-model heads over a `TextEncoder` (one recurrent layer if bidirectional, any number if not: a second
    bidirectional layer would let each direction read the tokens it must predict).

    ``counts`` (one per vocabulary entry) set the distribution negatives are drawn from; the padding id is never drawn.
    """

    def __init__(self, encoder: TextEncoder, counts: torch.Tensor, samples: int = 512, dropout: float = 0.3) -> None:
        super().__init__()
        if encoder.bidirectional and len(encoder.rnn.layers) > 1:
            raise ValueError("a bidirectional encoder trains as a language model with one recurrent layer only")
        vocab_size, embed_dim = encoder.embedding.weight.shape
        if counts.shape != (vocab_size,):
            raise ValueError(f"counts has shape {tuple(counts.shape)}, expected ({vocab_size},)")
        self.encoder = encoder
        hidden = encoder.output_size // (2 if encoder.bidirectional else 1)
        self.project = nn.ModuleList(nn.Linear(hidden, embed_dim) for _ in range(2 if encoder.bidirectional else 1))
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.dropout = nn.Dropout(dropout)
        self.samples = samples
        weights = counts.double().clamp(min=0) ** SMOOTHING
        weights[encoder.embedding.padding_idx] = 0
        self.register_buffer("noise", (weights / weights.sum()).float(), persistent=False)

    @property
    def pad_id(self) -> int:
        return int(self.encoder.embedding.padding_idx)

    def directions(self, tokens: torch.Tensor, lengths: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per direction (forward first): the projected outputs at the steps that predict ``[N, embed_dim]``, and their
        targets ``[N]``; plus each step's mask, as ``(projected, targets, mask)``."""
        outputs = self.encoder(tokens, lengths)
        halves = outputs.chunk(len(self.project), dim=2)
        result = []
        for backward, (half, project) in enumerate(zip(halves, self.project)):
            targets, mask = lm_targets(tokens, lengths, bool(backward), self.pad_id)
            result.append((project(self.dropout(half[mask])), targets[mask], mask))
        return result

    def sampled_loss(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The summed sampled-softmax negative log-likelihood of both directions' targets, and how many targets."""
        weight = self.encoder.embedding.weight
        negatives = torch.multinomial(self.noise, self.samples, replacement=True)
        log_expected = torch.log(self.noise * self.samples)
        total, count = weight.new_zeros(()), 0
        for projected, targets, _ in self.directions(tokens, lengths):
            true = (projected * weight[targets]).sum(1) + self.bias[targets] - log_expected[targets]
            noise = projected @ weight[negatives].t() + self.bias[negatives] - log_expected[negatives]
            noise = noise.masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))  # accidental hits
            total = total + (torch.logsumexp(torch.cat([true.unsqueeze(1), noise], dim=1), dim=1) - true).sum()
            count += len(targets)
        return total, count

    @torch.no_grad()
    def exact_nll(self, tokens: torch.Tensor, lengths: torch.Tensor, chunk: int = 2048) -> list[tuple[float, int]]:
        """Per direction (forward first): the summed full-softmax negative log-likelihood of its targets, and how many."""
        weight = self.encoder.embedding.weight
        result = []
        for projected, targets, _ in self.directions(tokens, lengths):
            nll = 0.0
            for start in range(0, len(targets), chunk):
                logits = projected[start:start + chunk] @ weight.t() + self.bias
                logits[:, self.pad_id] = float("-inf")
                nll += float(nn.functional.cross_entropy(logits, targets[start:start + chunk], reduction="sum"))
            result.append((nll, len(targets)))
        return result
