"""A classifier started from a pretrained encoder (ULMFiT, Howard & Ruder 2018), in three steps after pretraining:

1. `transfer_encoder`: the classifier's vocabulary is mapped onto the language model's by token string; the recurrent
   layers are copied whole. Tokens the language model never saw keep their word2vec/random rows (rescaled to the
   pretrained rows' mean norm).
2. `fine_tune_lm`: the encoder goes on as a language model over the training texts (never dev or test) for
   ``--lm-steps`` batches, so it learns the task's words and style.
3. `ulmfit_optimizer`: the classifier trains with discriminative learning rates (each layer ``--lr-decay`` times
   slower than the one above it), a slanted triangular schedule stepped per batch, and gradual unfreezing (the head
   alone in the first epoch, then one more layer each epoch, top down). A frozen layer has learning rate zero rather
   than no gradient, so the same code runs under torchrun's DistributedDataParallel.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data_processor.batching import BucketBatcher
from data_processor.corpora import CORPORA
from data_processor.datasets import CLASSIFICATION_DATASETS
from data_processor.base.errors import ConfigError
from data_processor.base.messages import Log, log_stderr
from data_processor.vocab import Vocab
from models.classifier import RNNClassifier
from models.language_model import EncoderLM
from train.classify.lm_training import fit_lm, heldout_metrics, vocabulary_counts
from train.classify.pretrain import load_pretrained
from train.classify.pretrain_settings import PretrainConfig
from train.classify.settings import NO_ENCODER, ClassifierConfig
from train.common.optim import PER_STEP_SCHEDULES, step_factor
from train.common.text_settings import SHAPE_FIELDS, TEXT_FIELDS

TASK_HELDOUT = 0.05  # share of the training texts (at most 500) kept out of task-LM fine-tuning to show its perplexity


@dataclass
class PretrainedEncoder:
    """A pretraining run's settings, vocabulary and weights (of the `EncoderLM`: ``encoder.*``, ``project.*``, ``bias``)."""

    path: Path
    config: PretrainConfig
    vocab: Vocab
    state: dict[str, torch.Tensor]


def is_corpus_name(encoder: str) -> bool:
    """Whether ``--encoder`` names a corpus (pretrained on it and cached) rather than a pretraining run directory."""
    return encoder in CORPORA or encoder in CLASSIFICATION_DATASETS


def load_encoder(config: ClassifierConfig, log: Log = log_stderr) -> PretrainedEncoder | None:
    """The pretrained encoder ``--encoder`` names (pretraining a general-domain one first when it is a corpus name and not
    cached yet); None for ``none``. A `ConfigError` when it was pretrained with other text settings or shape."""
    if config.encoder == NO_ENCODER:
        return None
    if is_corpus_name(config.encoder):
        from train.classify.encoder_cache import general_encoder

        path = general_encoder(config, config.encoder, log)
    else:
        path = Path(config.encoder)
    lm_config, vocab, state = load_pretrained(path)
    check_compatible(config, lm_config, path)
    return PretrainedEncoder(path, lm_config, vocab, state)


def check_compatible(config: ClassifierConfig, lm_config: PretrainConfig, path: Path) -> None:
    """A `ConfigError` naming the first setting in which the classifier differs from its pretrained encoder."""
    if config.cell != lm_config.cell:
        raise ConfigError(f"--encoder {path}: pretrained as {lm_config.cell}, not {config.cell}; use --model {lm_config.cell}")
    for name in (*TEXT_FIELDS, *SHAPE_FIELDS):
        mine, theirs = getattr(config, name), getattr(lm_config, name)
        if name == "embed_dim" and mine is None:
            continue
        if mine != theirs:
            flag = f"--{name.replace('_', '-')}"
            raise ConfigError(f"--encoder {path}: pretrained with {name} {theirs!r}, this run has {flag} {mine!r}; give {flag} "
                              f"{theirs!r} (a fine-tuned encoder reads text exactly as it was pretrained), or pretrain again")


def with_encoder_shape(config: ClassifierConfig, encoder: PretrainedEncoder | None) -> ClassifierConfig:
    """The config with the embedding size of the pretrained encoder (when it has one)."""
    if encoder is None:
        return config
    return dataclasses.replace(config, embed_dim=encoder.config.embed_dim or encoder.state["encoder.embedding.weight"].shape[1])


def map_rows(source: Vocab, target: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """``(target_ids, source_ids)`` of the tokens both vocabularies hold (specials included), for copying rows by string."""
    pairs = [(i, source.stoi[token]) for i, token in enumerate(target.itos) if token in source.stoi]
    ids = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)
    return ids[:, 0], ids[:, 1]


@torch.no_grad()
def transfer_encoder(model: RNNClassifier, vocab: Vocab, encoder: PretrainedEncoder) -> dict[str, float]:
    """Copy the pretrained encoder into ``model`` (whose vocabulary is ``vocab``); return how much of the vocabulary, and
    of the training tokens, the pretrained embedding covered."""
    recurrent = {k.removeprefix("encoder.rnn."): v for k, v in encoder.state.items() if k.startswith("encoder.rnn.")}
    model.encoder.rnn.load_state_dict(recurrent)
    weight = model.encoder.embedding.weight
    mine, theirs = map_rows(encoder.vocab, vocab)
    pretrained = encoder.state["encoder.embedding.weight"]
    missing = torch.ones(len(vocab), dtype=torch.bool)
    missing[mine] = False
    missing[vocab.pad_id] = False
    if missing.any():  # rows from word2vec or random: brought to the pretrained rows' scale
        norm = pretrained[theirs].norm(dim=1).mean() / weight[missing].norm(dim=1).mean().clamp(min=1e-8)
        weight[missing] *= norm
    weight[mine] = pretrained[theirs]
    weight[vocab.pad_id] = 0
    total = sum(vocab.counts.get(t, 0) for t in vocab.itos)
    covered = sum(vocab.counts.get(vocab.itos[i], 0) for i in mine.tolist())
    return {"vocabulary_covered": round(len(mine) / len(vocab), 4), "tokens_covered": round(covered / max(total, 1), 4)}


@torch.no_grad()
def task_language_model(model: RNNClassifier, vocab: Vocab, encoder: PretrainedEncoder, samples: int) -> EncoderLM:
    """A language model over ``model``'s encoder (shared, not copied), whose output heads start from the pretrained ones
    (biases mapped by token string)."""
    lm = EncoderLM(model.encoder, vocabulary_counts(vocab.counts, vocab.itos), samples, encoder.config.dropout)
    lm.project.load_state_dict({k.removeprefix("project."): v for k, v in encoder.state.items() if k.startswith("project.")})
    mine, theirs = map_rows(encoder.vocab, vocab)
    lm.bias.fill_(float(encoder.state["bias"].min()))
    lm.bias[mine] = encoder.state["bias"][theirs]
    return lm


def fine_tune_lm(model: RNNClassifier, vocab: Vocab, encoder: PretrainedEncoder, train: BucketBatcher, config: ClassifierConfig,
                 device: torch.device, log: Log = log_stderr) -> dict[str, float]:
    """Train ``model``'s encoder as a language model on the training texts of ``train`` for ``--lm-steps`` batches (a
    few texts held out to measure it); return the held-out perplexities before and after, and the seconds it took."""
    started = time.perf_counter()
    lm = task_language_model(model, vocab, encoder, encoder.config.samples).to(device)
    order = np.random.default_rng(config.seed).permutation(train.num_rows)
    held = min(500, max(1, int(TASK_HELDOUT * train.num_rows)))
    rows, heldout_rows = np.sort(order[held:]), np.sort(order[:held])
    texts = BucketBatcher(train.rows.subset(rows), None, config.batch_size, train.pad_id, train.unk_id, train.max_len, shuffle=True,
                          seed=config.seed)
    heldout = BucketBatcher(train.rows.subset(heldout_rows), None, config.batch_size * 4, train.pad_id, train.unk_id, train.max_len)
    before = heldout_metrics(lm, heldout, device)
    result, trainer = fit_lm(lm, texts, heldout, lr=config.lm_lr, epochs=math.ceil(config.lm_steps / max(len(texts), 1)),
                             max_steps=config.lm_steps, clip=encoder.config.clip, device=device, progress=config.progress,
                             log=lambda line: log(f"task LM: {line}"))
    after = result.history[-1]
    record = {"steps": trainer.steps, "heldout_texts": held, "seconds": round(time.perf_counter() - started, 1)}
    for name in ("forward", "backward"):
        if f"dev_{name}_perplexity" in after:
            record[f"{name}_perplexity_before"] = before[f"dev_{name}_perplexity"]
            record[f"{name}_perplexity_after"] = after[f"dev_{name}_perplexity"]
    return record


def layer_groups(model: RNNClassifier) -> list[list[torch.nn.Parameter]]:
    """The classifier's parameters bottom up: the embedding, each recurrent layer, the head (pooling and output)."""
    groups = [list(model.encoder.embedding.parameters())]
    groups += [list(layer.parameters()) for layer in model.encoder.rnn.layers]
    head = [p for name, p in model.named_parameters() if not name.startswith("encoder.")]
    return [g for g in groups if g] + [head]


def ulmfit_optimizer(model: RNNClassifier, config: ClassifierConfig, lr: float, steps_per_epoch: int, epochs: int):
    """Adam(W) over the classifier's layer groups with discriminative rates, and its per-batch schedule (``--schedule``:
    slanted triangular, cosine or none; with gradual unfreezing): ``(optimizer, scheduler)``. The scheduler has
    ``per_step = True``."""
    groups = layer_groups(model)
    top = len(groups) - 1
    params = [{"params": [p for p in g if p.requires_grad], "lr": lr / config.lr_decay ** (top - i)} for i, g in enumerate(groups)]
    params = [p for p in params if p["params"]]
    optimizer = (torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam)(params, lr=lr, weight_decay=config.weight_decay)
    total = max(1, steps_per_epoch * epochs)

    def factor(depth: int):
        def rate(step: int) -> float:
            epoch = step // max(1, steps_per_epoch)  # 0-based
            frozen = config.unfreeze == "gradual" and epoch < depth
            return 0.0 if frozen else step_factor(config.schedule, step, total)
        return rate

    depths = [top - i for i, g in enumerate(groups) if any(p.requires_grad for p in g)]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [factor(d) for d in depths])
    scheduler.per_step = True  # type: ignore[attr-defined]
    return optimizer, scheduler


def check_encoder_optimizer(config: ClassifierConfig) -> None:
    """A `ConfigError` for an optimizer or schedule that encoder fine-tuning does not drive (Adam or AdamW, per batch)."""
    if config.encoder == NO_ENCODER:
        return
    if config.optimizer not in ("adam", "adamw"):
        raise ConfigError(f"--encoder fine-tunes with Adam or AdamW and discriminative rates, not --optimizer {config.optimizer}; "
                          "use --optimizer adam or adamw, or --encoder none")
    if config.schedule not in PER_STEP_SCHEDULES:
        raise ConfigError(f"--encoder fine-tunes with a schedule stepped per batch ({', '.join(PER_STEP_SCHEDULES)}), not "
                          f"--schedule {config.schedule}")
