"""Using a trained character model: sampling text, greedy line continuation, and scoring continuations.

`CharGenerator` loads a ``char-lm`` run from its directory alone. Every text
starts from the corpus's start context: ``<eos>`` for line corpora (the
symbol that precedes each item in training), a newline for running text.

Characters outside the vocabulary: a ``--prime`` holding any is refused with
a message naming them (the model never saw them, and the user can fix the
prime); prefixes in an evaluation file are read with ``<unk>`` in their place
and counted, so one rare character does not stop a whole evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from data_processor.base.atomic import write_text
from data_processor.char_corpus import continuation_pairs, load_char_corpus, read_lines
from data_processor.corpora import sha256_of
from data_processor.base.errors import ConfigError, DataError
from data_processor.vocab import EOS, Vocab
from models.char_lm import CharLM, State
from models.numpy_ref.char_rnn import NumpyCharRNN
from models.sampling import greedy_id, sample_id
from train.charlm.pipeline import build_char_lm
from train.charlm.settings import (
    NUMPY_CELL,
    RUN_KIND,
    CharLMConfig,
    EvalSettings,
    SampleSettings,
)
from train.charlm.trainers import load_numpy_model
from train.common.rundir import RunDir
from train.common.runtime import resolve_device

Feed = Callable[[Sequence[int], object], tuple[np.ndarray, object]]


def torch_feed(model: CharLM, device: torch.device) -> Feed:
    """Feed ids to a torch model: returns the logits after the last id and the new state."""
    model.eval()

    @torch.inference_mode()
    def feed(ids: Sequence[int], state: State) -> tuple[np.ndarray, State]:
        logits, state = model(torch.tensor([list(ids)], dtype=torch.long, device=device), state)
        return logits[0, -1].double().cpu().numpy(), state

    return feed


def numpy_feed(model: NumpyCharRNN) -> Feed:
    """Feed ids to the numpy char-RNN: returns the logits after the last id and the new hidden state."""

    def feed(ids: Sequence[int], state: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        h0 = model.init_state(1) if state is None else state
        logits, h = model.forward(np.asarray([ids], dtype=np.int64), h0)
        return logits[0, -1], h

    return feed


class CharGenerator:
    """A trained character model loaded from its run directory."""

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        self.run = RunDir.open(run_dir, RUN_KIND, ("config.json", "vocab.json"))
        self.config = self.run.load_settings(CharLMConfig)
        raw = self.run.load_json("config.json")
        self.corpus_file, self.corpus_sha256 = raw.get("corpus_file"), raw.get("corpus_sha256")
        self.vocab = Vocab.load(self.run.file("vocab.json"))
        if self.config.cell == NUMPY_CELL:
            self.feed = numpy_feed(load_numpy_model(self.run))
        else:
            torch_device = resolve_device(device)
            model = build_char_lm(self.config, len(self.vocab))
            try:
                model.load_state_dict(self.run.load_state_dict())
            except RuntimeError as exc:
                raise DataError(f"{self.run.file('model.pt')}: does not match the run's config ({str(exc).splitlines()[0]})") from None
            self.feed = torch_feed(model.to(torch_device), torch_device)
        self.eos = self.vocab[EOS] if self.config.lines else None
        self.forbidden = [self.vocab.stoi[s] for s in self.vocab.specials if s != EOS]
        if self.config.lines:
            self.start = [self.eos]
        else:
            self.start = [self.vocab.stoi["\n"]] if "\n" in self.vocab else []

    def encode_prime(self, prime: str) -> list[int]:
        """The start context and the prime as ids; characters the model never saw are a `ConfigError` naming them."""
        unknown = sorted({c for c in prime if c not in self.vocab.stoi})
        if unknown:
            shown = ", ".join(repr(c) for c in unknown)
            raise ConfigError(f"the prime holds characters the model never saw: {shown}; remove them "
                              f"(the vocabulary of {self.run.file('vocab.json')} has {len(self.vocab)} symbols)")
        ids = self.start + self.vocab.encode(prime)
        if not ids:
            raise ConfigError("this corpus has no newline to start from: give a --prime")
        return ids

    def samples(self, prime: str = SampleSettings.prime, count: int = SampleSettings.count, length: int = SampleSettings.length,
                seed: int = SampleSettings.seed, temperature: float = SampleSettings.temperature, top_k: int = SampleSettings.top_k) -> list[str]:
        """``count`` texts, each the prime and up to ``length`` sampled characters (line corpora stop at ``<eos>``).

        The same seed gives the same texts. ``top_k`` > 0 samples among the k
        most probable characters only.
        """
        SampleSettings(run=str(self.run.path), prime=prime, temperature=temperature, top_k=top_k, length=length, count=count,
                       seed=seed).check()
        prime_ids = self.encode_prime(prime)
        rng = np.random.default_rng(seed)
        return [self._sample(prime, prime_ids, length, rng, temperature, top_k) for _ in range(count)]

    def _sample(self, prime: str, prime_ids: list[int], length: int, rng: np.random.Generator, temperature: float, top_k: int) -> str:
        logits, state = self.feed(prime_ids, None)
        out: list[str] = []
        for _ in range(length):
            i = sample_id(logits, rng, temperature, top_k, self.forbidden)
            if i == self.eos:
                break
            out.append(self.vocab.itos[i])
            logits, state = self.feed([i], state)
        return prime + "".join(out)

    def continue_line(self, prefix: str, max_chars: int) -> str:
        """The greedy continuation of ``prefix`` up to the end of its line (``<eos>`` or a newline), at most ``max_chars``."""
        ids = self.start + self.vocab.encode(prefix)
        logits, state = self.feed(ids or [self.vocab.unk_id], None)
        out: list[str] = []
        for _ in range(max_chars):
            i = greedy_id(logits, self.forbidden)
            if i == self.eos or self.vocab.itos[i] == "\n":
                break
            out.append(self.vocab.itos[i])
            logits, state = self.feed([i], state)
        return "".join(out)

    def unknown_count(self, texts: Sequence[str]) -> int:
        """How many characters of ``texts`` are outside the vocabulary."""
        return sum(c not in self.vocab.stoi for t in texts for c in t)

    def held_out_lines(self) -> list[str]:
        """The held-out lines of the training corpus, rebuilt from the file the run was trained on."""
        path = Path(self.corpus_file or "")
        if not path.is_file():
            raise DataError(f"{path}: the corpus this run was trained on is gone; pass --test and --gold files instead")
        if self.corpus_sha256 and sha256_of(path) != self.corpus_sha256:
            raise DataError(f"{path}: the corpus has changed since training, so its held-out slice is unknown; pass --test and --gold files instead")
        return load_char_corpus(str(path), self.config.lines, self.config.val_ratio, shuffle_seed=self.config.shuffle_seed).val_lines


def continuation_scores(predictions: Sequence[str], golds: Sequence[str]) -> dict:
    """Exact-match line accuracy (after stripping whitespace) and character accuracy.

    Character accuracy is the share of gold characters (stripped lines) that the
    prediction has at the same position.
    """
    exact = sum(p.strip() == g.strip() for p, g in zip(predictions, golds))
    matched = sum(sum(a == b for a, b in zip(p.strip(), g.strip())) for p, g in zip(predictions, golds))
    total = sum(len(g.strip()) for g in golds)
    return {"lines": len(golds), "exact_match": exact / max(len(golds), 1), "char_accuracy": matched / max(total, 1)}


@dataclass
class ContinuationEval:
    """What `evaluate_continuations` did: the scores, the files it wrote, the unknown prefix characters."""

    scores: dict
    predictions_file: Path
    written: list[Path]
    unknown_chars: int


def evaluate_continuations(
    generator: CharGenerator,
    test: str | None = None,
    gold: str | None = None,
    output: str | None = None,
    count: int = EvalSettings.count,
    max_chars: int = EvalSettings.max_chars,
) -> ContinuationEval:
    """Predict the continuation of each prefix greedily and score it against the gold continuation.

    With ``test`` and ``gold`` (one prefix / one continuation per line), those
    files are used; without them, the first ``count`` held-out lines of the
    run's corpus are cut in half (prefix = first half) and the pair is written
    beside the predictions. Predictions go to ``output`` (default: the run's
    ``eval_predictions.txt``), one per line; all files are written atomically
    and only after every prediction is made.
    """
    if (test is None) != (gold is None):
        raise ConfigError("give both --test (prefixes) and --gold (continuations), or neither to use the held-out lines")
    if count < 1 or max_chars < 1:
        raise ConfigError("--count and --max-chars must be >= 1")
    if test is not None and gold is not None:
        prefixes, golds = read_lines(test), read_lines(gold)
        if len(prefixes) != len(golds):
            raise DataError(f"{test} has {len(prefixes)} lines but {gold} has {len(golds)}; they must pair up line by line")
        pair_files: dict[Path, list[str]] = {}
    else:
        prefixes, golds = continuation_pairs(generator.held_out_lines(), count)
        pair_files = {generator.run.file("eval_prefixes.txt"): prefixes, generator.run.file("eval_gold.txt"): golds}
    if not prefixes:
        raise DataError(f"{test or 'the held-out slice'}: no lines to evaluate")
    predictions = [generator.continue_line(p, max_chars) for p in prefixes]
    out = Path(output) if output else generator.run.file("eval_predictions.txt")
    for path, lines in {**pair_files, out: predictions}.items():
        write_text(path, "".join(line + "\n" for line in lines))
    scores = continuation_scores(predictions, golds)
    generator.run.save_json("eval.json", {**scores, "test": test, "gold": gold, "predictions": str(out), "max_chars": max_chars})
    return ContinuationEval(scores, out, [*pair_files, out], generator.unknown_count(prefixes))
