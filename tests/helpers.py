"""What tests share besides fixtures: the project root, run.py runners, error assertions, data writers, fast flags."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

# The options that make a classifier train in seconds: tiny shapes, random embeddings, one thread, no progress bars.
# Tests take them through `fast_flags`, overriding what they need (more epochs, a longer --max-len, ...).
FAST_CLASSIFIER = {"--epochs": "1", "--min-steps": "0", "--embed-dim": "16", "--hidden-size": "16", "--max-len": "60",
                   "--batch-size": "32", "--embedding": "random", "--seed": "1", "--threads": "1", "--no-progress": None}


def fast_flags(**overrides: object) -> list[str]:
    """`FAST_CLASSIFIER` as command-line arguments, with ``overrides`` (``max_len=80`` for ``--max-len 80``; None drops
    an option) replacing or adding options."""
    options = dict(FAST_CLASSIFIER)
    for name, value in overrides.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            options.pop(flag, None)
        else:
            options[flag] = str(value)
    args: list[str] = []
    for flag, value in options.items():
        args += [flag] if value is None else [flag, value]
    return args


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``run.main(ARGS)`` in this process, capturing what it prints; the result looks like a finished subprocess.

    The same code runs as in ``python run.py ARGS`` without paying for a new
    interpreter and its imports; `run_subprocess` is for tests that need a real process.
    """
    import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run.main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return subprocess.CompletedProcess(["run.py", *args], code, out.getvalue(), err.getvalue())


def run_subprocess(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python run.py ARGS`` from the project root in a new process, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, one ``error: ...`` line on stderr containing every fragment, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert lines and lines[-1].startswith("error: "), result.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def train_on_sample(sample: dict, model: str, name: str, *options: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Train ``model`` on the `sample` splits into the run ``name``; the run must succeed. Returns the result and the run directory."""
    runs = sample["dir"] / "runs"
    result = run_cli("--model", model, "--train", str(sample["train"]), "--dev", str(sample["dev"]), "--test", str(sample["test"]),
                     "--runs-dir", str(runs), "--run-name", name, *options)
    assert result.returncode == 0, result.stderr
    return result, runs / name


def write_csv(path: Path, rows) -> Path:
    """Write (text, label) rows as a CSV file with a header."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path
