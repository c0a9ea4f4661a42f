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
import json
import sys
from typing import Callable, Sequence

from data_processor.errors import UserError
from data_processor.messages import log_stderr

# Heavy modules are imported inside the functions that need them, so importing run.py stays cheap.


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other error here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def _classifier_defaults():
    from train.text_classification import ClassifierConfig

    return ClassifierConfig()


def _add_run_options(p: argparse.ArgumentParser, d, default_name: str) -> None:
    """The options every training command shares: seed, device, threads, where the run goes, output."""
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=d.seed, help="seeds Python, numpy and torch; the same seed repeats the run")
    g.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"], help="auto uses a GPU when one is present")
    g.add_argument("--threads", type=int, default=d.threads,
                   help="torch threads (default: one per core; on a machine busy with other work, 1 is often much faster)")
    g.add_argument("--runs-dir", default=d.runs_dir, help="where run directories are made")
    g.add_argument("--run-name", help=f"run directory name (default: {default_name})")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    g.add_argument("--dry-run", action="store_true", help="print the resolved config as JSON and exit")


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
    p.add_argument("--model", default=d.model, choices=["rnn", "gru", "lstm", "tfidf"],
                   help="recurrent cell, or tfidf: the classic baseline (TF-IDF n-grams + a linear classifier; the tfidf "
                   "options below apply, the model/embedding/optimisation ones are ignored)")
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
    g.add_argument("--tokenizer", default=d.tokenizer, choices=TOKENIZERS,
                   help="jieba: Chinese words; rjieba: the same from jieba's Rust port, ~10x faster, identical to jieba --no-hmm "
                   "(optional: pip install rjieba==0.2.2); char: characters; english: lower-cased words; whitespace: pre-segmented")
    g.add_argument("--user-dict", help="jieba user dictionary (one 'word [freq] [tag]' per line)")
    g.add_argument("--no-hmm", dest="hmm", action="store_false", help="jieba: no HMM guesses for words missing from its dictionary")
    g.add_argument("--workers", type=int, default=d.workers,
                   help="processes for segmentation of large inputs (default: every usable core)")
    g.add_argument("--token-cache", default=d.token_cache, metavar="DIR",
                   help="where tokenized corpora are cached, so a second run does no segmentation; 'none' turns it off "
                   "(default: $TOKEN_CACHE_DIR or data/cache/tokens)")
    g.add_argument("--stopwords", default=d.stopwords,
                   help=f"none, a built-in list ({', '.join(available_lists())}), a file path, or a comma-separated union. "
                   "The default is none for every tokenizer: the lists hold negations (不, 没有) that sentiment needs")
    g.add_argument("--backoff", default=d.backoff, choices=["char", "none"],
                   help="char: a word seen fewer than --min-freq times is spelt out as its characters (性价比 -> 性 价 比); none: it becomes <unk>")
    g.add_argument("--min-freq", type=int, default=d.min_freq, help="keep tokens seen at least this often in training")
    g.add_argument("--max-vocab", type=int, default=d.max_vocab, help="largest vocabulary, specials included")
    g.add_argument("--max-len", type=int, default=d.max_len, help="truncate texts to this many tokens")
    g = p.add_argument_group("model")
    g.add_argument("--embed-dim", type=int, default=argparse.SUPPRESS,
                   help="embedding size (default: 128, or the dimension of the --embedding vectors file)")
    g.add_argument("--hidden-size", type=int, default=d.hidden_size, help="hidden units per direction")
    g.add_argument("--num-layers", type=int, default=d.num_layers, help="stacked recurrent layers")
    g.add_argument("--unidirectional", dest="bidirectional", action="store_false", help="one direction instead of two")
    g.add_argument("--dropout", type=float, default=d.dropout, help="dropout on embeddings, between layers and before the output")
    g.add_argument("--pooling", default=d.pooling, choices=["last", "max", "mean"], help="how the per-step outputs become one vector")
    g.add_argument("--freeze-embedding", action="store_true", help="do not update the embedding matrix")
    g = p.add_argument_group("embedding")
    g.add_argument("--embedding", default=d.embedding,
                   help="random: learnt with the classifier; word2vec or fasttext: trained with gensim on the training texts "
                   "(tokenized as the classifier sees them) first; or a vectors file: word2vec text or binary, GloVe text, "
                   "gensim .kv/.model (also .gz/.bz2), looked up token by token. Tokens without a vector get a random one")
    g.add_argument("--vectors-corpus", help="with word2vec/fasttext: unlabelled text added to their training: a corpus name "
                   "(e.g. peoples-daily) or a UTF-8 file, one text per line; comma-separate several")
    g.add_argument("--embedding-window", type=int, default=d.embedding_window, help="word2vec/fasttext context window")
    g.add_argument("--embedding-epochs", type=int, default=d.embedding_epochs, help="word2vec/fasttext training epochs")
    g.add_argument("--embedding-min-count", type=int, default=d.embedding_min_count, help="word2vec/fasttext: ignore rarer words")
    g.add_argument("--embedding-cache", default=argparse.SUPPRESS, help="directory for matrices extracted from vectors files "
                   "(default: $EMBEDDING_CACHE_DIR, else data/cache/embeddings)")
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
    g = p.add_argument_group("tfidf (--model tfidf)")
    g.add_argument("--tfidf-features", default=d.tfidf_features, choices=["char", "word"],
                   help="char: character n-grams of the raw text; word: n-grams of --tokenizer tokens (after --stopwords)")
    g.add_argument("--tfidf-ngrams", type=int, default=d.tfidf_ngrams, help="use n-grams of 1 to this many characters or words")
    g.add_argument("--tfidf-classifier", default=d.tfidf_classifier, choices=["svm", "logreg"],
                   help="svm: LinearSVC (predict prints a margin); logreg: logistic regression (predict prints a probability)")
    g.add_argument("--tfidf-c", type=float, default=d.tfidf_c, help="inverse regularisation strength C of the classifier")
    _add_run_options(p, d, default_name="MODEL-DATE-TIME")
    p.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from train.text_classification import (
        ClassifierConfig,
        resolve_embedding,
        train_classifier,
    )
    from train.tfidf_classification import train_tfidf

    config = ClassifierConfig.from_dict(vars(args))
    if args.dry_run:
        config.validate()
        config, _ = resolve_embedding(config)
        print(json.dumps(config.to_dict(), ensure_ascii=False, indent=2))
        return 0
    summary = train_tfidf(config) if config.model == "tfidf" else train_classifier(config)
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
                       description="Print 'label<TAB>probability<TAB>text' for each text, using only the run directory. "
                       "For a --model tfidf run with --tfidf-classifier svm the middle column is the margin of the best label's "
                       "score over the runner-up's (a LinearSVC gives no probabilities).")
    p.add_argument("--run", required=True, help="run directory written by training")
    p.add_argument("texts", nargs="*", help="texts to label")
    p.add_argument("--file", help="a file of texts: .txt one per line, or .csv/.tsv/.jsonl with --text-col")
    _add_file_options(p)
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.set_defaults(handler=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from data_processor.errors import ConfigError
    from data_processor.io import read_table
    from train.predictors import load_predictor

    texts = list(args.texts)
    if args.file:
        fmt = args.format or ("tsv" if args.file.endswith(".txt") and args.text_col is None else None)
        table = read_table(args.file, args.text_col if args.text_col is not None else (0 if fmt == "tsv" else None),
                           args.label_col, fmt, args.encoding, args.skip_bad_rows, require_label=False)
        texts += table.texts
    if not texts:
        raise ConfigError("nothing to predict: give texts as arguments or --file FILE")
    predictor = load_predictor(args.run, args.device)
    if not predictor.probabilistic:
        print("note: a TF-IDF + LinearSVC run: the second column is a margin, not a probability", file=sys.stderr)
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
    from train.predictors import load_predictor

    predictor = load_predictor(args.run, args.device)
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


def _char_lm_defaults():
    from train.language_model import CharLMConfig

    return CharLMConfig()


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except empty ones (None, ''), whose help says what happens instead."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default == "":
            return action.help or ""
        return super()._get_help_string(action)


def add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="character-level generation: train a char model, sample text from it, score line continuations",
        description="Character-level language models: 'generate train' fits one on a corpus, 'generate sample' writes text "
        "with it, 'generate eval' scores greedy line continuations. Each action has its own --help.",
    )
    actions = p.add_subparsers(dest="generate_command", metavar="ACTION", parser_class=Parser, required=True)
    _add_generate_train(actions)
    _add_generate_sample(actions)
    _add_generate_eval(actions)


def _add_generate_train(actions) -> None:
    from data_processor.char_stream import CHUNKINGS
    from data_processor.corpora import CORPORA
    from train.language_model import ALL_CELLS, BACKEND_DEFAULTS
    from train.optim import OPTIMIZERS

    d, torch_d, numpy_d = _char_lm_defaults(), BACKEND_DEFAULTS["torch"], BACKEND_DEFAULTS["numpy"]

    def per_backend(key: str) -> str:
        return f"(default: {torch_d[key]} for torch cells, {numpy_d[key]} for numpy-rnn)"

    p = actions.add_parser(
        "train", help="train a character-level model on a corpus",
        description="Train a character-level language model by truncated backpropagation through time and keep the "
        "checkpoint with the lowest validation loss in nats per character (or the last one: --keep last). "
        "Results go to stdout, progress to stderr.",
        formatter_class=_HelpWithDefaults,
    )
    g = p.add_argument_group("data")
    g.add_argument("--corpus", default=d.corpus, help=f"a named corpus ({', '.join(CORPORA)}; downloaded once) or the path of a UTF-8 text file")
    g.add_argument("--lines", action=argparse.BooleanOptionalAction, default=d.lines,
                   help="one item per line (names, lyric lines), each ending in <eos>; default: the registry's choice for "
                   "named corpora (dinos, jaychou: lines), running text for files")
    g.add_argument("--shuffle-lines", action="store_true", help="shuffle the lines of a line corpus (with --seed) before holding out "
                   "its tail, for sorted lists of independent items such as the alphabetical dinosaur names")
    g.add_argument("--val-ratio", type=float, default=d.val_ratio, help="share of the corpus (its tail) held out for validation")
    g.add_argument("--cache-dir", default=d.cache_dir, help="download cache for named corpora (default: data/cache)")
    g = p.add_argument_group("model")
    g.add_argument("--cell", default=d.cell, choices=ALL_CELLS,
                   help="rnn|gru|lstm: PyTorch layers; scratch-gru|scratch-lstm: written from scratch (models/cells.py); "
                   "numpy-rnn: the classic numpy char-RNN (models/numpy_rnn.py)")
    g.add_argument("--embed-dim", type=int, default=d.embed_dim, help="character embedding size; 0: one-hot input (numpy-rnn is always one-hot)")
    g.add_argument("--hidden-size", type=int, default=d.hidden_size, help=f"hidden units {per_backend('hidden_size')}")
    g.add_argument("--num-layers", type=int, default=d.num_layers, help="stacked recurrent layers (torch cells)")
    g.add_argument("--dropout", type=float, default=d.dropout, help="dropout on inputs, between layers and before the output (torch cells)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", default=d.optimizer, choices=OPTIMIZERS,
                   help=f"{per_backend('optimizer')}; numpy-rnn takes adagrad or sgd (plain SGD, as in the dinosaur-names exercise)")
    g.add_argument("--lr", type=float, default=d.lr, help="learning rate (default: the optimizer's; numpy-rnn: adagrad 0.1, sgd 0.01)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay, help="L2 penalty (torch cells)")
    g.add_argument("--clip", type=float, default=d.clip, help="gradient clipping: the largest gradient norm for torch cells, "
                   "the bound of every gradient element ([-clip, clip]) for numpy-rnn; 0: none")
    g.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training part")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"lanes read side by side {per_backend('batch_size')}")
    g.add_argument("--seq-len", type=int, default=d.seq_len, help=f"steps unrolled per chunk {per_backend('seq_len')}")
    g.add_argument("--chunking", default=d.chunking, choices=CHUNKINGS,
                   help="consecutive: chunks continue each other and the hidden state is carried (detached); random: random chunks, state from zeros")
    g.add_argument("--time-budget", type=float, default=d.time_budget, help="stop after this many minutes (the current epoch is cut, scored and kept); 0: no limit")
    g.add_argument("--keep", default=d.keep, choices=["best", "last"], help="the weights saved: those with the best validation loss, "
                   "or the last epoch's (for lyrics, say, whose held-out songs say little about the training songs)")
    _add_run_options(p, d, default_name="CELL-CORPUS-DATE-TIME")
    p.set_defaults(handler=cmd_generate_train)


def cmd_generate_train(args: argparse.Namespace) -> int:
    from train.language_model import CharLMConfig, train_char_lm

    config = CharLMConfig.from_dict(vars(args))
    if args.dry_run:
        print(json.dumps(config.resolved().to_dict(), ensure_ascii=False, indent=2))
        return 0
    s = train_char_lm(config)
    print(f"best validation loss: {s['best_val_loss']:.4f} nats/char (perplexity {s['best_val_perplexity']:.2f}), "
          f"epoch {s['best_epoch']} of {s['epochs_run']}{' (stopped by --time-budget)' if s['stopped_by_time_budget'] else ''}")
    print(f"last epoch: training loss {s['final_train_loss']:.4f} nats/char (perplexity {s['final_train_perplexity']:.2f}), "
          f"validation loss {s['final_val_loss']:.4f} (perplexity {s['final_val_perplexity']:.2f})")
    print(f"kept: the {s['kept']} weights")
    print(f"run saved to: {s['run']}")
    return 0


def _add_generate_sample(actions) -> None:
    p = actions.add_parser(
        "sample", help="write text with a trained character model",
        description="Sample text from a 'generate train' run. The prime is read first to warm up the hidden state; "
        "for line corpora (names, lyrics) each sample ends at the end-of-line symbol. A prime holding characters "
        "the model never saw is refused, naming them.",
        formatter_class=_HelpWithDefaults,
    )
    p.add_argument("--run", required=True, help="run directory written by 'generate train'")
    p.add_argument("--prime", default="", help="text the samples start with (default: none; they start at the beginning of a line)")
    p.add_argument("--temperature", type=float, default=1.0, help="> 0; below 1 is more conservative, above 1 more surprising")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most probable characters only; 0: all")
    p.add_argument("--length", type=int, default=500, help="characters to generate (for line corpora: the most per sample)")
    p.add_argument("--count", type=int, default=1, help="how many samples")
    p.add_argument("--seed", type=int, default=42, help="the same seed gives the same samples")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="where torch models run")
    p.set_defaults(handler=cmd_generate_sample)


def cmd_generate_sample(args: argparse.Namespace) -> int:
    from train.generation import CharGenerator

    generator = CharGenerator(args.run, args.device)
    samples = generator.samples(args.prime, args.count, args.length, args.seed, args.temperature, args.top_k)
    print(("\n" if generator.config.lines else "\n\n").join(samples))
    return 0


def _add_generate_eval(actions) -> None:
    p = actions.add_parser(
        "eval", help="score greedy line continuations of a trained character model",
        description="For each prefix, predict the rest of its line greedily and compare it with the gold continuation: "
        "exact-match line accuracy (after stripping whitespace) and character accuracy. Without --test/--gold, the "
        "first --count held-out lines of the run's corpus are cut in half (prefix = first half). Prefix characters "
        "outside the vocabulary are read as <unk>.",
        formatter_class=_HelpWithDefaults,
    )
    p.add_argument("--run", required=True, help="run directory written by 'generate train'")
    p.add_argument("--test", help="prefixes, one per line (UTF-8)")
    p.add_argument("--gold", help="gold continuations, one per line, paired with --test")
    p.add_argument("--output", help="predictions file, one per line (default: RUN/eval_predictions.txt)")
    p.add_argument("--count", type=int, default=100, help="held-out lines to use when no --test/--gold are given")
    p.add_argument("--max-chars", type=int, default=100, help="longest continuation predicted")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="where torch models run")
    p.set_defaults(handler=cmd_generate_eval)


def cmd_generate_eval(args: argparse.Namespace) -> int:
    from train.generation import CharGenerator, evaluate_continuations

    result = evaluate_continuations(CharGenerator(args.run, args.device), args.test, args.gold, args.output, args.count, args.max_chars)
    if result.unknown_chars:
        print(f"note: {result.unknown_chars} prefix characters are outside the vocabulary and were read as <unk>", file=sys.stderr)
    print(f"lines: {result.scores['lines']}")
    print(f"exact match: {result.scores['exact_match']:.4f}")
    print(f"char accuracy: {result.scores['char_accuracy']:.4f}")
    print(f"written: {', '.join(str(p) for p in result.written)}")
    return 0


def add_vectors(sub) -> None:
    from data_processor.tokenizers import TOKENIZERS
    from data_processor.word_vectors import (
        DEFAULT_DIM,
        DEFAULT_EPOCHS,
        DEFAULT_MIN_COUNT,
        DEFAULT_WINDOW,
        METHODS,
        known_corpora,
    )

    p = sub.add_parser("vectors", help="train word vectors on a corpus and save them for --embedding FILE",
                       description="Train word2vec or FastText vectors with gensim on unlabelled text and write them in "
                       "word2vec text format ('count dim', then 'word v1 ... vd' per line), which any tool reads.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", action="append", required=True,
                   help=f"a corpus name ({known_corpora()}) or a UTF-8 text file, one text per line; repeat to combine")
    p.add_argument("--out", required=True, help="the vectors file to write")
    p.add_argument("--method", default="word2vec", choices=METHODS, help="fasttext also learns character n-grams")
    p.add_argument("--tokenizer", default="jieba", choices=TOKENIZERS, help="use the tokenizer the classifier will use")
    p.add_argument("--user-dict", help="jieba user dictionary")
    p.add_argument("--stopwords", default="none", help="stopwords to drop, as for train")
    p.add_argument("--embed-dim", type=int, default=DEFAULT_DIM, help="vector size")
    p.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="context window")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="passes over the corpus")
    p.add_argument("--min-count", type=int, default=DEFAULT_MIN_COUNT, help="ignore words seen fewer times")
    p.add_argument("--seed", type=int, default=42, help="the same seed gives the same vectors")
    p.set_defaults(handler=cmd_vectors)


def cmd_vectors(args: argparse.Namespace) -> int:
    from data_processor.word_vectors import pretrain_vectors

    kv = pretrain_vectors(args.corpus, args.out, method=args.method, tokenizer=args.tokenizer, user_dict=args.user_dict,
                          stopwords=args.stopwords, dim=args.embed_dim, window=args.window, epochs=args.epochs,
                          min_count=args.min_count, seed=args.seed)
    print(f"vectors: {len(kv.index_to_key)} words x {kv.vector_size} written to {args.out}")
    return 0


def add_check_gradients(sub) -> None:
    from train.gradient_check import CELL_NAMES, TOLERANCE

    p = sub.add_parser("check-gradients", help="numpy backprop through time against PyTorch autograd, per parameter",
                       description="Build a float64 torch.nn.RNN/GRU/LSTM with random weights, copy it into the numpy cell, "
                       "run both on the same random batch and upstream gradient, and compare outputs and gradients "
                       f"(inputs, initial state, every parameter). Exit status 1 if any differs by more than {TOLERANCE:g}.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cell", default="all", choices=[*CELL_NAMES, "all"], help="which cell to check")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights, inputs and gradients")
    p.set_defaults(handler=cmd_check_gradients)


def cmd_check_gradients(args: argparse.Namespace) -> int:
    from train.gradient_check import (
        CELL_NAMES,
        TOLERANCE,
        compare_with_torch,
        format_table,
    )

    cells = CELL_NAMES if args.cell == "all" else (args.cell,)
    rows = [row for cell in cells for row in compare_with_torch(cell, seed=args.seed)]
    print(format_table(rows))
    failed = sum(not row.passed for row in rows)
    print(f"{len(rows) - failed} of {len(rows)} checks passed (max abs diff <= {TOLERANCE:g})")
    return 1 if failed else 0


def add_demo(sub) -> None:
    from train.binary_addition import ITERATIONS
    from train.seq2seq_demo import EPOCHS

    p = sub.add_parser("demo", help="small recurrent networks step by step: srn, binary-addition, seq2seq",
                       description="Teaching demos. Each has its own --help, e.g. 'run.py demo seq2seq --help'.")
    demos = p.add_subparsers(dest="demo", metavar="DEMO", required=True)
    demos.add_parser("srn", help="the 2-unit simple recurrent network, step by step, by hand and through torch",
                     description="2 inputs, 2 hidden units, 2 outputs, all weights 1, biases 0, over inputs [1,1], [1,1], [2,2]: "
                     "without and with tanh in numpy, then through nn.RNNCell and nn.RNN.")
    d = demos.add_parser("binary-addition", help="a numpy RNN learns to add 8-bit numbers",
                         description="A numpy RNN (16 sigmoid units) trained with hand-written BPTT on 8-bit additions, "
                         "least significant bit first; reports the accuracy over all 128 x 128 operand pairs.",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d.add_argument("--iterations", type=int, default=ITERATIONS, help="SGD steps of 32 random additions")
    d.add_argument("--seed", type=int, default=0, help="seed of the weights and the training examples")
    d = demos.add_parser("seq2seq", help="an encoder-decoder maps words to their pairs (man -> women, king -> queen)",
                         description="A torch encoder-decoder trained letter by letter on man/women, black/white, king/queen, "
                         "girl/boy, up/down, high/low; prints its translations and their accuracy.",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d.add_argument("--cell", default="gru", choices=["rnn", "gru"], help="recurrent cell of the encoder and decoder")
    d.add_argument("--epochs", type=int, default=EPOCHS, help="full-batch training steps")
    d.add_argument("--seed", type=int, default=0, help="seeds Python, numpy and torch")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.demo == "srn":
        from train.srn_demo import srn_demo

        print(srn_demo())
    elif args.demo == "binary-addition":
        from train.binary_addition import train_binary_addition

        result = train_binary_addition(iterations=args.iterations, seed=args.seed, log=log_stderr)
        print(f"accuracy over all {result.pairs} operand pairs: {result.accuracy:.2%} "
              f"({result.iterations} iterations, {result.seconds:.1f}s)")
    else:
        from train.seq2seq_demo import train_seq2seq

        result = train_seq2seq(cell=args.cell, epochs=args.epochs, seed=args.seed, log=log_stderr)
        for source, expected, produced in result.translations:
            print(f"{source} -> {produced}" + ("" if produced == expected else f"   (expected {expected})"))
        print(f"accuracy: {result.accuracy:.2%} of {len(result.translations)} pairs "
              f"(final loss {result.final_loss:.4f}, {result.epochs} epochs, {result.seconds:.1f}s)")
    return 0


# Each command: (name, function adding its parser). The first is the default command.
COMMANDS: list[tuple[str, Callable]] = [
    ("train", add_train),
    ("predict", add_predict),
    ("evaluate", add_evaluate),
    ("generate", add_generate),
    ("vectors", add_vectors),
    ("check-gradients", add_check_gradients),
    ("demo", add_demo),
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
