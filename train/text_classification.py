"""The classification pipeline: files -> tokens -> ids -> batches -> model -> run directory.

`train_classifier` is what ``python run.py --model lstm`` calls; `Predictor`
loads a finished run from its directory alone, for ``predict`` and
``evaluate``.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from data_processor.atomic import append_jsonl, write_text
from data_processor.batching import BucketBatcher
from data_processor.char_backoff import BACKOFFS, build_backoff_vocab, spell_out
from data_processor.datasets import LabelledSplits, load_classification_dataset
from data_processor.embeddings import (
    Embedding,
    embedding_from_file,
    embedding_from_training,
)
from data_processor.errors import ConfigError, DataError, where
from data_processor.io import Example, Table, read_table
from data_processor.messages import Log, log_stderr
from data_processor.splits import stratified_split
from data_processor.stopwords import load_stopwords, remove_stopwords
from data_processor.token_cache import cache_dir, cached_tokens
from data_processor.tokenizers import (
    TOKENIZERS,
    Tokenizer,
    get_tokenizer,
    tokenizer_identity,
)
from data_processor.vector_files import VectorFile, open_vectors
from data_processor.vocab import Vocab
from data_processor.word_vectors import (
    DEFAULT_EPOCHS,
    DEFAULT_MIN_COUNT,
    DEFAULT_WINDOW,
    METHODS,
    corpus_sentences,
    train_word_vectors,
)
from models.classifier import CELLS, POOLINGS, RNNClassifier
from models.tfidf import CLASSIFIERS as TFIDF_CLASSIFIERS
from models.tfidf import FEATURES as TFIDF_FEATURES
from train.checkpoint import RunDir
from train.classifier import fit, predict_proba
from train.metrics import classification_metrics, format_confusion
from train.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler
from train.plots import plot_curves
from train.runtime import DEVICES, RunSettings, resolve_device, set_seed, set_threads

RUN_KIND = "classifier"
MODELS = (*CELLS, "tfidf")
EMBEDDINGS = ("random", *METHODS)  # or the path of a vectors file
DEFAULT_EMBED_DIM = 128  # when --embedding is not a vectors file and --embed-dim is not given



@dataclass
class ClassifierConfig(RunSettings):
    """Every setting of a classification run; the defaults are the defaults of ``run.py``."""

    model: str = "lstm"
    # data
    dataset: str = "reviews-zh"
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    format: str | None = None
    text_col: str | None = None
    label_col: str | None = None
    encoding: str = "utf-8"
    skip_bad_rows: bool = False
    dev_ratio: float = 0.1
    # text
    tokenizer: str = "jieba"
    user_dict: str | None = None
    hmm: bool = True  # jieba: guess words missing from its dictionary with its HMM
    workers: int | None = None  # processes for segmentation (None: every usable core; used for large inputs only)
    token_cache: str | None = None  # None: $TOKEN_CACHE_DIR or data/cache/tokens; "none": no cache
    stopwords: str = "none"
    backoff: str = "char"  # char: words outside the vocabulary are spelt out as characters; none: they become <unk>
    min_freq: int = 2
    max_vocab: int = 50000
    max_len: int = 150
    # model
    embed_dim: int | None = None  # None: DEFAULT_EMBED_DIM, or the dimension of the --embedding vectors file
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.5
    pooling: str = "max"
    freeze_embedding: bool = False
    # embedding: random, word2vec, fasttext (trained on the training texts) or a vectors file
    embedding: str = "word2vec"
    vectors_corpus: str | None = None  # unlabelled corpora (names or files, comma-separated) added to word2vec/fasttext training
    embedding_window: int = DEFAULT_WINDOW
    embedding_epochs: int = DEFAULT_EPOCHS
    embedding_min_count: int = DEFAULT_MIN_COUNT
    embedding_cache: str | None = None  # None: $EMBEDDING_CACHE_DIR or data/cache/embeddings
    # optimisation
    optimizer: str = "adam"
    lr: float | None = None
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "cosine"
    clip: float = 5.0
    epochs: int = 4
    batch_size: int = 64
    patience: int = 3
    # --model tfidf
    tfidf_features: str = "char"  # char: character n-grams of the raw text; word: n-grams of --tokenizer tokens
    tfidf_ngrams: int = 3  # n-grams of 1..tfidf_ngrams
    tfidf_classifier: str = "svm"  # svm: LinearSVC; logreg: logistic regression (probabilities)
    tfidf_c: float = 1.0  # inverse regularisation strength

    def validate(self) -> None:
        """Raise `ConfigError` for a value no run could use."""
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "hidden_size": self.hidden_size,
                    "num_layers": self.num_layers, "min_freq": self.min_freq, "max_len": self.max_len, "max_vocab": self.max_vocab,
                    "embedding_window": self.embedding_window, "embedding_epochs": self.embedding_epochs,
                    "embedding_min_count": self.embedding_min_count, "tfidf_ngrams": self.tfidf_ngrams}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")
        if self.tfidf_c <= 0:
            raise ConfigError(f"--tfidf-c must be > 0, got {self.tfidf_c}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.dev_ratio < 1.0:
            raise ConfigError(f"--dev-ratio must be in (0, 1), got {self.dev_ratio}")
        if self.train is None and (self.dev or self.test):
            raise ConfigError("--dev and --test need --train; without --train the built-in dataset's own splits are used")
        choices = {"tokenizer": (self.tokenizer, TOKENIZERS), "optimizer": (self.optimizer, OPTIMIZERS),
                   "schedule": (self.schedule, SCHEDULES), "device": (self.device, DEVICES),
                   "backoff": (self.backoff, BACKOFFS), "tfidf features": (self.tfidf_features, TFIDF_FEATURES),
                   "tfidf classifier": (self.tfidf_classifier, TFIDF_CLASSIFIERS)}
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        load_stopwords(self.stopwords)
        if self.embed_dim is not None and self.embed_dim < 1:
            raise ConfigError(f"--embed-dim must be >= 1, got {self.embed_dim}")
        if self.vectors_corpus and self.embedding not in METHODS:
            raise ConfigError(f"--vectors-corpus adds text to word-vector training: it needs --embedding {' or '.join(METHODS)}, "
                              f"not {self.embedding!r}")
        if self.embedding not in EMBEDDINGS and not Path(self.embedding).exists():
            raise DataError(f"{self.embedding}: no such vectors file; --embedding takes {', '.join(EMBEDDINGS)} or the path of a vectors file")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def build_label_vocab(examples: Sequence[Example], source: str) -> Vocab:
    """The label vocabulary of the training examples (sorted names); a `DataError` if there are fewer than two labels."""
    labels = Vocab(sorted({e.label for e in examples}), specials=())
    if len(labels) < 2:
        raise DataError(f"{source}: the training data has only one label ({labels.itos[0]!r}); a classifier needs at least two")
    return labels


def encode_labels(labels: Vocab, examples: Sequence[Example], source: str) -> list[int]:
    """Label ids of ``examples``; a label that ``labels`` lacks is a `DataError` naming its line."""
    ids = []
    for e in examples:
        if e.label not in labels:
            raise DataError(f"{where(source, e.line)}: label {e.label!r} does not occur in the training data (its labels: {', '.join(labels.itos)})")
        ids.append(labels.index(e.label))
    return ids


@dataclass
class TextPipeline:
    """Tokenizer, stopwords and vocabularies: the text -> ids half of a run."""

    tokenize: Tokenizer
    stopwords: frozenset[str]
    vocab: Vocab
    labels: Vocab
    max_len: int
    backoff: str = "none"

    def tokens(self, text: str) -> list[str]:
        """The tokens the model sees for ``text``: tokenized, stopwords removed, unknown words spelt out (with char back-off)."""
        return self.with_backoff(remove_stopwords(self.tokenize(text), self.stopwords))

    def with_backoff(self, tokens: Sequence[str]) -> list[str]:
        """``tokens`` with the words the vocabulary lacks spelt out as characters, when back-off is ``char``."""
        return spell_out(tokens, self.vocab) if self.backoff == "char" else list(tokens)

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.vocab.encode(self.tokens(t)) for t in texts]

    def encode_labels(self, examples: Sequence[Example], source: str) -> list[int]:
        """Label ids; a label that training never saw is a `DataError` naming its line."""
        return encode_labels(self.labels, examples, source)

    def batches(self, examples: Sequence[Example], source: str, batch_size: int, shuffle: bool = False, seed: int = 0, labelled: bool = True,
                tokens: Sequence[list[str]] | None = None) -> BucketBatcher:
        """Batches of ``examples``; ``tokens``, if given, are their texts already tokenized with stopwords removed."""
        if tokens is None:
            ids = self.encode_texts([e.text for e in examples])
        else:
            ids = [self.vocab.encode(self.with_backoff(t)) for t in tokens]
        labels = self.encode_labels(examples, source) if labelled else None
        return BucketBatcher(ids, labels, batch_size, pad_id=self.vocab.pad_id, unk_id=self.vocab.unk_id, max_len=self.max_len, shuffle=shuffle, seed=seed)


def load_splits(config: ClassifierConfig, log: Log = log_stderr) -> tuple[LabelledSplits, dict[str, str]]:
    """The train/dev/test examples the config asks for, and a name per split for messages."""
    if config.train is None:
        splits = load_classification_dataset(config.dataset)
        names = {s: f"{config.dataset} {s}" for s in ("train", "dev", "test")}
        return splits, names

    def read(path: str) -> Table:
        table = read_table(path, config.text_col, config.label_col, config.format, config.encoding, config.skip_bad_rows)
        if table.skipped:
            log(f"{path}: skipped {table.skipped} bad rows (--skip-bad-rows)")
        return table

    train = read(config.train).examples
    names = {"train": config.train, "dev": config.dev or f"{config.train} (dev split)", "test": config.test or ""}
    if config.dev:
        dev = read(config.dev).examples
    else:
        train, dev = stratified_split(train, [e.label for e in train], (1 - config.dev_ratio, config.dev_ratio), config.seed)
        if not dev:
            raise DataError(f"{config.train}: too few rows for a dev split of {config.dev_ratio}; pass --dev FILE")
    test = read(config.test).examples if config.test else []
    return LabelledSplits(train, dev, test, source=config.train), names


@dataclass
class PreparedData:
    """What training needs from the data: the text pipeline, the training tokens, and batches per split."""

    pipeline: TextPipeline
    train_tokens: list[list[str]]
    train: BucketBatcher
    dev: BucketBatcher
    test: BucketBatcher | None


def prepare_data(config: ClassifierConfig, log: Log = log_stderr) -> PreparedData:
    """Read the splits, tokenize them, build the vocabularies and batch every split (training batches shuffled)."""
    stopwords = load_stopwords(config.stopwords)
    splits, names = load_splits(config, log)
    log(f"data: {splits.source}: {len(splits.train)} train, {len(splits.dev)} dev, {len(splits.test)} test")

    tokenize = get_tokenizer(config.tokenizer, user_dict=config.user_dict, hmm=config.hmm)
    identity, directory = tokenizer_identity(config.tokenizer, config.user_dict, config.hmm), cache_dir(config.token_cache)

    def tokens(examples: Sequence[Example], name: str) -> list[list[str]]:
        return cached_tokens([e.text for e in examples], tokenize, identity, stopwords, directory, config.workers, config.progress, name, log)

    train_tokens = tokens(splits.train, "train")
    build_vocab = build_backoff_vocab if config.backoff == "char" else Vocab.build
    vocab = build_vocab(train_tokens, min_freq=config.min_freq, max_size=config.max_vocab)
    labels = build_label_vocab(splits.train, names["train"])
    pipeline = TextPipeline(tokenize, stopwords, vocab, labels, config.max_len, config.backoff)
    train_tokens = [pipeline.with_backoff(t) for t in train_tokens]
    log(f"vocabulary: {len(vocab)} tokens (min_freq {config.min_freq}, back-off {config.backoff}); labels: {', '.join(labels.itos)}")

    train_ids = [vocab.encode(t) for t in train_tokens]
    train_batches = BucketBatcher(train_ids, pipeline.encode_labels(splits.train, names["train"]), config.batch_size,
                                  pad_id=vocab.pad_id, unk_id=vocab.unk_id, max_len=config.max_len, shuffle=True, seed=config.seed)
    eval_batch = config.batch_size * 4
    dev_batches = pipeline.batches(splits.dev, names["dev"], eval_batch, tokens=tokens(splits.dev, "dev"))
    test_batches = pipeline.batches(splits.test, names["test"], eval_batch, tokens=tokens(splits.test, "test")) if splits.test else None
    return PreparedData(pipeline, train_tokens, train_batches, dev_batches, test_batches)


def train_classifier(config: ClassifierConfig, log: Log = log_stderr) -> dict:
    """Train a classifier as ``config`` says, write its run directory, and return the summary."""
    config.validate()
    config, vectors = resolve_embedding(config)
    set_seed(config.seed)
    set_threads(config.threads)
    device = resolve_device(config.device)
    data = prepare_data(config, log)
    pipeline, vocab, labels, stopwords = data.pipeline, data.pipeline.vocab, data.pipeline.labels, data.pipeline.stopwords

    embedding = build_embedding(config, vectors, vocab, data.train_tokens, pipeline.tokens, log)
    model = build_model(config, len(vocab), len(labels), embedding.matrix if embedding else None).to(device)
    optimizer = build_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay, config.momentum)
    scheduler = build_scheduler(config.schedule, optimizer, config.epochs)

    run = RunDir.create(config.runs_dir, config.run_name, prefix=config.model)
    run.save_json("config.json", {"kind": RUN_KIND, **config.to_dict(), "device_used": str(device)})
    vocab.save(run.file("vocab.json"))
    labels.save(run.file("labels.json"))
    run.save_json("embedding.json", {"embedding": config.embedding, "frozen": config.freeze_embedding,
                                     **(embedding.record() if embedding else {"source": "random", "dim": config.embed_dim})})
    save_text_tools(run, config, stopwords)
    log(f"run directory: {run.path}")

    result = fit(model, data.train, data.dev, optimizer, epochs=config.epochs, device=device, clip=config.clip,
                 patience=config.patience, scheduler=scheduler, on_epoch=lambda record: append_jsonl(run.file("metrics.jsonl"), record), progress=config.progress, log=log)
    assert result.best_state is not None
    run.save_state_dict(result.best_state)
    model.load_state_dict(result.best_state)
    plot_curves(result.history, run.file("curves.png"))

    summary = {"run": str(run.path), "best_epoch": result.best_epoch, "best_dev_accuracy": result.best_dev_accuracy, "epochs_run": len(result.history)}
    test_metrics = _metrics(model, data.test, labels, device) if data.test is not None else None
    return write_report(run, summary, test_metrics)


def write_report(run: RunDir, summary: dict, test_metrics: dict | None) -> dict:
    """Write ``report.txt``, ``test_metrics.json`` (when there is a test set) and ``summary.json``; return the summary.

    ``summary`` holds the run, the best epoch and dev accuracy and the epochs run;
    the test accuracy and macro-F1 are added to it.
    """
    report = [f"run: {run.path}", f"best dev accuracy: {summary['best_dev_accuracy']:.4f} (epoch {summary['best_epoch']} of {summary['epochs_run']})"]
    if test_metrics is not None:
        summary = {**summary, "test_accuracy": test_metrics["accuracy"], "test_macro_f1": test_metrics["macro_f1"]}
        report += [f"test accuracy: {test_metrics['accuracy']:.4f}  macro-F1: {test_metrics['macro_f1']:.4f}", "", test_metrics["report"],
                   format_confusion(test_metrics["confusion"], test_metrics["labels"])]
        run.save_json("test_metrics.json", {k: v for k, v in test_metrics.items() if k != "report"})
    write_text(run.file("report.txt"), "\n".join(report) + "\n")
    run.save_json("summary.json", summary)
    return summary


def resolve_embedding(config: ClassifierConfig) -> tuple[ClassifierConfig, VectorFile | None]:
    """The config with ``embed_dim`` settled, and the vectors file --embedding names (recognised), if it names one.

    The dimension is the vectors file's, else --embed-dim, else `DEFAULT_EMBED_DIM`;
    an --embed-dim that contradicts the file is a `ConfigError`.
    """
    if config.embedding in EMBEDDINGS:
        return dataclasses.replace(config, embed_dim=config.embed_dim or DEFAULT_EMBED_DIM), None
    vectors = open_vectors(config.embedding)
    if config.embed_dim is not None and config.embed_dim != vectors.dim:
        raise ConfigError(f"--embed-dim {config.embed_dim} does not match {vectors.path}, whose vectors have {vectors.dim} values; "
                          "leave out --embed-dim: the dimension follows the vectors file")
    return dataclasses.replace(config, embed_dim=vectors.dim), vectors


def build_embedding(config: ClassifierConfig, vectors: VectorFile | None, vocab: Vocab, train_tokens: Sequence[list[str]],
                    tokens: Callable[[str], list[str]], log: Log = log_stderr) -> Embedding | None:
    """The embedding matrix --embedding asks for: None for random; vectors trained with gensim; or rows of a vectors file.

    word2vec and fasttext train on ``train_tokens`` (the training texts as the
    classifier sees them) plus --vectors-corpus, tokenized by ``tokens``.
    """
    if vectors is not None:
        return embedding_from_file(vectors, vocab, config.seed, config.embedding_cache, log)
    if config.embedding == "random":
        return None
    sentences = [t for t in train_tokens if t]
    names = ["training texts"]
    for corpus in (c.strip() for c in (config.vectors_corpus or "").split(",") if c.strip()):
        extra = corpus_sentences(corpus, tokens)
        log(f"embedding: corpus {corpus}: {len(extra)} lines, {sum(map(len, extra))} tokens")
        sentences += extra
        names.append(corpus)
    dim = config.embed_dim or DEFAULT_EMBED_DIM
    recipe = {"method": config.embedding, "dim": dim, "window": config.embedding_window, "epochs": config.embedding_epochs,
              "min_count": config.embedding_min_count, "seed": config.seed}

    def train() -> Any:
        log(f"embedding: training {config.embedding} ({dim}-d, window {config.embedding_window}, {config.embedding_epochs} epochs, "
            f"min count {config.embedding_min_count}) on {len(sentences)} texts, {sum(map(len, sentences))} tokens")
        return train_word_vectors(sentences, config.embedding, dim, config.embedding_window, config.embedding_epochs,
                                  config.embedding_min_count, config.seed)

    return embedding_from_training(train, recipe, sentences, vocab, config.seed, f"{config.embedding} trained on {' + '.join(names)}",
                                   config.embedding_cache, log)


def build_model(config: ClassifierConfig, vocab_size: int, num_classes: int, embedding_weights: np.ndarray | None = None) -> RNNClassifier:
    """The `RNNClassifier` a config describes, with ``embedding_weights`` (``vocab_size x d``) as its initial embedding if given."""
    weights = torch.from_numpy(embedding_weights) if embedding_weights is not None else None
    return RNNClassifier(vocab_size, num_classes, cell=config.model, embed_dim=config.embed_dim or DEFAULT_EMBED_DIM, hidden_size=config.hidden_size,
                         num_layers=config.num_layers, bidirectional=config.bidirectional, dropout=config.dropout,
                         pooling=config.pooling, embedding_weights=weights, freeze_embedding=config.freeze_embedding)


def _metrics(model: RNNClassifier, batches: BucketBatcher, labels: Vocab, device: torch.device) -> dict:
    probs = predict_proba(model, batches, device)
    return classification_metrics(batches.labels.numpy(), probs.argmax(1), labels.itos)


def save_text_tools(run: RunDir, config: ClassifierConfig, stopwords: frozenset[str]) -> None:
    """Copy what tokenizing needs into the run directory: ``stopwords.txt`` and the jieba ``user_dict.txt``, when used."""
    if stopwords:
        write_text(run.file("stopwords.txt"), "".join(w + "\n" for w in sorted(stopwords)))
    if config.user_dict:
        shutil.copyfile(config.user_dict, run.file("user_dict.txt"))


def load_text_tools(run: RunDir, config: ClassifierConfig) -> tuple[Tokenizer, frozenset[str]]:
    """The tokenizer and stopwords of a saved run, from the files `save_text_tools` wrote."""
    stopwords_file = run.file("stopwords.txt")
    stopwords = frozenset(stopwords_file.read_text(encoding="utf-8").split()) if stopwords_file.is_file() else frozenset()
    user_dict = run.file("user_dict.txt")
    return get_tokenizer(config.tokenizer, user_dict=str(user_dict) if user_dict.is_file() else None, hmm=config.hmm), stopwords


class Predictor:
    """A trained RNN classifier loaded from its run directory alone."""

    probabilistic = True  # `predict` gives probabilities

    NEEDS = ("config.json", "vocab.json", "labels.json", "model.pt")

    def __init__(self, run_dir: str | Path, device: str = "cpu") -> None:
        run = RunDir.open(run_dir, RUN_KIND, self.NEEDS)
        self.config = ClassifierConfig.from_dict(run.load_json("config.json"))
        tokenize, stopwords = load_text_tools(run, self.config)
        self.pipeline = TextPipeline(tokenize, stopwords, Vocab.load(run.file("vocab.json")), Vocab.load(run.file("labels.json")),
                                     self.config.max_len, self.config.backoff)
        self.device = resolve_device(device)
        self.model = build_model(self.config, len(self.pipeline.vocab), len(self.pipeline.labels))
        try:
            self.model.load_state_dict(run.load_state_dict())
        except RuntimeError as exc:
            raise DataError(f"{run.file('model.pt')}: does not match the run's config ({str(exc).splitlines()[0]})") from None
        self.model.to(self.device).eval()
        self.run = run

    @property
    def label_names(self) -> list[str]:
        return self.pipeline.labels.itos

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``[N, C]``, columns in the order of `label_names`."""
        batches = BucketBatcher(self.pipeline.encode_texts(texts), None, 256, self.pipeline.vocab.pad_id, self.pipeline.vocab.unk_id, self.config.max_len)
        return predict_proba(self.model, batches, self.device)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable label of each text, with its probability."""
        probs = self.predict_proba(texts)
        return [(self.label_names[i], float(p[i])) for i, p in zip(probs.argmax(1), probs)]

    def evaluate(self, examples: Sequence[Example], source: str) -> dict:
        """Metrics on labelled examples (a label the run never saw is a `DataError`)."""
        batches = self.pipeline.batches(examples, source, 256)
        return _metrics(self.model, batches, self.pipeline.labels, self.device)
