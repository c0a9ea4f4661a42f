"""Whether an exported graph gives what the run's PyTorch model gives on the same texts (`check_parity`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.base.errors import ConfigError, UserError
from train.inference.export.onnx_predictor import OnnxPredictor, chosen_labels

TOLERANCE = 1e-5  # the most a probability may differ between onnxruntime and PyTorch for `check_parity` to pass


class ParityError(UserError):
    """onnxruntime and PyTorch disagree on a text."""


@dataclass
class ParityReport:
    """What `check_parity` found: texts compared, how many got different labels, and the largest probability gaps:
    ``graph_diff`` on the run's own padded batches, ``end_to_end_diff`` through `OnnxPredictor` (its own tokenizing,
    texts batched in file order, so with more padding)."""

    texts: int
    batches: int
    label_mismatches: list[int]
    graph_diff: float
    end_to_end_diff: float
    tolerance: float = TOLERANCE

    @property
    def passed(self) -> bool:
        return not self.label_mismatches and max(self.graph_diff, self.end_to_end_diff) <= self.tolerance

    def lines(self) -> list[str]:
        same = "same predicted labels for all" if not self.label_mismatches else f"different predicted labels for {len(self.label_mismatches)} of"
        return [f"parity: {self.texts} texts, onnxruntime vs PyTorch: {same} {self.texts} texts",
                f"max |probability difference|: {self.graph_diff:.2e} on the run's own {self.batches} padded batches, "
                f"{self.end_to_end_diff:.2e} end to end (OnnxPredictor: tokenized from the exported JSON, batched in file order); "
                f"tolerance {self.tolerance:g}"]


def check_parity(run_dir: str | Path, onnx_path: str | Path, texts: Sequence[str], tolerance: float = TOLERANCE) -> ParityReport:
    """Run the exported graph and the run's PyTorch model on ``texts`` and compare: the graph on the very batches the
    run's pipeline makes (padded, bucketed by length), and `OnnxPredictor` end to end. Raises `ParityError` when a
    predicted label differs or a probability differs by more than ``tolerance``."""
    import torch

    from train.inference.rnn_predictor import Predictor

    if not texts:
        raise ConfigError("the parity check has no texts to compare")
    predictor, exported = Predictor(run_dir, "cpu"), OnnxPredictor(onnx_path)
    reference = np.zeros((len(texts), len(predictor.label_names)), dtype=np.float32)
    graph_diff, batches = 0.0, 0
    with torch.no_grad():
        for batch in predictor.pipeline.batches(texts, predictor.batch_size):
            probs = predictor.model.probabilities(predictor.model(batch.tokens, batch.lengths)).numpy()
            got = exported.run(batch.tokens.numpy(), batch.lengths.numpy())
            if got.shape != probs.shape:
                raise ParityError(f"{onnx_path} gives {got.shape[1]} probabilities per text, the run {probs.shape[1]}")
            graph_diff = max(graph_diff, float(np.abs(got - probs).max()))
            reference[batch.index.numpy()] = probs
            batches += 1
    end_to_end = exported.predict_proba(texts, batch_size=predictor.batch_size, by_length=False)
    e2e_diff = float(np.abs(end_to_end - reference).max())
    ours = chosen_labels(reference, predictor.label_names, predictor.thresholds)
    theirs = chosen_labels(end_to_end, exported.label_names, exported.thresholds)
    mismatches = [i for i, (a, b) in enumerate(zip(ours, theirs)) if sorted(n for n, _ in a) != sorted(n for n, _ in b)]
    report = ParityReport(len(texts), batches, mismatches, graph_diff, e2e_diff, tolerance)
    if mismatches:
        first = mismatches[0]
        raise ParityError(f"ONNX parity check failed: {len(mismatches)} of {len(texts)} texts get other labels from {onnx_path} than from "
                          f"the run (text {first + 1}: {'|'.join(n for n, _ in theirs[first])} instead of "
                          f"{'|'.join(n for n, _ in ours[first])}); max |probability difference| {max(graph_diff, e2e_diff):.2e}")
    if not report.passed:
        raise ParityError(f"ONNX parity check failed: max |probability difference| {max(graph_diff, e2e_diff):.2e} exceeds "
                          f"{tolerance:g} ({graph_diff:.2e} on the run's batches, {e2e_diff:.2e} end to end)")
    return report
