"""Checking output paths before any work: a bad one should not cost a run, an evaluation or an export."""

from __future__ import annotations

import os

from data_processor.base.errors import ConfigError


def nearest_existing(path: str) -> str:
    """``path`` itself, or its closest ancestor that exists."""
    existing = os.path.abspath(path)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    return existing


def check_output_file(flag: str, path: str, what: str, make_parents: bool = False) -> None:
    """A `ConfigError` when the file ``path`` of option ``flag`` cannot be written: it is a directory, its directory is
    missing (unless ``make_parents``: the writer makes it), or a parent of it is a file."""
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise ConfigError(f"{flag} {path} is a directory; give the path of {what}")
    folder = os.path.dirname(target)
    existing = nearest_existing(folder)
    if not os.path.isdir(existing):
        raise ConfigError(f"{flag} {path}: {existing} is a file, not a directory")
    if existing != folder and not make_parents:
        raise ConfigError(f"{flag} {path}: the directory {folder} does not exist")


def check_output_dir(flag: str, path: str) -> None:
    """A `ConfigError` when the directory ``path`` of option ``flag`` can be neither found nor made: it, or a parent of
    it, is a file."""
    existing = nearest_existing(path)
    if not os.path.isdir(existing):
        where = "is a file" if existing == os.path.abspath(path) else f"is under the file {existing}"
        raise ConfigError(f"{flag} {path} {where}, not a directory; give a directory")
