"""A trained RNN/GRU/LSTM classifier run as an ONNX graph, the JSON that turns text into its inputs, and a parity check.

``python run.py export --run DIR --out model.onnx`` calls `export_onnx`, which writes:

- ``model.onnx``: inputs ``tokens`` (int64 ``[batch, steps]``, each row padded with the vocabulary's ``<pad>`` id after
  its end) and ``lengths`` (int64 ``[batch]``, each row's true length, 1 to ``steps``); output ``probabilities``
  (float32 ``[batch, labels]``: a softmax, or a sigmoid per label for a multi-label run). Batch size and length are
  dynamic. The recurrent layers are ONNX ``RNN``/``GRU``/``LSTM`` operators whose ``sequence_lens`` input reads each
  row within its length in both directions, as PyTorch does (see `models.encoder.RecurrentStack`), so padding never
  changes a row's probabilities.
- ``model.json``: plain JSON: the tokenizer and its settings, the stopwords, ``max_len``, the back-off, the vocabulary,
  the labels (the order of the output's columns), ``multi_label`` and the decision thresholds, and the graph's input
  and output names.
- ``model.user_dict.txt``: a copy of the run's jieba user dictionary, when it has one.

`OnnxPredictor` runs the exported files with onnxruntime and the project's tokenizers, without torch or the run
directory; `check_parity` compares it, and the graph itself, with the run's PyTorch `Predictor` on the same texts.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from data_processor.atomic import atomic_path, write_json
from data_processor.char_backoff import spell_out
from data_processor.errors import ConfigError, DataError, UserError
from data_processor.stopwords import remove_stopwords
from data_processor.tokenizers import TOKENIZERS, get_tokenizer, lowercases
from data_processor.vocab import Vocab
from train.classify.multilabel import choose, label_sets

FORMAT = "rnn-toolkit-onnx/1"
INPUT_NAMES = ("tokens", "lengths")
OUTPUT_NAMES = ("probabilities",)
TOLERANCE = 1e-5  # the most a probability may differ between onnxruntime and PyTorch for `check_parity` to pass
EXAMPLE_SHAPE = (3, 7)  # the batch traced at export: any size but 0 or 1 (sizes 0 and 1 would be fixed into the graph)


class ParityError(UserError):
    """onnxruntime and PyTorch disagree on a text."""


def sidecar_paths(onnx_path: str | Path) -> tuple[Path, Path]:
    """The JSON settings file and the jieba user dictionary copy that go with ``onnx_path``: ``model.json`` and
    ``model.user_dict.txt`` beside ``model.onnx``."""
    path = Path(onnx_path)
    return path.with_suffix(".json"), path.with_name(path.stem + ".user_dict.txt")


@dataclass
class ExportedFiles:
    """What `export_onnx` wrote."""

    onnx: Path
    settings: Path
    user_dict: Path | None


def export_onnx(run_dir: str | Path, out: str | Path, opset: int = 20) -> ExportedFiles:
    """Export the classifier of run ``run_dir`` to ``out`` (a ``.onnx`` path) and write its JSON (and jieba user
    dictionary) beside it, each file atomically. A TF-IDF or hybrid run is a `ConfigError`."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise ConfigError(f"--out {out}: give a path ending in .onnx (the settings go beside it, in {out.stem}.json)")
    check_recurrent(run_dir)

    import torch

    from models.classifier import ExportableClassifier
    from train.classify.predictor import Predictor
    from train.classify.text_pipeline import CHARS_PER_TOKEN

    predictor = Predictor(run_dir, "cpu")
    model, config, pipeline = predictor.model, predictor.config, predictor.pipeline
    tokens = torch.full(EXAMPLE_SHAPE, pipeline.vocab.unk_id, dtype=torch.long)
    lengths = torch.tensor([EXAMPLE_SHAPE[1], EXAMPLE_SHAPE[1] - 2, 2][:EXAMPLE_SHAPE[0]], dtype=torch.long)
    batch, steps = torch.export.Dim("batch"), torch.export.Dim("steps")
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # e.g. "torchvision is not installed", which does not concern this graph
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(ExportableClassifier(model), (tokens, lengths), dynamo=True, input_names=list(INPUT_NAMES),
                                        output_names=list(OUTPUT_NAMES), opset_version=opset, verbose=False, external_data=False,
                                        dynamic_shapes={"tokens": {0: batch, 1: steps}, "lengths": {0: batch}})
    finally:
        quiet.setLevel(level)
    check_graph(program.model_proto, model.cell)

    settings_path, dict_path = sidecar_paths(out)
    with atomic_path(out) as tmp:
        program.save(str(tmp), external_data=False)
    user_dict = predictor.run.file("user_dict.txt")
    copied = None
    if user_dict.is_file():
        with atomic_path(dict_path) as tmp:
            shutil.copyfile(user_dict, tmp)
        copied = dict_path
    vocab = pipeline.vocab
    write_json(settings_path, {
        "format": FORMAT,
        "onnx": out.name,
        "input_names": list(INPUT_NAMES),
        "output_names": list(OUTPUT_NAMES),
        "labels": predictor.label_names,
        "multi_label": bool(config.multi_label),
        "thresholds": [float(t) for t in predictor.thresholds] if predictor.thresholds is not None else None,
        "text": {
            "tokenizer": config.tokenizer,
            "hmm": config.hmm,
            "user_dict": copied.name if copied else None,
            "lowercase": lowercases(config.tokenizer),
            "stopwords": sorted(pipeline.stopwords),
            "max_len": config.max_len,
            "max_chars": config.max_len * CHARS_PER_TOKEN,  # texts are cut to this many characters before tokenizing
            "backoff": config.backoff,
        },
        "vocab": {"specials": list(vocab.specials), "itos": vocab.itos, "pad_id": vocab.pad_id, "unk_id": vocab.unk_id},
        "model": {"cell": config.cell, "bidirectional": config.bidirectional, "num_layers": config.num_layers,
                  "hidden_size": config.hidden_size, "embed_dim": config.embed_dim, "pooling": config.pooling,
                  "word_chars": config.word_chars},
        "exported_from": {"run": str(Path(run_dir)), "opset": opset, "torch": torch.__version__},
    })
    return ExportedFiles(out, settings_path, copied)


def check_recurrent(run_dir: str | Path) -> None:
    """A `ConfigError` unless ``run_dir`` is an RNN/GRU/LSTM classifier run."""
    from train.classify.predictors import saved_kind
    from train.classify.settings import RUN_KIND
    from train.common.rundir import RunDir

    kind = saved_kind(RunDir.open(run_dir, RUN_KIND))
    if not kind.exports_onnx:
        model = kind.name
        raise ConfigError(f"{run_dir} is a --model {model} run; only recurrent runs (--model rnn, gru or lstm) export to ONNX")


def check_graph(proto: Any, cell: str) -> None:
    """A `RuntimeError` (a bug, not the user's) unless the exported graph is what `export_onnx` promises: valid ONNX,
    the recurrent layers as native operators (no loop unrolled by the exporter), dynamic batch and length."""
    import onnx

    from models.encoder import ONNX_OPS

    onnx.checker.check_model(proto)
    ops = {node.op_type for node in proto.graph.node}
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input]
    if ONNX_OPS[cell] not in ops or ops & {"Loop", "Scan"}:
        raise RuntimeError(f"the exported graph lacks the ONNX {ONNX_OPS[cell]} operator (operators: {', '.join(sorted(ops))})")
    if [i.name for i in proto.graph.input] != list(INPUT_NAMES) or any(isinstance(d, int) for row in dims for d in row):
        raise RuntimeError(f"the exported graph's inputs are not {', '.join(INPUT_NAMES)} with dynamic shapes: {dims}")


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
        probs = self.predict_proba(texts)
        return [(self.label_names[i], float(p[i])) for i, p in zip(probs.argmax(1), probs)]

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Each text's labels with their probabilities, highest first: for a multi-label run every label at or above
        its threshold (at least the most probable one), else the most probable label."""
        return chosen_labels(self.predict_proba(texts), self.label_names, self.thresholds)


def chosen_labels(probs: np.ndarray, names: Sequence[str], thresholds: np.ndarray | None) -> list[list[tuple[str, float]]]:
    """Each row's predicted labels with their probabilities (see `OnnxPredictor.predict_labels`)."""
    if thresholds is None:
        return [[(names[i], float(p[i]))] for i, p in zip(probs.argmax(1), probs)]
    return label_sets(choose(probs, thresholds), probs, names)


def read_settings(path: Path) -> dict:
    """The JSON `export_onnx` wrote, checked field by field (it is data from a file: a `DataError` names what is wrong)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing; export_onnx writes it beside the .onnx file (run.py export)") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise DataError(f"{path}: {what}; export the run again (run.py export)")

    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    need(isinstance(meta, dict) and meta.get("format") == FORMAT, f"not an ONNX export settings file of format {FORMAT!r}")
    text, vocab = meta.get("text"), meta.get("vocab")
    need(strings(meta.get("labels")) and len(set(meta["labels"])) == len(meta["labels"]) > 0, "'labels' must be distinct strings")
    need(isinstance(meta.get("multi_label"), bool), "'multi_label' must be true or false")
    thresholds = meta.get("thresholds")
    need(thresholds is None or (isinstance(thresholds, list) and len(thresholds) == len(meta["labels"])
                                and all(isinstance(t, (int, float)) and 0 <= t <= 1 for t in thresholds)),
         "'thresholds' must be null or one number in [0, 1] per label")
    need(strings(meta.get("input_names")) and strings(meta.get("output_names")), "'input_names' and 'output_names' must be lists of names")
    need(isinstance(text, dict) and text.get("tokenizer") in TOKENIZERS, f"'text.tokenizer' must be one of {', '.join(TOKENIZERS)}")
    need(isinstance(text.get("hmm"), bool) and strings(text.get("stopwords")) and text.get("backoff") in ("none", "char"),
         "'text' needs hmm (true/false), stopwords (a list) and backoff (none or char)")
    need(all(isinstance(text.get(k), int) and not isinstance(text.get(k), bool) and text[k] >= 1 for k in ("max_len", "max_chars")),
         "'text.max_len' and 'text.max_chars' must be positive integers")
    user_dict = text.get("user_dict")
    need(user_dict is None or (isinstance(user_dict, str) and user_dict == Path(user_dict).name and user_dict not in ("", ".", "..")),
         "'text.user_dict' must be null or a file name beside it")
    need(isinstance(vocab, dict) and strings(vocab.get("itos")) and strings(vocab.get("specials")), "'vocab' needs itos and specials")
    need(vocab["itos"][:len(vocab["specials"])] == vocab["specials"] and {"<pad>", "<unk>"} <= set(vocab["specials"])
         and len(set(vocab["itos"])) == len(vocab["itos"]), "'vocab.itos' must start with its specials (<pad>, <unk>) and hold no duplicates")
    return meta


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

    from train.classify.predictor import Predictor

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
