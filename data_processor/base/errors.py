"""Exceptions for mistakes a user can fix.

`run.py` catches `UserError`, prints ``error: <message>`` on one line and exits
with status 2. Any other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input or configuration, with a message saying what to do."""


class DataError(UserError):
    """A data file is missing, unreadable or malformed; the message names the file and line."""


class ConfigError(UserError):
    """An option or combination of options is invalid."""


class TrainingError(UserError):
    """Training cannot go on (the loss became NaN or infinite); the message says what to change."""


def where(path: object, line: int | None = None) -> str:
    """Format a location as ``path:line`` (or just ``path``) for error messages."""
    return f"{path}:{line}" if line is not None else str(path)
