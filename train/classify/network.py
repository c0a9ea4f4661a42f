"""The classifier network a run's settings describe, and scoring it: what training and a loaded run share.

Nothing here trains: `train.inference.rnn_predictor` builds a saved run's model from this module without importing the
training pipeline (`rnn`, `fit`, the epoch loop).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from data_processor.batching import BucketBatcher
from data_processor.char_backoff import word_characters
from data_processor.vocab import Vocab
from models.choices import DEFAULT_EMBED_DIM
from models.classifier import RNNClassifier
from train.classify.multilabel import scored_metrics
from train.classify.settings import ClassifierConfig
from train.common.distributed import SINGLE, Cluster
from train.common.memory import TEXT_BATCH_OPTIONS, TEXT_SIZE_OPTIONS, TrainingFootprint, check_fits, count_parameters


def build_model(config: ClassifierConfig, vocab: Vocab, num_classes: int, embedding_weights: np.ndarray | None = None) -> RNNClassifier:
    """The `RNNClassifier` a resolved config describes (see `resolve_embedding`) over ``vocab``, with ``embedding_weights``
    (``len(vocab) x d``) as its initial embedding if given."""
    if config.embed_dim is None:
        raise ValueError("resolve the config's embedding dimension first (resolve_embedding)")
    weights = torch.from_numpy(embedding_weights) if embedding_weights is not None else None
    return RNNClassifier(len(vocab), num_classes, cell=config.cell, embed_dim=config.embed_dim, hidden_size=config.hidden_size,
                         num_layers=config.num_layers, bidirectional=config.bidirectional, dropout=config.dropout,
                         pooling=config.pooling, embedding_weights=weights, freeze_embedding=config.freeze_embedding,
                         word_dropout=config.word_dropout, word_chars=word_characters(vocab) if config.word_chars else None,
                         multi_label=config.multi_label)


def check_memory(config: ClassifierConfig, vocab_size: int, num_classes: int, rows: int, steps: int, device: torch.device) -> None:
    """A `ConfigError` naming the options to lower when training the classifier of ``config`` over ``vocab_size`` tokens
    and ``num_classes`` labels, ``rows`` x ``steps`` tokens a batch, cannot fit in ``device``'s free memory."""
    embed_dim = config.embed_dim or DEFAULT_EMBED_DIM
    parameters = count_parameters(lambda: RNNClassifier(
        vocab_size, num_classes, cell=config.cell, embed_dim=embed_dim, hidden_size=config.hidden_size,
        num_layers=config.num_layers, bidirectional=config.bidirectional, pooling=config.pooling, multi_label=config.multi_label))
    footprint = TrainingFootprint(parameters, config.optimizer, rows, steps, embed_dim, config.hidden_size, config.num_layers,
                                  2 if config.bidirectional else 1, config.cell)
    check_fits(footprint, device, TEXT_SIZE_OPTIONS, TEXT_BATCH_OPTIONS)


@torch.inference_mode()
def predict_proba(model: nn.Module, batches: BucketBatcher, device: torch.device, cluster: Cluster = SINGLE) -> np.ndarray:
    """Class probabilities ``[N, C]`` for every row of ``batches``, in the rows' original order.

    With a distributed ``cluster`` each process scores its share of the rows (``batches`` is sharded) and the shares
    are added up, so every process gets every row's probabilities.
    """
    model.eval()
    out: np.ndarray | None = None
    for batch in batches:
        if not len(batch.index):
            continue
        probs = model.probabilities(model(batch.tokens.to(device), batch.lengths).float()).cpu().numpy()
        if out is None:
            out = np.zeros((len(batches.lengths), probs.shape[1]), dtype=np.float32)
        out[batch.index.numpy()] = probs
    if cluster.distributed:
        out = cluster.sum_array(out if out is not None else np.zeros((len(batches.lengths), model.num_classes), dtype=np.float32))
    assert out is not None, "no rows to predict"
    return out


def batch_metrics(model: RNNClassifier, batches: BucketBatcher, names: Sequence[str], device: torch.device, cluster: Cluster = SINGLE,
                  thresholds: np.ndarray | None = None) -> dict:
    """Accuracy, macro-F1, report and confusion matrix of ``model`` on labelled ``batches`` (sharded, with a distributed
    ``cluster``), the labels called ``names``; for a multi-label model, the multi-label metrics of the label sets
    ``thresholds`` choose."""
    return scored_metrics(predict_proba(model, batches, device, cluster), batches.labels.numpy(), names, thresholds)
