"""Exceptions for mistakes a user can fix.

`run.py` catches `UserError`, prints ``error: <message>`` on one line and exits
with status 2. Any other exception is a bug and keeps its traceback.
"""

import errno


class UserError(Exception):
    """A problem with the user's input or configuration, with a message saying what to do."""


class DataError(UserError):
    """A data file is missing, unreadable or malformed; the message names the file and line."""


class ConfigError(UserError):
    """An option or combination of options is invalid."""


class TrainingError(UserError):
    """Training cannot go on (the loss became NaN or infinite); the message says what to change."""


class DiskFullError(UserError, OSError):
    """A file could not be written for want of space: a full disk, a quota, or a file-size limit (``ulimit -f``).

    It is an `OSError` too (``errno``, ``strerror``, ``filename``), so code that shrugs off a cache it cannot
    write goes on shrugging; `run.py` prints its message, which names the file and what to do.
    """

    def __init__(self, path: object, cause: OSError, advice: str = "free some space and run it again") -> None:
        OSError.__init__(self, cause.errno, cause.strerror, str(path))
        self.cause, self.advice = cause, advice

    def __str__(self) -> str:
        return f"{self.filename}: cannot write it ({self.strerror}); nothing was half-written: {self.advice}"

    def advise(self, advice: str) -> "DiskFullError":
        """The same failure with other advice (how to resume the run it stopped)."""
        return DiskFullError(self.filename, self.cause, advice)


def no_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for want of space: ``ENOSPC`` (disk full), ``EDQUOT`` (quota) or
    ``EFBIG`` (larger than the file-size limit)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def where(path: object, line: int | None = None) -> str:
    """Format a location as ``path:line`` (or just ``path``) for error messages."""
    return f"{path}:{line}" if line is not None else str(path)
