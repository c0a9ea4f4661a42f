"""Writing a recurrent classifier run as ``model.onnx`` and its ``model.json`` (`export_onnx`), and checking the graph."""

from __future__ import annotations

import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_processor.base.atomic import atomic_path, write_json
from data_processor.base.errors import ConfigError
from data_processor.tokenizers import lowercases
from train.inference.export.files import FORMAT, INPUT_NAMES, OUTPUT_NAMES, sidecar_paths

EXAMPLE_SHAPE = (3, 7)  # the batch traced at export: any size but 0 or 1 (sizes 0 and 1 would be fixed into the graph)


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
    from train.inference.rnn_predictor import Predictor
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
    from train.inference.predictors import saved_kind
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
