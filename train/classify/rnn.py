"""Train the RNN classifier: data -> embedding -> model -> fit -> run directory and report.

`train_classifier` is what ``python run.py --model lstm`` calls.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from data_processor.base.atomic import append_jsonl
from data_processor.base.errors import DataError
from data_processor.base.messages import Log, log_stderr
from data_processor.vocab import Vocab
from train.classify.data import read_splits
from train.classify.embedding import build_embedding, check_inputs, resolve_embedding
from train.classify.fit import describe_plan, fit, training_plan
from train.classify.multilabel import save_thresholds, scored_metrics, tune_thresholds
from train.classify.network import batch_metrics, build_model, check_memory, predict_proba
from train.classify.objective import Objective
from train.classify.run_files import load_shown_labels, save_label_names, save_text_tools, shown_labels, write_report
from train.classify.settings import NO_ENCODER, NO_TEACHER, RUN_KIND, ClassifierConfig
from train.classify.text_pipeline import PreparedData, prepare_data
from train.classify.transfer import (
    check_encoder_optimizer,
    fine_tune_lm,
    load_encoder,
    transfer_encoder,
    ulmfit_optimizer,
    with_encoder_shape,
)
from train.common.distributed import SINGLE, Cluster
from train.common.optim import build_optimizer, build_scheduler, learning_rate
from train.common.resume import restore_metrics, resumed_best_state, save_checkpoint
from train.common.run_steps import resumable, resumed_state, seed_process
from train.common.rundir import RunDir, check_run_outputs
from train.common.runtime import release_free_memory


def train_classifier(config: ClassifierConfig, log: Log = log_stderr, run: RunDir | None = None, cluster: Cluster = SINGLE) -> dict:
    """Train a classifier as ``config`` says (or go on with the interrupted ``run``), write its run directory (marked
    complete), and return the summary. With a distributed ``cluster`` the processes train together and rank 0 writes."""
    run, summary = fit_classifier_run(config, log, run, cluster)
    if cluster.is_main:
        run.mark_complete(summary)
    return summary


def fit_classifier_run(config: ClassifierConfig, log: Log = log_stderr, run: RunDir | None = None,
                       cluster: Cluster = SINGLE) -> tuple[RunDir, dict]:
    """Train the RNN classifier of ``config`` into a new run directory, or go on with the interrupted ``run`` (locked by
    the caller) from its ``last.pt``; write everything but the completion marker; return the run and its summary.

    Under torchrun (a distributed ``cluster``), ``--batch-size`` is each process's share of a batch: rank 0 reads and
    tokenizes the data first (filling the token cache the others then read), builds the word vectors and writes the run
    directory; the others read ``run`` (when resuming) but never write. Every process returns the summary; only rank
    0's run directory is real (the others get ``run`` as given: None for a new run).
    """
    main = cluster.is_main
    config.validate()
    check_encoder_optimizer(config)
    if run is None and main:
        check_run_outputs(config)
    device = cluster.device(config.device)
    check_memory(config, 2, 2, 0, 0, device)  # the weights alone (over the fewest tokens and labels), before reading any data
    checkpoint = resumed_state(run, cluster)
    vectors = encoder = None
    if checkpoint is None:  # a resumed run's weights come from its checkpoint: no vectors file, encoder or gensim training needed
        check_inputs(config)
        with cluster.main_first():  # rank 0 pretrains (or finds in the cache) a general-domain encoder; the others read it
            encoder = load_encoder(config, log if main else lambda _: None)
        config, vectors = resolve_embedding(with_encoder_shape(config, encoder))
    seed_process(config.seed, config.threads, cluster)
    started = time.perf_counter()
    with cluster.main_first():  # rank 0 tokenizes into the token cache; the others find it there
        data = prepare_data(dataclasses.replace(config, batch_size=config.batch_size * cluster.world), log, cluster.rank, cluster.world)
    log(f"data: ready in {time.perf_counter() - started:.1f}s (read, tokenized, encoded and batched)")
    release_free_memory()
    plan = training_plan(data.train.num_rows, config.batch_size * cluster.world, config.epochs, config.min_steps, config.schedule,
                         learning_rate(config.optimizer, config.lr), config.patience)
    log(describe_plan(plan))  # before the word vectors and any language-model fine-tuning, which take a while
    vocab, labels, stopwords = data.pipeline.vocab, data.pipeline.labels, data.pipeline.stopwords
    check_memory(config, len(vocab), len(labels), min(config.batch_size * cluster.world, data.train.num_rows),
                 min(config.max_len, int(data.train.lengths.max())), device)
    shown = load_shown_labels(run, labels.itos) if checkpoint is not None and run is not None else shown_labels(config, labels.itos)
    cluster.check_same("vocabulary", "\n".join(vocab.itos) + "\0" + "\n".join(labels.itos))
    if run is not None:
        check_same_data(run, vocab, labels)

    # word vectors are trained (or looked up) by rank 0 alone: DistributedDataParallel copies its weights to the others
    building = checkpoint is None and main
    embedding = build_embedding(config, vectors, vocab, data.train_tokens, data.tokenize_texts, log) if building else None
    model = build_model(config, vocab, len(labels), embedding.matrix if embedding else None).to(device)
    if cluster.distributed:
        torch.manual_seed(config.seed + cluster.rank)  # each process draws its own dropout masks
    transfer_record = None
    if encoder is not None:
        transfer_record = {"encoder": str(encoder.path), **transfer_encoder(model, vocab, encoder)}
        log(f"encoder: from {encoder.path}: {transfer_record['vocabulary_covered']:.1%} of the vocabulary, "
            f"{transfer_record['tokens_covered']:.1%} of the training tokens")
        if config.lm_steps:
            transfer_record["task_lm"] = fine_tune_lm(model, vocab, encoder, data.train, config, device, log)
            log(f"task LM: {transfer_record['task_lm']['steps']} steps in {transfer_record['task_lm']['seconds']:.0f}s; held-out "
                f"forward perplexity {transfer_record['task_lm']['forward_perplexity_before']:.1f} -> "
                f"{transfer_record['task_lm']['forward_perplexity_after']:.1f}")
    objective, teacher_record = training_objective(config, data, len(labels), cluster, log)
    epochs = plan["epochs"]
    if config.encoder != NO_ENCODER:
        optimizer, scheduler = ulmfit_optimizer(model, config, learning_rate(config.optimizer, config.lr), len(data.train), epochs)
    else:
        optimizer = build_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay, config.momentum)
        scheduler = build_scheduler(config.schedule, optimizer, epochs, len(data.train))

    if run is None and main:
        run = RunDir.create(config.runs_dir, config.run_name, prefix=config.model)
    if checkpoint is None and main:
        run.save_json("config.json", {"kind": RUN_KIND, **config.to_dict(), "run_name": run.path.name, "device_used": str(device),
                                      "world_size": cluster.world})
        vocab.save(run.file("vocab.json"))
        labels.save(run.file("labels.json"))
        save_label_names(run, config)
        run.save_json("embedding.json", {"embedding": config.embedding, "frozen": config.freeze_embedding,
                                         **(embedding.record() if embedding else {"source": "random", "dim": config.embed_dim})})
        save_text_tools(run, config, stopwords)
        if transfer_record is not None:
            run.save_json("encoder.json", transfer_record)
        if teacher_record is not None:
            run.save_json("distill.json", teacher_record)
        run.file("metrics.jsonl").unlink(missing_ok=True)
    if cluster.distributed:
        log(f"data-parallel: {cluster.world} processes, {config.batch_size} rows each per batch ({config.batch_size * cluster.world} "
            f"per step), on {device}")
    log(f"run directory: {run.path if run is not None else '(rank 0 writes it)'}")
    best_state = None
    if checkpoint is not None:
        if main:
            restore_metrics(run, checkpoint)
        best_state = resumed_best_state(run, checkpoint, save=main)

    with resumable(run, "python run.py train", config.tensorboard):
        result = fit(model, data.train, data.dev, optimizer, epochs=epochs, device=device, clip=config.clip, patience=config.patience,
                     time_budget_s=config.time_budget * 60 if config.time_budget else None,
                     scheduler=scheduler, on_epoch=(lambda record: append_jsonl(run.file("metrics.jsonl"), record)) if main else None,
                     on_best=run.save_state_dict if main else None, checkpoint=lambda state: save_checkpoint(run, state),
                     resume=checkpoint, best_state=best_state, progress=config.progress, log=log, cluster=cluster,
                     objective=objective)
        assert result.best_state is not None
        model.load_state_dict(result.best_state)
        thresholds = dev_metrics = None
        if config.multi_label or data.test is None:  # thresholds are chosen on dev (with the kept weights); no test: dev is pictured
            dev_probs, dev_labels = predict_proba(model, data.dev, device, cluster), data.dev.labels.numpy()
            thresholds = tune_thresholds(dev_probs, dev_labels, config.threshold) if config.multi_label else None
            dev_metrics = scored_metrics(dev_probs, dev_labels, shown, thresholds)
        test_metrics = batch_metrics(model, data.test, shown, device, cluster, thresholds) if data.test is not None else None
        summary = {"run": str(run.path) if run is not None else "", "best_epoch": result.best_epoch,
                   f"best_{result.monitor}": result.best_score, "epochs_run": len(result.history),
                   "stopped_by_time_budget": result.out_of_time}
        if not main:
            return run, summary  # type: ignore[return-value]
        if thresholds is not None:
            save_thresholds(run, config.threshold, thresholds, labels.itos, dev_metrics["micro_f1"])
            summary.update(multi_label=True, threshold=config.threshold, dev_micro_f1=dev_metrics["micro_f1"])
            log(f"thresholds ({config.threshold}), chosen on dev: " + ", ".join(f"{n} {t:.2f}" for n, t in zip(labels.itos, thresholds))
                + f"; dev micro-F1 {dev_metrics['micro_f1']:.4f}")
        from train.common.plots import draw_or_skip, plot_curves  # matplotlib is slow to import: only training draws

        skipped = draw_or_skip("curves.png", lambda: plot_curves(result.history, run.file("curves.png"), metric=result.monitor,
                                                                 best_epoch=result.best_epoch), log)
        return run, write_report(run, summary, test_metrics, dev_metrics, [skipped] if skipped else [], log)


def dry_run_plan(config: ClassifierConfig, log: Log = log_stderr) -> dict:
    """The `training_plan` of ``config`` for its actual training data (read, not tokenized), for ``--dry-run``."""
    rows = len(read_splits(config, log).train)
    return training_plan(rows, config.batch_size, config.epochs, config.min_steps, config.schedule,
                         learning_rate(config.optimizer, config.lr), config.patience)


def training_objective(config: ClassifierConfig, data: PreparedData, num_classes: int, cluster: Cluster = SINGLE,
                       log: Log = log_stderr) -> tuple[Objective, dict | None]:
    """The loss the classifier trains on; for ``--distill tfidf`` with the TF-IDF teacher's out-of-fold probabilities of
    the training rows (fitted by rank 0 and shared), and the teacher's record (None without a teacher)."""
    soft = record = None
    if config.distill != NO_TEACHER:
        from train.classify.distill import (
            distillation_targets,  # scikit-learn: only a distilled run loads it (predict never does)
        )
        from train.classify.tfidf_model import build_tfidf, model_stopwords

        targets = data.train.labels
        assert targets is not None
        labels = targets.numpy()
        if cluster.is_main:
            soft, record = distillation_targets(data.train_texts(), labels, num_classes,
                                                lambda: build_tfidf(config, stopwords=model_stopwords(config)),
                                                config.multi_label, config.seed, log)
        else:
            soft = np.zeros((len(labels), num_classes), dtype=np.float32)
        soft = torch.from_numpy(cluster.sum_array(soft))
    return Objective(config.multi_label, config.label_smoothing, soft, config.distill_weight, config.adversarial), record


def check_same_data(run: RunDir, vocab: Vocab, labels: Vocab) -> None:
    """A `DataError` when the data a resumed run reads now gives another vocabulary or label set than when it started
    (a file not written yet, by a run killed as it started, is written again)."""
    for name, now in (("vocab.json", vocab), ("labels.json", labels)):
        if run.file(name).is_file() and Vocab.load(run.file(name)) != now:
            raise DataError(f"{run.file(name)}: the training data gives another {name.removesuffix('.json')} now than when the run "
                            "started (was a data file changed?); a run can resume only on the data it started with")
