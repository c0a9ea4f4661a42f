"""An exported classifier run with onnxruntime, from its exported files alone: no torch, no run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from data_processor.char_backoff import spell_out
from data_processor.base.errors import DataError
from data_processor.stopwords import remove_stopwords
from data_processor.tokenizers import get_tokenizer
from data_processor.vocab import Vocab
from train.classify.multilabel import choose, label_sets, top_labels
from train.inference.export.files import read_settings, sidecar_paths


class OnnxPredictor:
    """An exported classifier run with onnxruntime: ``model.onnx`` and its ``model.json`` (and jieba dictionary) alone.

    Texts are tokenized, stopword-filtered, spelt out (char back-off), encoded and cut to ``max_len`` as the run's
    `TextPipeline` does; `predict_proba` batches them by length like the run's `Predictor`.
    """

    def __init__(self, onnx_path: str | Path, threads: int | None = None) -> None:
        import onnxruntime

        self.path = Path(onnx_path)
        settings_path, _ = sidecar_paths(self.path)
        self.settings = meta = read_settings(settings_path)
        text = meta["text"]
        user_dict = settings_path.with_name(text["user_dict"]) if text["user_dict"] else None
        self.tokenize = get_tokenizer(text["tokenizer"], user_dict=user_dict, hmm=text["hmm"])
        self.stopwords = frozenset(text["stopwords"])
        self.max_len, self.max_chars, self.backoff = text["max_len"], text["max_chars"], text["backoff"]
        specials = meta["vocab"]["specials"]
        self.vocab = Vocab(meta["vocab"]["itos"][len(specials):], specials=specials)
        self.label_names: list[str] = meta["labels"]
        self.multi_label: bool = meta["multi_label"]
        self.thresholds = np.array(meta["thresholds"], dtype=np.float64) if meta["thresholds"] is not None else None
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such ONNX file")
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable or invalid graphs
            raise DataError(f"{self.path}: not a loadable ONNX model ({str(exc).splitlines()[0][:300]}); export it again") from None
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = self.session.get_outputs()
        if inputs != meta["input_names"] or [o.name for o in outputs] != meta["output_names"]:
            raise DataError(f"{self.path}: its inputs/outputs ({', '.join(inputs)} -> {', '.join(o.name for o in outputs)}) are not "
                            f"those {settings_path.name} names")
        width = outputs[0].shape[-1]
        if isinstance(width, int) and width != len(self.label_names):
            raise DataError(f"{settings_path}: {len(self.label_names)} labels, but {self.path.name} gives {width} probabilities")

    def encode(self, text: str) -> list[int]:
        """The token ids the model reads for ``text`` (at least one: ``<unk>`` for a text without tokens)."""
        tokens = remove_stopwords(self.tokenize(text[:self.max_chars]), self.stopwords)
        if self.backoff == "char":
            tokens = spell_out(tokens, self.vocab)
        return self.vocab.encode(tokens)[:self.max_len] or [self.vocab.unk_id]

    def run(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The graph's probabilities ``[B, C]`` for padded token ids ``[B, T]`` and true lengths ``[B]``."""
        feed = {"tokens": np.ascontiguousarray(tokens, dtype=np.int64), "lengths": np.ascontiguousarray(lengths, dtype=np.int64)}
        return self.session.run(None, feed)[0]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256, by_length: bool = True) -> np.ndarray:
        """Class probabilities ``[N, C]``, columns in the order of `label_names`. Batches hold texts of similar length
        (``by_length=False``: texts in their given order, so more padding)."""
        ids = [self.encode(t) for t in texts]
        return self.predict_ids(ids, batch_size, by_length)

    def predict_ids(self, ids: Sequence[Sequence[int]], batch_size: int = 256, by_length: bool = True) -> np.ndarray:
        """`predict_proba` for texts already encoded (`encode`)."""
        out = np.zeros((len(ids), len(self.label_names)), dtype=np.float32)
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        order = np.argsort(lengths, kind="stable") if by_length else np.arange(len(ids))
        for start in range(0, len(ids), batch_size):
            rows = order[start:start + batch_size]
            tokens = np.full((len(rows), int(lengths[rows].max())), self.vocab.pad_id, dtype=np.int64)
            for i, row in enumerate(rows):
                tokens[i, :lengths[row]] = ids[row]
            out[rows] = self.run(tokens, lengths[rows])
        return out

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable label of each text, with its probability."""
        return top_labels(self.predict_proba(texts), self.label_names)

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Each text's labels with their probabilities, highest first: for a multi-label run every label at or above
        its threshold (at least the most probable one), else the most probable label."""
        return chosen_labels(self.predict_proba(texts), self.label_names, self.thresholds)


def chosen_labels(probs: np.ndarray, names: Sequence[str], thresholds: np.ndarray | None) -> list[list[tuple[str, float]]]:
    """Each row's predicted labels with their probabilities (see `OnnxPredictor.predict_labels`)."""
    if thresholds is None:
        return [[pair] for pair in top_labels(probs, names)]
    return label_sets(choose(probs, thresholds), probs, names)
