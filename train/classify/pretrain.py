"""``python run.py pretrain``: train a classifier's encoder as a bidirectional language model on unlabelled text.

Corpora -> the classifier's tokenizer (through the token cache) -> a vocabulary (with the classifier's back-off) ->
length-bucketed batches -> `EncoderLM` (forward predicts the next token, backward the previous one) -> a run
directory like any other: ``config.json`` (kind ``language-model``), ``vocab.json``, ``model.pt`` (tensors only: the
encoder's and the language-model heads' weights with the lowest held-out loss), ``metrics.jsonl``, ``curves.png``,
``complete.json``; resumable with ``--resume``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from data_processor.base.atomic import append_jsonl
from data_processor.batching import BucketBatcher
from data_processor.char_backoff import backoff_vocab_from_counts, word_characters
from data_processor.corpora import CORPORA
from data_processor.datasets import CLASSIFICATION_DATASETS, load_classification_dataset
from data_processor.base.errors import DataError
from data_processor.io import read_table
from data_processor.base.messages import Log, log_stderr
from data_processor.stopwords import load_stopwords
from data_processor.token_cache import cache_dir, cached_tokens, scan_texts
from data_processor.tokenizers import tokenizer_for, tokenizer_identity
from train.vectors.training import corpus_texts
from data_processor.vocab import Vocab
from models.choices import DEFAULT_EMBED_DIM
from models.encoder import TextEncoder
from models.language_model import EncoderLM
from train.classify.lm_training import fit_lm, vocabulary_counts
from train.classify.pretrain_settings import LM_KIND, PretrainConfig
from train.classify.text_pipeline import TextPipeline
from train.common.memory import TEXT_BATCH_OPTIONS, TEXT_SIZE_OPTIONS, TrainingFootprint, check_fits, count_parameters
from train.common.resume import restore_metrics, resumed_best_state, save_checkpoint
from train.common.run_steps import resumable, resumed_state, seed_process
from train.common.rundir import RunDir, check_run_outputs
from train.common.runtime import release_free_memory, resolve_device
from train.common.text_settings import EncoderSettings, TextSettings

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
MAX_HELDOUT = 1000  # held-out texts at most: the full softmax over the vocabulary scores them every epoch


class CorpusTexts:
    """The texts of several corpora, one after the other; each iteration reads them again (for the token cache's two
    passes). A corpus is a named corpus, a built-in dataset's training texts, a .txt file (one text per line) or a
    table's text column."""

    def __init__(self, names: list[str], config: PretrainConfig) -> None:
        self.names, self.config = names, config
        for name in names:  # fail before any work on a name that is none of these
            if name not in CORPORA and name not in CLASSIFICATION_DATASETS and not Path(name).is_file():
                raise DataError(f"{name}: no such corpus file; --corpus takes {', '.join((*CORPORA, *CLASSIFICATION_DATASETS))} "
                                "or the path of a .txt/.csv/.tsv/.jsonl file")

    def __iter__(self) -> Iterator[str]:
        for name in self.names:
            yield from self.read(name)

    def read(self, name: str) -> list[str]:
        """The non-blank texts of one corpus."""
        if name in CLASSIFICATION_DATASETS:
            return [e.text for e in load_classification_dataset(name).train]
        c = self.config
        if name not in CORPORA and Path(name).suffix.lower() in TABLE_SUFFIXES:
            table = read_table(name, c.text_col, None, c.format, c.encoding, c.skip_bad_rows, require_label=False)
            return [t for t in table.texts if t.strip()]
        return corpus_texts(name)


@dataclass
class LMData:
    """What a language model trains on: its vocabulary, shuffled training batches, held-out batches, and the key of the
    tokenized corpus (which changes with the texts, the tokenizer and the stopwords)."""

    vocab: Vocab
    train: BucketBatcher
    heldout: BucketBatcher
    corpus_key: str


def text_pipeline(settings: TextSettings, vocab: Vocab) -> TextPipeline:
    """The classifier's text -> ids pipeline for ``settings`` over ``vocab`` (no labels)."""
    tokenize = tokenizer_for(settings)
    return TextPipeline(tokenize, load_stopwords(settings.stopwords), vocab, Vocab([], specials=()), settings.max_len, settings.backoff)


def build_vocab(counts: dict[str, int], settings: TextSettings) -> Vocab:
    """The vocabulary the classifier would build from these token counts (with its back-off, min count and size)."""
    build = backoff_vocab_from_counts if settings.backoff == "char" else Vocab.from_counts
    return build(counts, min_freq=settings.min_freq, max_size=settings.max_vocab)


def prepare_lm_data(config: PretrainConfig, log: Log = log_stderr) -> LMData:
    """Read and tokenize the corpora (cached), hold out texts for perplexity, build the vocabulary on the rest, batch."""
    texts = CorpusTexts(config.corpora(), config)
    stopwords = load_stopwords(config.stopwords)
    identity = tokenizer_identity(config.tokenizer, config.user_dict, config.hmm)
    scan = scan_texts(texts)
    store = cached_tokens(texts, tokenizer_for(config), identity, stopwords,
                          cache_dir(config.token_cache), config.workers, config.progress, "+".join(config.corpora()), log, scan)
    if len(store) < 2:
        raise DataError(f"{', '.join(config.corpora())}: {len(store)} text(s); a language model needs at least two (one held out)")
    order = np.random.default_rng(config.seed).permutation(len(store))
    held = min(MAX_HELDOUT, max(1, round(config.heldout * len(store))))
    heldout_rows, train_rows = np.sort(order[:held]), np.sort(order[held:])
    vocab = build_vocab(store.token_counts(train_rows), config)
    pipeline = text_pipeline(config, vocab)
    log(f"language model: {len(train_rows)} texts to learn from, {held} held out; vocabulary {len(vocab)} tokens")
    train = pipeline.store_batches(store, train_rows, config.batch_size, shuffle=True, seed=config.seed)
    heldout = pipeline.store_batches(store, heldout_rows, config.batch_size * 4)
    return LMData(vocab, train, heldout, scan.key(identity, stopwords))


def build_encoder(shape: EncoderSettings, cell: str, vocab: Vocab) -> TextEncoder:
    """A randomly initialised `TextEncoder` of ``shape`` over ``vocab``."""
    return TextEncoder(len(vocab), cell, shape.embed_dim or DEFAULT_EMBED_DIM, shape.hidden_size, shape.num_layers,
                       shape.bidirectional, shape.dropout, padding_idx=vocab.pad_id, word_dropout=shape.word_dropout,
                       word_chars=word_characters(vocab) if shape.word_chars else None)


def build_lm(config: PretrainConfig, vocab: Vocab) -> EncoderLM:
    """The language model ``config`` describes over ``vocab``."""
    return EncoderLM(build_encoder(config, config.cell, vocab), vocabulary_counts(vocab.counts, vocab.itos), config.samples,
                     config.dropout)


def check_lm_memory(config: PretrainConfig, vocab: Vocab, rows: int, steps: int, device: torch.device) -> None:
    """A `ConfigError` naming the options to lower when the language model of ``config`` over ``vocab``, ``rows`` x
    ``steps`` tokens a batch, cannot train in ``device``'s free memory."""
    parameters = count_parameters(lambda: build_lm(config, vocab))
    footprint = TrainingFootprint(parameters, "adam", rows, steps, config.embed_dim or DEFAULT_EMBED_DIM, config.hidden_size,
                                  config.num_layers, 2 if config.bidirectional else 1, config.cell,
                                  outputs_per_token=min(config.samples, len(vocab)))
    check_fits(footprint, device, TEXT_SIZE_OPTIONS, TEXT_BATCH_OPTIONS)


def pretrain(config: PretrainConfig, log: Log = log_stderr, run: RunDir | None = None) -> dict:
    """Pretrain as ``config`` says into a new run directory (or go on with the interrupted ``run``); mark it complete and
    return its summary."""
    config.validate()
    if run is None:
        check_run_outputs(config)
    checkpoint = resumed_state(run)
    device = resolve_device(config.device)
    check_lm_memory(config, Vocab([]), 0, 0, device)  # the weights alone (over the fewest tokens), before reading any text
    seed_process(config.seed, config.threads)
    started = time.perf_counter()
    data = prepare_lm_data(config, log)
    release_free_memory()
    check_lm_memory(config, data.vocab, min(config.batch_size, len(data.train.lengths)), min(config.max_len, int(data.train.lengths.max())),
                    device)
    if run is not None and run.file("vocab.json").is_file() and Vocab.load(run.file("vocab.json")) != data.vocab:
        raise DataError(f"{run.file('vocab.json')}: the corpus gives another vocabulary now than when the run started (was a "
                        "corpus file changed?); a run can resume only on the text it started with")
    model = build_lm(config, data.vocab).to(device)
    if run is None:
        run = RunDir.create(config.runs_dir, config.run_name, prefix=f"lm-{config.cell}")
    if checkpoint is None:
        run.save_json("config.json", {"kind": LM_KIND, **config.to_dict(), "run_name": run.path.name, "device_used": str(device), "world_size": 1,
                                      "corpus_key": data.corpus_key})
        data.vocab.save(run.file("vocab.json"))
        run.file("metrics.jsonl").unlink(missing_ok=True)
    else:
        restore_metrics(run, checkpoint)
        resumed_best_state(run, checkpoint)
    log(f"run directory: {run.path}")

    def keep(record: dict, improved: bool) -> None:
        if improved:
            run.save_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
        append_jsonl(run.file("metrics.jsonl"), record)

    with resumable(run, "python run.py pretrain", config.tensorboard):
        result, trainer = fit_lm(model, data.train, data.heldout, lr=config.lr, epochs=config.epochs, max_steps=config.max_steps,
                                 clip=config.clip, device=device, time_budget_s=config.time_budget * 60 if config.time_budget else None,
                                 on_epoch=keep, checkpoint=lambda state: save_checkpoint(run, state), resume=checkpoint,
                                 progress=config.progress, log=log)
    best = result.history[result.best_epoch - 1]
    summary = {"run": str(run.path), "best_epoch": result.best_epoch, "epochs_run": len(result.history), "steps": trainer.steps,
               "vocabulary": len(data.vocab), "best_dev_loss": best["dev_loss"],
               **{k: best[k] for k in best if k.endswith("_perplexity")}, "seconds": round(time.perf_counter() - started, 1),
               "stopped_by_time_budget": result.out_of_time}
    from train.common.plots import draw_or_skip, plot_curves  # matplotlib is slow to import: only training draws

    skipped = draw_or_skip("curves.png", lambda: plot_curves(result.history, run.file("curves.png"), metric="dev_forward_perplexity",
                                                             best_epoch=result.best_epoch), log)
    run.mark_complete({**summary, "skipped": [skipped]} if skipped else summary)
    return summary


def resume_pretrain(path: str, progress: bool = True, log: Log = log_stderr) -> dict:
    """Finish the interrupted pretraining run at ``path`` with its own settings."""
    from train.common.resume import open_interrupted

    run = open_interrupted(path, LM_KIND)
    config = run.load_settings(PretrainConfig)
    config.progress = progress
    return pretrain(config, log, run)


def load_pretrained(path: str | Path) -> tuple[PretrainConfig, Vocab, dict[str, torch.Tensor]]:
    """A finished (or interrupted: its best weights so far) pretraining run: its settings, vocabulary and weights."""
    run = RunDir.open(path, LM_KIND, needs=("vocab.json", "model.pt"))
    return run.load_settings(PretrainConfig), Vocab.load(run.file("vocab.json")), run.load_state_dict()
