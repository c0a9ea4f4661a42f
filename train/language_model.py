"""The character-generation pipeline: corpus -> character ids -> model -> run directory.

`train_char_lm` is what ``python run.py generate train`` calls. The run
directory holds ``config.json`` (kind ``char-lm``), ``vocab.json``, the
weights with the best validation loss, or the last epoch's with
``keep="last"`` (``model.pt``, a state_dict, for torch cells; ``model.npz``
for the numpy char-RNN), ``metrics.jsonl`` (loss in nats per character and
perplexity per epoch), ``curves.png`` and ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from data_processor.atomic import append_jsonl
from data_processor.char_corpus import CharCorpus, load_char_corpus
from data_processor.char_stream import CHUNKINGS
from data_processor.corpora import is_line_oriented, sha256_of
from data_processor.errors import ConfigError, DataError
from data_processor.messages import Log, log_stderr
from models.char_lm import CELLS, CharLM
from models.numpy_rnn import NumpyCharRNN
from train.checkpoint import RunDir
from train.lm_fit import fit_language_model
from train.lm_trainers import NumpyLMTrainer, TorchLMTrainer
from train.optim import OPTIMIZERS, build_optimizer
from train.runtime import RunSettings, resolve_device, set_seed, set_threads

RUN_KIND = "char-lm"
NUMPY_CELL = "numpy-rnn"
ALL_CELLS = (*CELLS, NUMPY_CELL)
KEEP = ("best", "last")
NUMPY_OPTIMIZERS = {"adagrad": 0.1, "sgd": 0.01}  # the numpy char-RNN's optimizers and their default learning rates
# Defaults that differ between the torch models and the classic numpy char-RNN (min-char-rnn's settings).
BACKEND_DEFAULTS = {
    "torch": {"hidden_size": 256, "batch_size": 32, "seq_len": 100, "optimizer": "adam"},
    "numpy": {"hidden_size": 100, "batch_size": 1, "seq_len": 25, "optimizer": "adagrad"},
}



@dataclass
class CharLMConfig(RunSettings):
    """Every setting of a character-model run; None means "the backend's default" (see `BACKEND_DEFAULTS`)."""

    # data
    corpus: str = "tinyshakespeare"
    lines: bool | None = None  # one item per line with <eos>; None: as the corpus registry says
    shuffle_lines: bool = False  # shuffle a line corpus's items (with the seed) before the split
    val_ratio: float = 0.1
    cache_dir: str | None = None
    # model
    cell: str = "lstm"
    embed_dim: int = 64
    hidden_size: int | None = None
    num_layers: int = 1
    dropout: float = 0.0
    # optimisation
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float = 0.0
    clip: float = 5.0
    epochs: int = 10
    batch_size: int | None = None
    seq_len: int | None = None
    chunking: str = "consecutive"
    time_budget: float = 0.0  # minutes; 0: no limit
    keep: str = "best"  # which weights model.pt holds: the best validation loss, or the last epoch's

    @property
    def backend(self) -> str:
        return "numpy" if self.cell == NUMPY_CELL else "torch"

    @property
    def shuffle_seed(self) -> int | None:
        """The seed that shuffles a line corpus's items, or None to keep the file's order."""
        return self.seed if self.shuffle_lines else None

    def resolved(self) -> "CharLMConfig":
        """A copy with every None default filled in for this cell's backend, validated."""
        if self.cell not in ALL_CELLS:
            raise ConfigError(f"unknown cell {self.cell!r}; choose one of {', '.join(ALL_CELLS)}")
        fills = {k: v for k, v in BACKEND_DEFAULTS[self.backend].items() if getattr(self, k) is None}
        if self.lines is None:
            fills["lines"] = is_line_oriented(self.corpus)
        if self.backend == "numpy":
            fills["embed_dim"] = 0  # the numpy char-RNN reads one-hot characters
        config = dataclasses.replace(self, **fills)
        if config.lr is None:
            config.lr = NUMPY_OPTIMIZERS.get(config.optimizer) if config.backend == "numpy" else None
        config.validate()
        return config

    def validate(self) -> None:
        """Raise `ConfigError` for a value no run could use."""
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "seq_len": self.seq_len, "hidden_size": self.hidden_size, "num_layers": self.num_layers}
        for name, value in positive.items():
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.embed_dim < 0:
            raise ConfigError(f"--embed-dim must be >= 0 (0: one-hot input), got {self.embed_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.val_ratio < 1.0:
            raise ConfigError(f"--val-ratio must be in (0, 1), got {self.val_ratio}")
        if self.time_budget < 0:
            raise ConfigError(f"--time-budget must be >= 0 minutes (0: no limit), got {self.time_budget}")
        if self.clip < 0:
            raise ConfigError(f"--clip must be >= 0 (0: no clipping), got {self.clip}")
        if self.keep not in KEEP:
            raise ConfigError(f"unknown --keep {self.keep!r}; choose one of {', '.join(KEEP)}")
        if self.chunking not in CHUNKINGS:
            raise ConfigError(f"unknown chunking {self.chunking!r}; choose one of {', '.join(CHUNKINGS)}")
        if self.shuffle_lines and not self.lines:
            raise ConfigError("--shuffle-lines needs a line corpus (--lines)")
        if self.backend == "numpy":
            if self.optimizer not in NUMPY_OPTIMIZERS:
                raise ConfigError(f"the numpy char-RNN trains with {' or '.join(NUMPY_OPTIMIZERS)}, not {self.optimizer!r}")
            if self.num_layers != 1 or self.dropout or self.weight_decay:
                raise ConfigError("the numpy char-RNN has one layer, no dropout and no weight decay; drop --num-layers/--dropout/--weight-decay")
            if self.lr is not None and self.lr <= 0:
                raise ConfigError(f"--lr must be > 0, got {self.lr}")
        elif self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def build_char_lm(config: CharLMConfig, vocab_size: int) -> CharLM:
    """The torch `CharLM` a resolved config describes."""
    return CharLM(vocab_size, cell=config.cell, embed_dim=config.embed_dim, hidden_size=config.hidden_size,
                  num_layers=config.num_layers, dropout=config.dropout)


def check_corpus_size(corpus: CharCorpus, config: CharLMConfig) -> None:
    """A `DataError` when the training stream cannot fill one chunk."""
    if len(corpus.train_ids) - 1 < config.seq_len:
        raise DataError(f"{corpus.path}: the training part has {len(corpus.train_ids)} symbols, fewer than one chunk of "
                        f"--seq-len {config.seq_len} + 1; lower --seq-len or use a bigger corpus")


def train_char_lm(config: CharLMConfig, log: Log = log_stderr) -> dict:
    """Train a character model as ``config`` says, write its run directory, and return the summary."""
    config = config.resolved()
    set_seed(config.seed)
    set_threads(config.threads)
    corpus = load_char_corpus(config.corpus, config.lines, config.val_ratio, config.cache_dir, config.shuffle_seed)
    check_corpus_size(corpus, config)
    vocab = corpus.vocab
    log(f"corpus: {corpus.path}: {len(corpus.train_ids)} training and {len(corpus.val_ids)} held-out symbols, "
        f"{len(vocab)} in the vocabulary{' (one item per line, <eos> between)' if corpus.line_oriented else ''}")

    trainer: NumpyLMTrainer | TorchLMTrainer
    if config.backend == "numpy":
        model = NumpyCharRNN(len(vocab), config.hidden_size, seed=config.seed, dtype=np.float32)  # float32: twice as fast as float64
        trainer, device = NumpyLMTrainer(model, config.optimizer, config.lr, config.clip), "cpu"
    else:
        device = resolve_device(config.device)
        torch_model = build_char_lm(config, len(vocab)).to(device)
        optimizer = build_optimizer(config.optimizer, torch_model.parameters(), config.lr, config.weight_decay)
        trainer = TorchLMTrainer(torch_model, optimizer, config.clip, device)
        config.lr = optimizer.param_groups[0]["lr"]

    run = RunDir.create(config.runs_dir, config.run_name, prefix=f"{config.cell}-{corpus.path.stem}")
    run.save_json("config.json", {"kind": RUN_KIND, "backend": config.backend, **config.to_dict(), "device_used": str(device),
                                  "corpus_file": str(corpus.path.resolve()), "corpus_sha256": sha256_of(corpus.path),
                                  "vocab_size": len(vocab), "train_symbols": len(corpus.train_ids), "val_symbols": len(corpus.val_ids)})
    vocab.save(run.file("vocab.json"))
    log(f"run directory: {run.path}")

    def on_epoch(record: dict, improved: bool) -> None:
        append_jsonl(run.file("metrics.jsonl"), record)
        if improved or config.keep == "last":
            trainer.save(run)

    result = fit_language_model(trainer, corpus.train_ids, corpus.val_ids, epochs=config.epochs, batch_size=config.batch_size,
                                seq_len=config.seq_len, chunking=config.chunking, seed=config.seed,
                                time_budget_s=config.time_budget * 60 or None, on_epoch=on_epoch, progress=config.progress, log=log)
    from train.plots import (
        plot_curves,  # matplotlib is slow to import; sampling and evaluation never plot
    )

    plot_curves(result.history, run.file("curves.png"), left="train_perplexity", right="val_loss")
    last = result.history[-1]
    summary = {"run": str(run.path), "best_epoch": result.best_epoch, "best_val_loss": round(result.best_val_loss, 6),
               "best_val_perplexity": round(math.exp(result.best_val_loss), 4), "final_train_loss": last["train_loss"],
               "final_train_perplexity": last["train_perplexity"], "epochs_run": len(result.history), "kept": config.keep, "final_val_loss": last["val_loss"],
               "final_val_perplexity": last["val_perplexity"],
               "seconds": last["elapsed"], "stopped_by_time_budget": result.out_of_time}
    run.save_json("summary.json", summary)
    return summary
