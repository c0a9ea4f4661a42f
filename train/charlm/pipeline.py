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

import numpy as np
import torch

from data_processor.base.atomic import append_jsonl
from data_processor.char_corpus import CharCorpus, load_char_corpus
from data_processor.corpora import sha256_of
from data_processor.base.errors import ConfigError, DataError
from data_processor.base.messages import Log, log_stderr
from models.char_lm import CharLM
from models.numpy_ref.char_rnn import NumpyCharRNN
from train.charlm.fit import fit_language_model
from train.charlm.settings import RUN_KIND, CharLMConfig
from train.charlm.trainers import NumpyLMTrainer, TorchLMTrainer
from train.common.distributed import SINGLE, Cluster
from train.common.memory import TrainingFootprint, check_fits, count_parameters
from train.common.optim import build_optimizer
from train.common.resume import open_interrupted, restore_metrics, save_checkpoint
from train.common.run_steps import resumable, resumed_state, seed_process
from train.common.rundir import RunDir, check_run_outputs


def build_char_lm(config: CharLMConfig, vocab_size: int) -> CharLM:
    """The torch `CharLM` a resolved config describes."""
    return CharLM(vocab_size, cell=config.cell, embed_dim=config.embed_dim, hidden_size=config.hidden_size,
                  num_layers=config.num_layers, dropout=config.dropout)


def check_char_lm_memory(config: CharLMConfig, vocab_size: int, device: torch.device) -> None:
    """A `ConfigError` naming the options to lower when the character model of ``config`` over ``vocab_size`` symbols
    cannot train in ``device``'s free memory."""
    hidden = config.hidden_size
    if config.backend == "numpy":  # one-hot input, one tanh layer, a softmax output: its weights and biases
        parameters, embed_dim = vocab_size * hidden + hidden * hidden + hidden * vocab_size + hidden + vocab_size, vocab_size
    else:
        parameters, embed_dim = count_parameters(lambda: build_char_lm(config, vocab_size)), config.embed_dim or vocab_size
    footprint = TrainingFootprint(parameters, config.optimizer, config.batch_size, config.seq_len, embed_dim, hidden,
                                  config.num_layers, 1, config.cell, outputs_per_token=vocab_size)
    check_fits(footprint, device, "--hidden-size, --embed-dim or --num-layers", "--batch-size or --seq-len")


def check_corpus_size(corpus: CharCorpus, config: CharLMConfig, world: int = 1) -> None:
    """A `DataError` when the training stream cannot fill one chunk (one per process, for ``world`` processes)."""
    if len(corpus.train_ids) - 1 < config.seq_len * world:
        each = f" for each of {world} processes" if world > 1 else ""
        raise DataError(f"{corpus.path}: the training part has {len(corpus.train_ids)} symbols, fewer than one chunk of "
                        f"--seq-len {config.seq_len} + 1{each}; lower --seq-len or use a bigger corpus")


def train_char_lm(config: CharLMConfig, log: Log = log_stderr, run: RunDir | None = None, cluster: Cluster = SINGLE) -> dict:
    """Train a character model as ``config`` says (or go on with the interrupted ``run``, locked by the caller, from its
    ``last.pt``), write its run directory, mark it complete, and return the summary.

    Under torchrun (a distributed ``cluster``; torch cells only) ``--batch-size`` is each process's lanes: the processes
    read the same chunks and each learns from its own lanes; rank 0 fetches the corpus first and alone writes the run.
    """
    main = cluster.is_main
    config = config.resolved()
    if cluster.distributed and config.backend == "numpy":
        raise ConfigError("the numpy char-RNN trains in one process: start it with python run.py, not torchrun")
    if run is None and main:
        check_run_outputs(config)
    checkpoint = resumed_state(run, cluster)
    seed_process(config.seed, config.threads, cluster)
    with cluster.main_first():  # rank 0 downloads and caches the corpus; the others read the cache
        corpus = load_char_corpus(config.corpus, config.lines, config.val_ratio, config.cache_dir, config.shuffle_seed)
    check_corpus_size(corpus, config, cluster.world)
    vocab = corpus.vocab
    log(f"corpus: {corpus.path}: {len(corpus.train_ids)} training and {len(corpus.val_ids)} held-out symbols, "
        f"{len(vocab)} in the vocabulary{' (one item per line, <eos> between)' if corpus.line_oriented else ''}")
    if run is not None:
        check_same_corpus(run, corpus)

    check_char_lm_memory(config, len(vocab), cluster.device(config.device) if config.backend == "torch" else torch.device("cpu"))
    trainer: NumpyLMTrainer | TorchLMTrainer
    if config.backend == "numpy":
        model = NumpyCharRNN(len(vocab), config.hidden_size, seed=config.seed, dtype=np.float32)  # float32: twice as fast as float64
        trainer, device = NumpyLMTrainer(model, config.optimizer, config.lr, config.clip), "cpu"
    else:
        device = cluster.device(config.device)
        torch_model = build_char_lm(config, len(vocab)).to(device)
        if cluster.distributed:
            torch.manual_seed(config.seed + cluster.rank)  # each process draws its own dropout masks
        optimizer = build_optimizer(config.optimizer, torch_model.parameters(), config.lr, config.weight_decay)
        trainer = TorchLMTrainer(torch_model, optimizer, config.clip, device, cluster)

    if run is None and main:
        run = RunDir.create(config.runs_dir, config.run_name, prefix=f"{config.cell}-{corpus.path.stem}")
    if not main:
        run = None  # rank 0 alone writes; the others train beside it
    elif checkpoint is None:
        run.save_json("config.json", {"kind": RUN_KIND, "backend": config.backend, **config.to_dict(), "run_name": run.path.name,
                                      "device_used": str(device),
                                      "world_size": cluster.world,
                                      "corpus_file": str(corpus.path.resolve()), "corpus_sha256": sha256_of(corpus.path),
                                      "vocab_size": len(vocab), "train_symbols": len(corpus.train_ids), "val_symbols": len(corpus.val_ids)})
        vocab.save(run.file("vocab.json"))
        run.file("metrics.jsonl").unlink(missing_ok=True)
    else:
        restore_metrics(run, checkpoint)
        loop = checkpoint["loop"]
        if config.keep == "last" or loop["best_epoch"] == len(loop["history"]):  # the kept weights may not have been written
            trainer.load_state_dict(checkpoint["trainer"]["lm"])
            trainer.save(run)
    if cluster.distributed:
        log(f"data-parallel: {cluster.world} processes, {config.batch_size} lanes each ({config.batch_size * cluster.world} per "
            f"step), on {device}")
    log(f"run directory: {run.path if run is not None else '(rank 0 writes it)'}")

    def on_epoch(record: dict, improved: bool) -> None:
        append_jsonl(run.file("metrics.jsonl"), record)
        if improved or config.keep == "last":
            trainer.save(run)

    with resumable(run, "python run.py generate train", config.tensorboard):
        result = fit_language_model(trainer, corpus.train_ids, corpus.val_ids, epochs=config.epochs,
                                    batch_size=config.batch_size * cluster.world, seq_len=config.seq_len, chunking=config.chunking,
                                    seed=config.seed, time_budget_s=config.time_budget * 60 or None, on_epoch=on_epoch if main else None,
                                    checkpoint=lambda state: save_checkpoint(run, state), resume=checkpoint,
                                    progress=config.progress, log=log, cluster=cluster)
    last = result.history[-1]
    summary = {"run": str(run.path) if run is not None else "", "best_epoch": result.best_epoch, "best_val_loss": round(result.best_score, 6),
               "best_val_perplexity": round(math.exp(result.best_score), 4), "final_train_loss": last["train_loss"],
               "final_train_perplexity": last["train_perplexity"], "epochs_run": len(result.history), "kept": config.keep, "final_val_loss": last["val_loss"],
               "final_val_perplexity": last["val_perplexity"],
               "seconds": last["elapsed"], "stopped_by_time_budget": result.out_of_time}
    if run is None:  # a torchrun process other than rank 0
        return summary
    from train.common.plots import draw_or_skip, plot_curves  # matplotlib is slow to import; sampling and evaluation never plot

    skipped = draw_or_skip("curves.png", lambda: plot_curves(result.history, run.file("curves.png"), losses=("train_loss", "val_loss"),
                                                             metric="val_perplexity", best_epoch=result.best_epoch), log)
    summary = {**summary, "skipped": [skipped]} if skipped else summary
    run.save_json("summary.json", summary)
    run.mark_complete(summary)
    return summary


def resume_char_lm(path: str, progress: bool = True, log: Log = log_stderr, cluster: Cluster = SINGLE) -> dict:
    """Finish the interrupted character-model run at ``path`` with its own ``config.json``; return its summary (under
    torchrun rank 0 locks the run, the others only read it)."""
    run = open_interrupted(path, RUN_KIND) if cluster.is_main else RunDir.open(path, RUN_KIND)
    config = dataclasses.replace(run.load_settings(CharLMConfig), progress=progress)
    return train_char_lm(config, log, run, cluster)


def check_same_corpus(run: RunDir, corpus: CharCorpus) -> None:
    """A `DataError` when the corpus a resumed run reads is not the one it started on."""
    if run.load_json("config.json").get("corpus_sha256") != sha256_of(corpus.path):
        raise DataError(f"{corpus.path}: the corpus changed since the run {run.path} started; a run can resume only on the "
                        "corpus it started with")
