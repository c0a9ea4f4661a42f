"""The documentation cannot go stale silently: every ``run.py`` command in the README's and docs/'s code blocks parses,
with values its settings accept, and every link between the pages points at a file that exists."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

import run
from tests.helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATORS = {"&&", "||", "|", ";", ">", ">>", "<", "&", "2>", "2>&1"}


def code_lines(page: Path) -> list[tuple[int, str]]:
    """The shell lines inside the page's fenced code blocks (continuations joined), with their line numbers."""
    lines, fenced, pending, start = [], False, "", 0
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append((start, pending + line))
        pending = ""
    return lines


def run_py_commands(line: str) -> list[list[str]]:
    """The argument lists given to ``run.py`` on a shell line (after ``python run.py`` or a torchrun launcher)."""
    if not re.search(r"(^|\s)run\.py(\s|$)", line):
        return []
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens, commands = list(lexer), []
    for i, token in enumerate(tokens):
        if token == "run.py" and (tokens[i - 1:i] in (["python"], ["python3"]) or "torchrun" in tokens[:i]):
            args = []
            for arg in tokens[i + 1:]:
                if arg in OPERATORS:
                    break
                args.append(arg)
            commands.append(args)
    return commands


DOCUMENTED = [(f"{page.relative_to(ROOT)}:{number}", args) for page in PAGES for number, line in code_lines(page)
              for args in run_py_commands(line)]


def test_the_documentation_shows_commands_of_every_kind():
    assert len(DOCUMENTED) > 50
    shown = {args[0] if args and not args[0].startswith("-") else "train" for _, args in DOCUMENTED}
    assert {"train", "predict", "evaluate", "serve", "export", "pretrain", "generate", "vectors"} <= shown


@pytest.mark.parametrize("where,args", DOCUMENTED, ids=[where for where, _ in DOCUMENTED])
def test_every_documented_run_py_command_parses(where, args):
    names = {name for name, _ in run.COMMANDS}
    argv = list(args) if args and (args[0] in names or args[0] in ("-h", "--help")) else ["train", *args]
    if "-h" in argv or "--help" in argv:
        return  # --help prints and exits: nothing to check but that the command exists
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        try:
            parsed = run.build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: python run.py {shlex.join(args)}: {errors.getvalue().strip().splitlines()[-1]}")
    if parsed.settings is not None:
        parsed.settings.from_args(parsed)  # values the settings refuse raise a ConfigError


def test_links_between_pages_point_at_files_that_exist():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
