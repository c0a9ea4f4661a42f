#!/usr/bin/env python
"""Recurrent-network text classification and character-level generation.

    python run.py --model lstm                 train a classifier on the built-in reviews-zh dataset
    python run.py predict --run runs/NAME "这家店的菜很好吃"
    python run.py evaluate --run runs/NAME data.csv
    python run.py serve --run runs/NAME        an HTTP JSON API and a web page at http://127.0.0.1:8000/

``run.py`` only parses arguments and calls the library: every option is
declared once, on a settings dataclass, and the parsers are built from those
declarations. Problems a user can fix end with a one-line ``error: ...`` on
stderr and exit status 2. Each command imports only what it uses, so
``--help`` is quick.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from typing import Callable, Sequence

from data_processor.base.errors import ConfigError, UserError, no_space
from data_processor.base.paths import check_output_file
from data_processor.base.settings import HelpFormatter, add_options


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other error here, with a "did you mean" for a
    mistyped option or choice."""

    words: Sequence[str] = ()  # the command line being parsed (set by `main`), where a mistyped option is looked for

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}{self.suggestion(message)} (see: {self.prog} --help)\n")

    def suggestion(self, message: str) -> str:
        """'; did you mean ...?' for the mistyped choice or options ``message`` names, if one is close."""
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            return did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        if message.startswith(("unrecognized arguments:", "the following arguments are required:")):
            known = [flag for action in self._actions for flag in action.option_strings]
            words = [word.split("=")[0] for word in Parser.words if word.startswith("--")]
            guesses = [did_you_mean(word, known) for word in words if word not in known]
            return next((guess for guess in guesses if guess), "")
        return ""


def did_you_mean(word: str, known: Sequence[str]) -> str:
    """'; did you mean X?' naming the entry of ``known`` closest to ``word``, or '' when none is close."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def version() -> str:
    """This toolkit's version, and those of Python and torch (read without importing torch)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from data_processor.base.version import VERSION

    try:
        torch_version = installed("torch")
    except PackageNotFoundError:
        torch_version = "not installed"
    return f"run.py {VERSION} (Python {sys.version.split()[0]}, torch {torch_version})"


def use_threads(threads: int | None) -> None:
    """Use ``threads`` torch threads when given (--threads of a command that runs a model); else torch's default."""
    if threads is not None:
        from train.common.runtime import set_threads

        set_threads(threads)


# ---------------------------------------------------------------- train

def add_training_flags(group) -> None:
    """The flags of every training command that are not settings: --dry-run and --resume."""
    group.add_argument("--dry-run", action="store_true", help="print the resolved settings as JSON and exit (a classifier's also "
                       "its plan for the actual data: rows, batches per epoch, epochs and steps)")
    group.add_argument("--resume", metavar="RUN", help="continue an interrupted run (Ctrl-C, a crash, a killed process) from its "
                       "last finished epoch, with its own settings; no other option may go with it but --no-progress")


def add_train(sub) -> None:
    from train.classify.settings import GROUPS, ClassifierConfig

    p = sub.add_parser(
        "train", formatter_class=HelpFormatter,
        help="train a text classifier (the default command: 'run.py --model lstm' means 'run.py train --model lstm')",
        description="Train an RNN/GRU/LSTM text classifier and report validation and test accuracy. "
        "Without --train it uses the built-in reviews-zh dataset (Chinese product reviews, positive/negative).",
    )
    add_training_flags(add_options(p, ClassifierConfig, GROUPS)["run"])
    p.set_defaults(handler=cmd_train, settings=ClassifierConfig)


def cmd_train(config) -> int:
    from train.classify.kinds import kind_of

    kind = kind_of(config.model)
    if kind.distributed:
        return print_train_summary(train_together(kind.train_function(), config.device, config))
    check_one_process(f"--model {config.model}")
    return print_train_summary(kind.train_function()(config))


def resume_train(path: str, config) -> int:
    from train.classify.resume import resume_classifier

    return print_train_summary(train_together(resume_classifier, "auto", path, config.progress))


def train_together(train: Callable[..., dict], device: str, *args) -> dict | None:
    """``train(*args, log=..., cluster=...)``: in this process alone under ``python run.py``; data-parallel under
    ``torchrun``, inside its process group (gloo, or NCCL for --device cuda), where rank 0 alone logs and gets the
    summary back (the others get None)."""
    from data_processor.base.messages import log_stderr
    from train.common.distributed import Cluster, process_group

    cluster = Cluster.from_environment()
    with process_group(cluster, device):
        summary = train(*args, log=log_stderr if cluster.is_main else lambda _: None, cluster=cluster)
    return summary if cluster.is_main else None


def check_one_process(what: str) -> None:
    """A `ConfigError` when ``what`` (which trains in one process) was started by torchrun with several processes."""
    if torchrun_world() > 1:
        raise ConfigError(f"{what} trains in one process: start it with python run.py, not torchrun")


def torchrun_world() -> int:
    """How many processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or "1")


def first_to_report(message: str) -> bool:
    """Under torchrun, whether this process is the first of its run to report the error ``message``: every process
    meets the same refusal (a finished run to resume, a bad option), and it is printed once, not once per process.
    The processes of one torchrun share its agent, their parent process, which names the marker file they race to create."""
    import hashlib
    import tempfile

    digest = hashlib.sha256(f"{os.getppid()}\0{message}".encode("utf-8", "surrogatepass")).hexdigest()[:20]
    try:
        os.close(os.open(os.path.join(tempfile.gettempdir(), f"rnn-toolkit-error-{digest}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    except OSError:  # no temporary directory to write in: rather each process than none
        pass
    return True


def print_train_summary(summary: dict | None) -> int:
    if summary is None:  # a torchrun process other than rank 0: rank 0 prints
        return 0
    if summary.get("multi_label"):
        print(f"best dev micro-F1: {summary['best_dev_micro_f1']:.4f} (epoch {summary['best_epoch']} of {summary['epochs_run']}); "
              f"with the {summary['threshold']} thresholds chosen on dev: {summary['dev_micro_f1']:.4f}")
        if "test_micro_f1" in summary:
            print(f"test micro-F1: {summary['test_micro_f1']:.4f} (macro-F1 {summary['test_macro_f1']:.4f}, samples-F1 "
                  f"{summary['test_samples_f1']:.4f}, subset accuracy {summary['test_subset_accuracy']:.4f}, Hamming loss "
                  f"{summary['test_hamming_loss']:.4f})")
    else:
        print(f"best dev accuracy: {summary['best_dev_accuracy']:.4f} (epoch {summary['best_epoch']} of {summary['epochs_run']}"
              f"{', stopped by --time-budget' if summary.get('stopped_by_time_budget') else ''})")
        if "test_accuracy" in summary:
            print(f"test accuracy: {summary['test_accuracy']:.4f} (macro-F1 {summary['test_macro_f1']:.4f})")
    print(f"run saved to: {summary['run']}")
    return 0


def dry_run_train(config) -> dict:
    """The resolved settings; for a recurrent model also the training plan for the actual data ("plan")."""
    from train.classify.embedding import check_inputs, resolve_embedding
    from train.classify.kinds import kind_of

    config.validate()
    check_inputs(config)
    resolved = resolve_embedding(config, unpickle=False)[0].to_dict()
    if kind_of(config.model).recurrent:
        from train.classify.rnn import dry_run_plan

        resolved["plan"] = dry_run_plan(config)
    return resolved


# ---------------------------------------------------------------- pretrain

def add_pretrain(sub) -> None:
    from train.classify.pretrain_settings import PRETRAIN_GROUPS, PretrainConfig

    p = sub.add_parser(
        "pretrain", formatter_class=HelpFormatter,
        help="pretrain a classifier's encoder as a bidirectional language model on unlabelled text",
        description="Train the classifier's encoder (embedding and recurrent layers, with the classifier's tokenizer, "
        "vocabulary rules and sizes) as a language model: the forward direction predicts the next token, the backward one "
        "the previous token (sampled softmax, output tied to the embedding). Reports held-out perplexity per direction. "
        "Fine-tune a classifier from it with: run.py train --encoder RUN. Without --corpus it learns from People's Daily.",
    )
    add_training_flags(add_options(p, PretrainConfig, PRETRAIN_GROUPS, skip=("label_col",))["run"])
    p.set_defaults(handler=cmd_pretrain, settings=PretrainConfig)


def cmd_pretrain(config) -> int:
    from train.classify.pretrain import pretrain

    check_one_process("pretrain")
    return print_pretrain_summary(pretrain(config))


def resume_pretrain(path: str, config) -> int:
    from train.classify.pretrain import resume_pretrain as resume

    check_one_process("pretrain")
    return print_pretrain_summary(resume(path, config.progress))


def print_pretrain_summary(s: dict) -> int:
    backward = f", backward {s['dev_backward_perplexity']:.2f}" if "dev_backward_perplexity" in s else ""
    print(f"held-out perplexity: forward {s['dev_forward_perplexity']:.2f}{backward} (epoch {s['best_epoch']} of {s['epochs_run']}, "
          f"{s['steps']} steps, vocabulary {s['vocabulary']}, {s['seconds']:.0f}s"
          f"{', stopped by --time-budget' if s['stopped_by_time_budget'] else ''})")
    print(f"run saved to: {s['run']}")
    return 0


# ---------------------------------------------------------------- predict, evaluate

def add_predict(sub) -> None:
    from train.classify.settings import PredictSettings

    p = sub.add_parser("predict", help="label texts with a trained classifier", formatter_class=HelpFormatter,
                       description="Print 'label<TAB>probability<TAB>text' for each text, using only the run directory (for a --multi-label "
                       "run: the label set and each label's probability, joined by its --label-sep: 'a|b<TAB>0.97|0.81<TAB>text'). "
                       "For a --model tfidf run with --tfidf-classifier svm the middle column is the margin of the best label's "
                       "score over the runner-up's (a LinearSVC gives no probabilities).")
    add_options(p, PredictSettings, skip=("label_col",))
    p.set_defaults(handler=cmd_predict, settings=PredictSettings)


def cmd_predict(s) -> int:
    from data_processor.io import json_line, tsv_field
    from train.inference.predictors import load_predictor

    texts = list(s.texts or [])
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            raise ConfigError(f"text {number} of the command line is empty; there is nothing to classify in it")
    if s.file:
        texts += read_texts_file(s, s.file)
    if not texts:
        raise ConfigError("nothing to predict: give texts as arguments or --file FILE")
    use_threads(s.threads)
    predictor = load_predictor(s.run, s.device)
    note_unfinished(s.run)
    if not predictor.probabilistic:
        print("note: a TF-IDF + LinearSVC run: the score is a margin, not a probability", file=sys.stderr)
    score = "probability" if predictor.probabilistic else "margin"
    if predictor.multi_label:
        sep = predictor.config.label_sep
        for text, chosen in zip(texts, predictor.predict_labels(texts)):
            if s.output_format == "jsonl":
                print(json_line({"labels": [label for label, _ in chosen], "probabilities" if predictor.probabilistic else "margins":
                                 {label: round(p, 6) for label, p in chosen}, "text": text}))
            else:
                print(f"{tsv_field(sep.join(label for label, _ in chosen))}\t{sep.join(f'{p:.4f}' for _, p in chosen)}\t{tsv_field(text)}")
        return 0
    for text, (label, prob) in zip(texts, predictor.predict(texts)):
        if s.output_format == "jsonl":
            print(json_line({"label": label, score: round(prob, 6), "text": text}))
        else:
            print(f"{tsv_field(label)}\t{prob:.4f}\t{tsv_field(text)}")
    return 0


def note_unfinished(path: str) -> None:
    """Say on stderr when a run did not finish training (its best weights so far are used)."""
    from train.common.rundir import RunDir

    if not RunDir(path).complete():
        print(f"note: {path} did not finish training; using its best weights so far (finish it with: python run.py train "
              f"--resume {path})", file=sys.stderr)


def add_evaluate(sub) -> None:
    from train.classify.settings import EvaluateSettings

    p = sub.add_parser("evaluate", help="score a trained classifier on a labelled file", formatter_class=HelpFormatter,
                       description="Accuracy, macro-F1, per-class report and confusion matrix of a saved run on a labelled file.")
    add_options(p, EvaluateSettings)
    p.set_defaults(handler=cmd_evaluate, settings=EvaluateSettings)


def cmd_evaluate(s) -> int:
    from data_processor.io import read_table
    from train.inference.predictors import load_predictor
    from train.common.metrics import format_confusion, metric_lines

    from data_processor.io import detect_format

    for flag, path, what in (("--plot", s.plot, "a .png file"), ("--errors", s.errors, "a .csv, .tsv or .jsonl file")):
        if path is not None:  # before any work: a bad path should not cost an evaluation
            check_output_file(flag, path, what)
    if s.errors is not None:
        detect_format(s.errors)
    use_threads(s.threads)
    predictor = load_predictor(s.run, s.device)
    note_unfinished(s.run)
    table = read_table(s.file, s.text_col, s.label_col, s.format, s.encoding, s.skip_bad_rows)
    if table.skipped:
        print(f"{s.file}: skipped {table.skipped} bad rows", file=sys.stderr)
    metrics = predictor.evaluate(table.examples, s.file)
    print(f"examples: {len(table.examples)}")
    print("\n".join(metric_lines(metrics)))
    print(metrics["report"])
    print(format_confusion(metrics["confusion"], predictor.label_names))
    if s.plot is not None:
        # matplotlib is slow to import: only --plot draws
        from train.classify.run_files import confusion_title
        from train.common.plots import draw_or_skip, plot_confusion

        if not draw_or_skip(s.plot, lambda: plot_confusion(metrics["confusion"], metrics["labels"], s.plot,
                                                           confusion_title(os.path.basename(s.file), metrics), metrics.get("support"))):
            print(f"written: {s.plot}")
    if s.errors is not None:
        from data_processor.io import write_table
        from train.inference.predictors import ERROR_COLUMNS, misclassified

        count = write_table(s.errors, ERROR_COLUMNS, misclassified(predictor, table.examples))
        print(f"written: {s.errors} ({count} misclassified rows)")
    return 0


# ---------------------------------------------------------------- serve

def add_serve(sub) -> None:
    from train.classify.settings import ServeSettings

    p = sub.add_parser("serve", help="serve a trained classifier over HTTP: a JSON API and a web page", formatter_class=HelpFormatter,
                       description="An HTTP server (FastAPI on uvicorn) for a run directory: POST /predict with {\"text\": ...} "
                       "or {\"texts\": [...]} answers each text's labels and probabilities; GET /health and GET /info describe "
                       "the server and the run; GET / is a page to try it in a browser. Concurrent requests are batched into "
                       "one model call. It listens on 127.0.0.1 (this machine only) unless --host says otherwise.")
    add_options(p, ServeSettings)
    p.set_defaults(handler=cmd_serve, settings=ServeSettings)


def cmd_serve(s) -> int:
    try:
        from train.inference.serve.requests import Limits
        from train.inference.serve.server import serve
    except ImportError as exc:
        raise ConfigError(f"serve needs {exc.name or 'fastapi and uvicorn'}: pip install -r requirements.txt") from None
    from train.inference.predictors import load_predictor

    use_threads(s.threads)
    predictor = load_predictor(s.run, s.device)
    note_unfinished(s.run)
    try:
        serve(predictor, s.run, s.host, s.port, limits=Limits(s.max_chars, s.max_texts), max_batch=s.max_batch,
              batch_wait=s.batch_wait_ms / 1000, access_log=s.access_log, announce=lambda line: print(line, flush=True))
    except KeyboardInterrupt:  # Ctrl-C is how a server is stopped
        print("server stopped", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- export

def add_export(sub) -> None:
    from train.classify.settings import ExportSettings

    p = sub.add_parser("export", help="export a trained RNN/GRU/LSTM classifier to ONNX (runs without torch)", formatter_class=HelpFormatter,
                       description="Write the run's model as an ONNX graph: inputs tokens (int64 [batch, steps], each row padded "
                       "after its end) and lengths (int64 [batch]), output probabilities ([batch, labels], the columns in the "
                       "order of the labels); batch size and length are dynamic and padding never changes a row's result. "
                       "Beside it, a JSON file holds what turns text into those inputs (tokenizer and its settings, stopwords, "
                       "max length, back-off, vocabulary) and the labels (with the thresholds of a multi-label run). Python "
                       "runs the pair with train.inference.export.onnx_predictor.OnnxPredictor. --check FILE then compares onnxruntime with "
                       "PyTorch on FILE's texts. TF-IDF and hybrid runs do not export.")
    add_options(p, ExportSettings, skip=("label_col",))
    p.set_defaults(handler=cmd_export, settings=ExportSettings)


def cmd_export(s) -> int:
    from train.inference.export.parity import check_parity
    from train.inference.export.writer import check_recurrent, export_onnx

    check_output_file("--out", s.out, "a .onnx file", make_parents=True)  # before any work: an export takes seconds
    check_recurrent(s.run)
    texts = read_texts_file(s, s.check_file) if s.check_file else []
    if s.check_file and not texts:
        raise ConfigError(f"--check {s.check_file}: the file holds no texts to compare")
    files = export_onnx(s.run, s.out, s.opset)
    note_unfinished(s.run)
    print(f"written: {', '.join(str(p) for p in (files.onnx, files.settings, files.user_dict) if p is not None)}")
    if s.check_file:
        print("\n".join(check_parity(s.run, files.onnx, texts).lines()))
    return 0


def read_texts_file(s, path: str) -> list[str]:
    """The texts of ``path`` as ``predict --file`` reads them: a .txt file one text per line, else a .csv/.tsv/.jsonl
    table's text column (``s`` holds the table options: --format, --text-col, --encoding...)."""
    from data_processor.io import read_table

    fmt = s.format or ("tsv" if path.endswith(".txt") and s.text_col is None else None)
    return read_table(path, s.text_col if s.text_col is not None else (0 if fmt == "tsv" else None), s.label_col, fmt, s.encoding,
                      s.skip_bad_rows, require_label=False).texts


# ---------------------------------------------------------------- generate train|sample|eval

def add_generate(sub) -> None:
    from train.charlm.settings import GROUPS, CharLMConfig, EvalSettings, SampleSettings

    p = sub.add_parser(
        "generate",
        help="character-level generation: train a char model, sample text from it, score line continuations",
        description="Character-level language models: 'generate train' fits one on a corpus, 'generate sample' writes text "
        "with it, 'generate eval' scores greedy line continuations. Each action has its own --help.",
    )
    actions = p.add_subparsers(dest="generate_command", metavar="ACTION", parser_class=Parser, required=True)
    t = actions.add_parser(
        "train", help="train a character-level model on a corpus", formatter_class=HelpFormatter,
        description="Train a character-level language model by truncated backpropagation through time and keep the "
        "checkpoint with the lowest validation loss in nats per character (or the last one: --keep last). "
        "Results go to stdout, progress to stderr.",
    )
    add_training_flags(add_options(t, CharLMConfig, GROUPS)["run"])
    t.set_defaults(handler=cmd_generate_train, settings=CharLMConfig)
    s = actions.add_parser(
        "sample", help="write text with a trained character model", formatter_class=HelpFormatter,
        description="Sample text from a 'generate train' run. The prime is read first to warm up the hidden state; "
        "for line corpora (names, lyrics) each sample ends at the end-of-line symbol. A prime holding characters "
        "the model never saw is refused, naming them.",
    )
    add_options(s, SampleSettings)
    s.set_defaults(handler=cmd_generate_sample, settings=SampleSettings)
    e = actions.add_parser(
        "eval", help="score greedy line continuations of a trained character model", formatter_class=HelpFormatter,
        description="For each prefix, predict the rest of its line greedily and compare it with the gold continuation: "
        "exact-match line accuracy (after stripping whitespace) and character accuracy. Without --test/--gold, the "
        "first --count held-out lines of the run's corpus are cut in half (prefix = first half). Prefix characters "
        "outside the vocabulary are read as <unk>.",
    )
    add_options(e, EvalSettings)
    e.set_defaults(handler=cmd_generate_eval, settings=EvalSettings)


def cmd_generate_train(config) -> int:
    from train.charlm.pipeline import train_char_lm

    if config.backend == "numpy":
        check_one_process("the numpy char-RNN (--cell numpy-rnn)")
    return print_char_lm_summary(train_together(train_char_lm, config.device, config))


def resume_generate_train(path: str, config) -> int:
    from train.charlm.pipeline import resume_char_lm

    return print_char_lm_summary(train_together(resume_char_lm, "auto", path, config.progress))


def print_char_lm_summary(s: dict | None) -> int:
    if s is None:  # a torchrun process other than rank 0: rank 0 prints
        return 0
    print(f"best validation loss: {s['best_val_loss']:.4f} nats/char (perplexity {s['best_val_perplexity']:.2f}), "
          f"epoch {s['best_epoch']} of {s['epochs_run']}{' (stopped by --time-budget)' if s['stopped_by_time_budget'] else ''}")
    print(f"last epoch: training loss {s['final_train_loss']:.4f} nats/char (perplexity {s['final_train_perplexity']:.2f}), "
          f"validation loss {s['final_val_loss']:.4f} (perplexity {s['final_val_perplexity']:.2f})")
    print(f"kept: the {s['kept']} weights")
    print(f"run saved to: {s['run']}")
    return 0


def cmd_generate_sample(s) -> int:
    from train.charlm.generation import CharGenerator

    use_threads(s.threads)
    generator = CharGenerator(s.run, s.device)
    samples = generator.samples(s.prime, s.count, s.length, s.seed, s.temperature, s.top_k)
    print(("\n" if generator.config.lines else "\n\n").join(samples))
    return 0


def cmd_generate_eval(s) -> int:
    from train.charlm.generation import CharGenerator, evaluate_continuations

    use_threads(s.threads)
    result = evaluate_continuations(CharGenerator(s.run, s.device), s.test, s.gold, s.output, s.count, s.max_chars)
    if result.unknown_chars:
        print(f"note: {result.unknown_chars} prefix characters are outside the vocabulary and were read as <unk>", file=sys.stderr)
    print(f"lines: {result.scores['lines']}")
    print(f"exact match: {result.scores['exact_match']:.4f}")
    print(f"char accuracy: {result.scores['char_accuracy']:.4f}")
    print(f"written: {', '.join(str(p) for p in result.written)}")
    return 0


# ---------------------------------------------------------------- vectors, check-gradients, demo

def add_vectors(sub) -> None:
    from train.vectors.settings import VectorsSettings

    p = sub.add_parser("vectors", help="train word vectors on a corpus and save them for --embedding FILE", formatter_class=HelpFormatter,
                       description="Train word2vec or FastText vectors with gensim on unlabelled text and write them in "
                       "word2vec text format ('count dim', then 'word v1 ... vd' per line), which any tool reads.")
    add_options(p, VectorsSettings)
    p.set_defaults(handler=cmd_vectors, settings=VectorsSettings)


def cmd_vectors(s) -> int:
    from train.vectors.training import pretrain_vectors

    kv = pretrain_vectors(s)
    print(f"vectors: {len(kv.index_to_key)} words x {kv.vector_size} written to {s.out}")
    return 0


def add_check_gradients(sub) -> None:
    from train.lessons.settings import TOLERANCE, GradientCheckSettings

    p = sub.add_parser("check-gradients", help="numpy backprop through time against PyTorch autograd, per parameter",
                       description="Build a float64 torch.nn.RNN/GRU/LSTM with random weights, copy it into the numpy cell, "
                       "run both on the same random batch and upstream gradient, and compare outputs and gradients "
                       f"(inputs, initial state, every parameter). Exit status 1 if any differs by more than {TOLERANCE:g}.",
                       formatter_class=HelpFormatter)
    add_options(p, GradientCheckSettings)
    p.set_defaults(handler=cmd_check_gradients, settings=GradientCheckSettings)


def cmd_check_gradients(s) -> int:
    from train.lessons.gradient_check import compare_with_torch, format_table
    from train.lessons.settings import CELL_NAMES, TOLERANCE

    cells = CELL_NAMES if s.cell == "all" else (s.cell,)
    rows = [row for cell in cells for row in compare_with_torch(cell, seed=s.seed)]
    print(format_table(rows))
    failed = sum(not row.passed for row in rows)
    print(f"{len(rows) - failed} of {len(rows)} checks passed (max abs diff <= {TOLERANCE:g})")
    return 1 if failed else 0


def add_demo(sub) -> None:
    from train.lessons.settings import BinaryAdditionSettings, Seq2SeqSettings

    p = sub.add_parser("demo", help="small recurrent networks step by step: srn, binary-addition, seq2seq",
                       description="Teaching demos. Each has its own --help, e.g. 'run.py demo seq2seq --help'.")
    demos = p.add_subparsers(dest="demo", metavar="DEMO", required=True)
    d = demos.add_parser("srn", help="the 2-unit simple recurrent network, step by step, by hand and through torch",
                         description="2 inputs, 2 hidden units, 2 outputs, all weights 1, biases 0, over inputs [1,1], [1,1], [2,2]: "
                         "without and with tanh in numpy, then through nn.RNNCell and nn.RNN.")
    d.set_defaults(handler=cmd_demo_srn, settings=None)
    d = demos.add_parser("binary-addition", help="a numpy RNN learns to add 8-bit numbers", formatter_class=HelpFormatter,
                         description="A numpy RNN (16 sigmoid units) trained with hand-written BPTT on 8-bit additions, "
                         "least significant bit first; reports the accuracy over all 128 x 128 operand pairs.")
    add_options(d, BinaryAdditionSettings)
    d.set_defaults(handler=cmd_demo_binary_addition, settings=BinaryAdditionSettings)
    d = demos.add_parser("seq2seq", help="an encoder-decoder maps words to their pairs (man -> women, king -> queen)",
                         description="A torch encoder-decoder trained letter by letter on man/women, black/white, king/queen, "
                         "girl/boy, up/down, high/low; prints its translations and their accuracy.", formatter_class=HelpFormatter)
    add_options(d, Seq2SeqSettings)
    d.set_defaults(handler=cmd_demo_seq2seq, settings=Seq2SeqSettings)


def cmd_demo_srn(_) -> int:
    from train.lessons.srn_demo import srn_demo

    print(srn_demo())
    return 0


def cmd_demo_binary_addition(s) -> int:
    from data_processor.base.messages import log_stderr
    from train.lessons.binary_addition import train_binary_addition

    result = train_binary_addition(iterations=s.iterations, seed=s.seed, log=log_stderr)
    print(f"accuracy over all {result.pairs} operand pairs: {result.accuracy:.2%} ({result.iterations} iterations, {result.seconds:.1f}s)")
    return 0


def cmd_demo_seq2seq(s) -> int:
    from data_processor.base.messages import log_stderr
    from train.lessons.seq2seq_demo import train_seq2seq

    result = train_seq2seq(cell=s.cell, epochs=s.epochs, seed=s.seed, log=log_stderr)
    for source, expected, produced in result.translations:
        print(f"{source} -> {produced}" + ("" if produced == expected else f"   (expected {expected})"))
    print(f"accuracy: {result.accuracy:.2%} of {len(result.translations)} pairs "
          f"(final loss {result.final_loss:.4f}, {result.epochs} epochs, {result.seconds:.1f}s)")
    return 0


# ---------------------------------------------------------------- the command line

# Each command: (name, function adding its parser). The first is the default command.
COMMANDS: list[tuple[str, Callable]] = [
    ("train", add_train),
    ("pretrain", add_pretrain),
    ("predict", add_predict),
    ("evaluate", add_evaluate),
    ("serve", add_serve),
    ("export", add_export),
    ("generate", add_generate),
    ("vectors", add_vectors),
    ("check-gradients", add_check_gradients),
    ("demo", add_demo),
]
# Commands whose --dry-run prints the resolved settings: how each resolves them.
DRY_RUNS: dict[Callable, Callable] = {cmd_train: dry_run_train, cmd_generate_train: lambda config: config.resolved().to_dict(),
                                      cmd_pretrain: lambda config: (config.validate(), config.to_dict())[1]}
# Commands with --resume RUN: what resumes a run of each.
RESUMES: dict[Callable, Callable] = {cmd_train: resume_train, cmd_generate_train: resume_generate_train, cmd_pretrain: resume_pretrain}


def check_distributable(handler: Callable) -> None:
    """A `ConfigError` when torchrun started a command that does not train (it would run once per process)."""
    if handler not in RESUMES:
        raise ConfigError("under torchrun only 'train' and 'generate train' run (data-parallel); start other commands with "
                          "python run.py")


def check_resume_alone(args: argparse.Namespace, settings) -> None:
    """A `ConfigError` when --resume comes with --dry-run or with training options (a resumed run keeps its own)."""
    if args.dry_run:
        raise ConfigError("--resume and --dry-run do not go together; the run's settings are in its config.json")
    changed = [f"--{name.replace('_', '-')}" for name in sorted(settings.given - {"progress"})]
    if changed:
        raise ConfigError(f"--resume continues a run with its own settings; leave out {', '.join(changed)} "
                          "(only --no-progress may go with it)")


def build_parser() -> Parser:
    parser = Parser(
        prog="run.py",
        description=__doc__.split("\n\n")[0] + " Without a command, 'train' runs: 'run.py --model lstm' = 'run.py train --model lstm'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Each command has its own --help, e.g. 'python run.py train --help'.",
    )
    parser.add_argument("--version", action="store_true", help="print the version (and Python's and torch's) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for _, add in COMMANDS:
        add(sub)
    return parser


def command_parser(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``argv`` names: ``generate train ...`` -> the parser of 'generate train'."""
    for word in argv:
        commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not commands or word not in commands[0].choices:
            break
        parser = commands[0].choices[word]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = [name for name, _ in COMMANDS]
    if argv and argv[0] == "--version":
        print(version())
        return 0
    if argv and not argv[0].startswith("-") and argv[0] not in names:  # 'train' takes no positional arguments
        print(f"error: unknown command {argv[0]!r}{did_you_mean(argv[0], names) or '; the commands are ' + ', '.join(names)} "
              "(see: run.py --help)", file=sys.stderr)
        return 2
    if not argv or (argv[0] not in names and argv[0] not in ("-h", "--help")):
        argv.insert(0, COMMANDS[0][0])
    parser = build_parser()
    Parser.words = argv
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # refused by the command's own parser, which knows the options to suggest
        command_parser(parser, argv).error(f"unrecognized arguments: {' '.join(unknown)}")
    rank = int(os.environ.get("RANK", "0") or "0")
    try:
        settings = args.settings.from_args(args) if args.settings else None
        if torchrun_world() > 1:
            check_distributable(args.handler)
            if rank and settings is not None and hasattr(settings, "progress"):
                settings.progress = False  # rank 0 shows the progress of all
            if getattr(args, "dry_run", False) and rank:
                return 0
        if getattr(args, "resume", None):
            check_resume_alone(args, settings)
            return RESUMES[args.handler](args.resume, settings)
        if getattr(args, "dry_run", False):
            print(json.dumps(DRY_RUNS[args.handler](settings), ensure_ascii=False, indent=2))
            return 0
        return args.handler(settings)
    except UserError as exc:
        if torchrun_world() == 1 or first_to_report(str(exc)):
            print(f"{f'rank {rank}: ' if rank else ''}error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"error: interrupted{'; ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout has gone (run.py predict ... | head): stop quietly, as head expects
        silence_stdout()
        return 141  # as a process ended by SIGPIPE
    except OSError as exc:
        if not no_space(exc):
            raise
        print(f"error: {exc.filename or 'a file'}: cannot write it ({exc.strerror}); free some space and run it again",
              file=sys.stderr)
        return 2


def silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (stdout replaced in-process)
        pass


if __name__ == "__main__":
    sys.exit(main())
