"""Every setting of the character-model commands, declared once: ``generate train``, ``generate sample``, ``generate eval``.

No torch here, so ``--help`` is fast.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from data_processor.char_stream import CHUNKINGS
from data_processor.corpora import CORPORA, is_line_oriented
from data_processor.base.errors import ConfigError
from data_processor.base.settings import SIZE_LIMIT, Settings, device_option, option, threads_option
from models.choices import CHAR_LM_CELLS
from train.common.optim import OPTIMIZERS, learning_rate
from train.common.settings import RUN_GROUP, RunSettings

RUN_KIND = "char-lm"
NUMPY_CELL = "numpy-rnn"
ALL_CELLS = (*CHAR_LM_CELLS, NUMPY_CELL)
KEEP = ("best", "last")
NUMPY_OPTIMIZERS = {"adagrad": 0.1, "sgd": 0.01}  # the numpy char-RNN's optimizers and their default learning rates
# Defaults that differ between the torch models and the classic numpy char-RNN (min-char-rnn's settings).
BACKEND_DEFAULTS = {
    "torch": {"hidden_size": 256, "batch_size": 32, "seq_len": 100, "optimizer": "adam"},
    "numpy": {"hidden_size": 100, "batch_size": 1, "seq_len": 25, "optimizer": "adagrad"},
}
GROUPS = ("data", "model", "optimisation", RUN_GROUP)


def _per_backend(key: str) -> str:
    return f"(default: {BACKEND_DEFAULTS['torch'][key]} for torch cells, {BACKEND_DEFAULTS['numpy'][key]} for numpy-rnn)"


@dataclass
class CharLMConfig(RunSettings):
    """Every setting of a character-model run; None means "the backend's default" (see `BACKEND_DEFAULTS`)."""

    # written beside the settings in config.json
    RECORD_KEYS = ("kind", "backend", "device_used", "world_size", "corpus_file", "corpus_sha256", "vocab_size", "train_symbols", "val_symbols")

    # data
    corpus: str = option("tinyshakespeare", f"a named corpus ({', '.join(CORPORA)}; downloaded once) or the path of a UTF-8 text file",
                         group="data")
    lines: bool | None = option(None, "one item per line (names, lyric lines), each ending in <eos>; default: the registry's choice "
                                "for named corpora (dinos, jaychou: lines), running text for files", group="data")
    shuffle_lines: bool = option(False, "shuffle the lines of a line corpus (with --seed) before holding out its tail, for sorted "
                                 "lists of independent items such as the alphabetical dinosaur names", group="data")
    val_ratio: float = option(0.1, "share of the corpus (its tail) held out for validation", above=0.0, below=1.0, group="data")
    cache_dir: str | None = option(None, "download cache for named corpora (default: data/cache)", group="data")
    # model
    cell: str = option("lstm", "rnn|gru|lstm: PyTorch layers; scratch-gru|scratch-lstm: written from scratch (models/cells.py); "
                       "numpy-rnn: the classic numpy char-RNN (models/numpy_ref/char_rnn.py)", choices=ALL_CELLS, group="model")
    embed_dim: int = option(64, "character embedding size; 0: one-hot input (numpy-rnn is always one-hot)", at_least=0, at_most=SIZE_LIMIT,
                           group="model")
    hidden_size: int | None = option(None, f"hidden units {_per_backend('hidden_size')}", at_least=1, at_most=SIZE_LIMIT,
                                     group="model")
    num_layers: int = option(1, "stacked recurrent layers (torch cells)", at_least=1, group="model")
    dropout: float = option(0.0, "dropout on inputs, between layers and before the output (torch cells)", at_least=0.0, below=1.0,
                            group="model")
    # optimisation
    optimizer: str | None = option(None, f"{_per_backend('optimizer')}; numpy-rnn takes adagrad or sgd (plain SGD, as in the "
                                   "dinosaur-names exercise)", choices=OPTIMIZERS, group="optimisation")
    lr: float | None = option(None, "learning rate (default: the optimizer's; numpy-rnn: adagrad 0.1, sgd 0.01)", above=0.0,
                              group="optimisation")
    weight_decay: float = option(0.0, "L2 penalty (torch cells)", at_least=0.0, group="optimisation")
    clip: float = option(5.0, "gradient clipping: the largest gradient norm for torch cells, the bound of every gradient element "
                         "([-clip, clip]) for numpy-rnn; 0: none", at_least=0.0, group="optimisation")
    epochs: int = option(10, "passes over the training part", at_least=1, group="optimisation")
    batch_size: int | None = option(None, f"lanes read side by side {_per_backend('batch_size')}", at_least=1, group="optimisation")
    seq_len: int | None = option(None, f"steps unrolled per chunk {_per_backend('seq_len')}", at_least=1, group="optimisation")
    chunking: str = option("consecutive", "consecutive: chunks continue each other and the hidden state is carried (detached); "
                           "random: random chunks, state from zeros", choices=CHUNKINGS, group="optimisation")
    time_budget: float = option(0.0, "stop after this many minutes (the current epoch is cut, scored and kept); 0: no limit",
                                at_least=0.0, group="optimisation")
    keep: str = option("best", "the weights saved: those with the best validation loss, or the last epoch's (for lyrics, say, "
                       "whose held-out songs say little about the training songs)", choices=KEEP, group="optimisation")

    @property
    def backend(self) -> str:
        return "numpy" if self.cell == NUMPY_CELL else "torch"

    @property
    def shuffle_seed(self) -> int | None:
        """The seed that shuffles a line corpus's items, or None to keep the file's order."""
        return self.seed if self.shuffle_lines else None

    def resolved(self) -> "CharLMConfig":
        """A copy with every None default filled in for this cell's backend, validated."""
        self.check()
        fills = {k: v for k, v in BACKEND_DEFAULTS[self.backend].items() if getattr(self, k) is None}
        if self.lines is None:
            fills["lines"] = is_line_oriented(self.corpus)
        if self.backend == "numpy":
            fills["embed_dim"] = 0  # the numpy char-RNN reads one-hot characters
        config = dataclasses.replace(self, **fills)
        if config.lr is None:
            config.lr = NUMPY_OPTIMIZERS.get(config.optimizer) if config.backend == "numpy" else learning_rate(config.optimizer, None)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise `ConfigError` for a value, or a combination of values, no run could use."""
        self.check()
        if self.shuffle_lines and not self.lines:
            raise ConfigError("--shuffle-lines needs a line corpus (--lines)")
        if self.backend == "numpy":
            if self.optimizer not in NUMPY_OPTIMIZERS:
                raise ConfigError(f"the numpy char-RNN trains with {' or '.join(NUMPY_OPTIMIZERS)}, not {self.optimizer!r}")
            if self.num_layers != 1 or self.dropout or self.weight_decay:
                raise ConfigError("the numpy char-RNN has one layer, no dropout and no weight decay; drop --num-layers/--dropout/--weight-decay")


@dataclass
class SampleSettings(Settings):
    """``generate sample``: write text with a trained character model."""

    run: str = option("", "run directory written by 'generate train'", required=True)
    prime: str = option("", "text the samples start with (default: none; they start at the beginning of a line)")
    temperature: float = option(1.0, "> 0; below 1 is more conservative, above 1 more surprising", above=0.0)
    top_k: int = option(0, "sample among the k most probable characters only; 0: all", at_least=0)
    length: int = option(500, "characters to generate (for line corpora: the most per sample)", at_least=1)
    count: int = option(1, "how many samples", at_least=1)
    seed: int = option(42, "the same seed gives the same samples")
    device: str = device_option()
    threads: int | None = threads_option()


@dataclass
class EvalSettings(Settings):
    """``generate eval``: score greedy line continuations of a trained character model."""

    run: str = option("", "run directory written by 'generate train'", required=True)
    test: str | None = option(None, "prefixes, one per line (UTF-8)")
    gold: str | None = option(None, "gold continuations, one per line, paired with --test")
    output: str | None = option(None, "predictions file, one per line (default: RUN/eval_predictions.txt)")
    count: int = option(100, "held-out lines to use when no --test/--gold are given", at_least=1)
    max_chars: int = option(100, "longest continuation predicted", at_least=1)
    device: str = device_option()
    threads: int | None = threads_option()
