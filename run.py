#!/usr/bin/env python
"""Recurrent-network text classification and character-level generation.

    python run.py --model lstm                 train a classifier on the built-in reviews-zh dataset
    python run.py predict --run runs/NAME "这家店的菜很好吃"
    python run.py evaluate --run runs/NAME data.csv

``run.py`` only parses arguments and calls the library; problems a user can
fix end with a one-line ``error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Callable, Sequence

from data_processor.errors import UserError

# Heavy modules are imported inside the functions that need them, so importing run.py stays cheap.


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other error here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def _classifier_defaults():
    from train.text_classification import ClassifierConfig

    return ClassifierConfig()


def add_train(sub) -> None:
    from data_processor.io import FORMATS
    from data_processor.stopwords import available_lists
    from data_processor.tokenizers import TOKENIZERS
    from train.optim import DEFAULT_LR, OPTIMIZERS, SCHEDULES

    d = _classifier_defaults()
    p = sub.add_parser(
        "train",
        help="train a text classifier (the default command: 'run.py --model lstm' means 'run.py train --model lstm')",
        description="Train an RNN/GRU/LSTM text classifier and report validation and test accuracy. "
        "Without --train it uses the built-in reviews-zh dataset (Chinese product reviews, positive/negative).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default=d.model, choices=["rnn", "gru", "lstm"], help="recurrent cell")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=d.dataset, help="built-in dataset, used when --train is not given")
    g.add_argument("--train", help="training file (.csv with header, .tsv/.txt as text<TAB>label, .jsonl)")
    g.add_argument("--dev", help="validation file; without it a stratified --dev-ratio of --train is held out")
    g.add_argument("--test", help="test file, scored once with the best model")
    g.add_argument("--dev-ratio", type=float, default=d.dev_ratio, help="share of --train held out for validation when --dev is absent")
    g.add_argument("--format", choices=FORMATS, help="file format (default: from the extension)")
    g.add_argument("--text-col", help="text column: a name or 0-based index (default: text, review, sentence, content...)")
    g.add_argument("--label-col", help="label column: a name or 0-based index (default: label)")
    g.add_argument("--encoding", default=d.encoding, help="file encoding, e.g. gb18030 for GBK files")
    g.add_argument("--skip-bad-rows", action="store_true", help="skip rows without text or label (and report how many) instead of stopping")
    g = p.add_argument_group("text")
    g.add_argument("--tokenizer", default=d.tokenizer, choices=TOKENIZERS, help="jieba: Chinese words; char: characters; english: lower-cased words; whitespace: pre-segmented")
    g.add_argument("--user-dict", help="jieba user dictionary (one 'word [freq] [tag]' per line)")
    g.add_argument("--stopwords", default=d.stopwords,
                   help=f"none, a built-in list ({', '.join(available_lists())}), a file path, or a comma-separated union. "
                   "The default is none for every tokenizer: the lists hold negations (不, 没有) that sentiment needs")
    g.add_argument("--min-freq", type=int, default=d.min_freq, help="keep tokens seen at least this often in training")
    g.add_argument("--max-vocab", type=int, default=d.max_vocab, help="largest vocabulary, specials included")
    g.add_argument("--max-len", type=int, default=d.max_len, help="truncate texts to this many tokens")
    g = p.add_argument_group("model")
    g.add_argument("--embed-dim", type=int, default=d.embed_dim, help="embedding size")
    g.add_argument("--hidden-size", type=int, default=d.hidden_size, help="hidden units per direction")
    g.add_argument("--num-layers", type=int, default=d.num_layers, help="stacked recurrent layers")
    g.add_argument("--unidirectional", dest="bidirectional", action="store_false", help="one direction instead of two")
    g.add_argument("--dropout", type=float, default=d.dropout, help="dropout on embeddings, between layers and before the output")
    g.add_argument("--pooling", default=d.pooling, choices=["last", "max", "mean"], help="how the per-step outputs become one vector")
    g.add_argument("--freeze-embedding", action="store_true", help="do not update the embedding matrix")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", default=d.optimizer, choices=OPTIMIZERS, help="momentum is SGD with Nesterov momentum")
    g.add_argument("--lr", type=float, default=d.lr, help="learning rate (default per optimizer: "
                   + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help="L2 penalty (decoupled for adamw)")
    g.add_argument("--momentum", type=float, default=d.momentum, help="momentum for --optimizer momentum")
    g.add_argument("--schedule", default=d.schedule, choices=SCHEDULES, help="learning-rate schedule, stepped each epoch")
    g.add_argument("--clip", type=float, default=d.clip, help="clip the gradient norm to this (0: no clipping)")
    g.add_argument("--epochs", type=int, default=d.epochs, help="most epochs to train")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="training batch size (evaluation uses 4x)")
    g.add_argument("--patience", type=int, default=d.patience, help="stop after this many epochs without a better dev accuracy (0: never)")
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=d.seed, help="seeds Python, numpy and torch; the same seed repeats the run")
    g.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"], help="auto uses a GPU when one is present")
    g.add_argument("--threads", type=int, default=d.threads, help="torch threads (default: one per core)")
    g.add_argument("--runs-dir", default=d.runs_dir, help="where run directories are made")
    g.add_argument("--run-name", help="run directory name (default: MODEL-DATE-TIME)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    g.add_argument("--dry-run", action="store_true", help="print the resolved config as JSON and exit")
    p.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from train.text_classification import ClassifierConfig, train_classifier

    fields = {f.name for f in dataclasses.fields(ClassifierConfig)}
    config = ClassifierConfig(**{k: v for k, v in vars(args).items() if k in fields})
    if args.dry_run:
        config.validate()
        print(json.dumps(config.to_dict(), ensure_ascii=False, indent=2))
        return 0
    summary = train_classifier(config)
    print(f"best dev accuracy: {summary['best_dev_accuracy']:.4f} (epoch {summary['best_epoch']} of {summary['epochs_run']})")
    if "test_accuracy" in summary:
        print(f"test accuracy: {summary['test_accuracy']:.4f} (macro-F1 {summary['test_macro_f1']:.4f})")
    print(f"run saved to: {summary['run']}")
    return 0


def _add_file_options(p: argparse.ArgumentParser) -> None:
    from data_processor.io import FORMATS

    p.add_argument("--format", choices=FORMATS, help="file format (default: from the extension)")
    p.add_argument("--text-col", help="text column: a name or 0-based index")
    p.add_argument("--label-col", help="label column: a name or 0-based index")
    p.add_argument("--encoding", default="utf-8", help="file encoding, e.g. gb18030")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip rows without text (or label) instead of stopping")


def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="label texts with a trained classifier",
                       description="Print 'label<TAB>probability<TAB>text' for each text, using only the run directory.")
    p.add_argument("--run", required=True, help="run directory written by training")
    p.add_argument("texts", nargs="*", help="texts to label")
    p.add_argument("--file", help="a file of texts: .txt one per line, or .csv/.tsv/.jsonl with --text-col")
    _add_file_options(p)
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.set_defaults(handler=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from data_processor.errors import ConfigError
    from data_processor.io import read_table
    from train.text_classification import Predictor

    texts = list(args.texts)
    if args.file:
        fmt = args.format or ("tsv" if args.file.endswith(".txt") and args.text_col is None else None)
        table = read_table(args.file, args.text_col if args.text_col is not None else (0 if fmt == "tsv" else None),
                           args.label_col, fmt, args.encoding, args.skip_bad_rows, require_label=False)
        texts += table.texts
    if not texts:
        raise ConfigError("nothing to predict: give texts as arguments or --file FILE")
    predictor = Predictor(args.run, args.device)
    for text, (label, prob) in zip(texts, predictor.predict(texts)):
        print(f"{label}\t{prob:.4f}\t{text}")
    return 0


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a trained classifier on a labelled file",
                       description="Accuracy, macro-F1, per-class report and confusion matrix of a saved run on a labelled file.")
    p.add_argument("--run", required=True, help="run directory written by training")
    p.add_argument("file", help="labelled file (.csv, .tsv/.txt, .jsonl)")
    _add_file_options(p)
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from data_processor.io import read_table
    from train.metrics import format_confusion
    from train.text_classification import Predictor

    predictor = Predictor(args.run, args.device)
    table = read_table(args.file, args.text_col, args.label_col, args.format, args.encoding, args.skip_bad_rows)
    if table.skipped:
        print(f"{args.file}: skipped {table.skipped} bad rows", file=sys.stderr)
    metrics = predictor.evaluate(table.examples, args.file)
    print(f"examples: {len(table.examples)}")
    print(f"accuracy: {metrics['accuracy']:.4f}")
    print(f"macro-F1: {metrics['macro_f1']:.4f}")
    print(metrics["report"])
    print(format_confusion(metrics["confusion"], predictor.label_names))
    return 0


# Each command: (name, function adding its parser). The first is the default command.
COMMANDS: list[tuple[str, Callable]] = [
    ("train", add_train),
    ("predict", add_predict),
    ("evaluate", add_evaluate),
]


def build_parser() -> Parser:
    parser = Parser(
        prog="run.py",
        description=__doc__.split("\n\n")[0] + " Without a command, 'train' runs: 'run.py --model lstm' = 'run.py train --model lstm'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Each command has its own --help, e.g. 'python run.py train --help'.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for _, add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = {name for name, _ in COMMANDS}
    if not argv or (argv[0] not in names and argv[0] not in ("-h", "--help")):
        argv.insert(0, COMMANDS[0][0])
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
