"""Settings declared once: each option's default, type, allowed values and help live on its dataclass field.

A settings class is a dataclass of `Settings` whose fields are made with
`option`. From those fields alone:

- `add_options` builds the argparse arguments of a command (flag, type,
  default, choices, help, group), so no default or list of choices is typed twice;
- `Settings.from_args` takes the parsed arguments back;
- `Settings.from_dict` loads a saved ``config.json`` strictly: an unknown key,
  a value of the wrong type, a disallowed choice or a non-finite number is a
  one-line `ConfigError` naming the field;
- `Settings.check` applies the same per-field rules to any instance.

This module imports nothing heavy, so ``--help`` stays fast. It lives in the
lowest layer (beside `errors`) so that every layer can declare settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from typing import Any, ClassVar, Iterable, Mapping, Sequence

from data_processor.base.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
# The largest magnitude an integer option may have unless its own bounds say otherwise: every integer then fits the
# C types torch and numpy take (a 20-digit --batch-size was an overflow traceback deep in batching).
INT_LIMIT = 2**31 - 1
# The most units a size option (--embed-dim, --hidden-size) may ask for: a million, far above any model these machines
# can train; below it, the memory estimate (train.common.memory) says whether a model fits.
SIZE_LIMIT = 2**20


def option(default: Any, help: str, *, choices: Sequence[str] | None = None, flag: str | None = None, group: str | None = None,
           metavar: str | None = None, at_least: float | None = None, above: float | None = None, below: float | None = None,
           at_most: float | None = None, cli: bool = True, required: bool = False, positional: bool = False,
           nargs: str | None = None, aliases: Sequence[str] = ()) -> Any:
    """A settings field: its default and everything the command line and the loader need to know about it.

    ``flag`` overrides the command-line flag (default ``--field-name``; for a
    bool that defaults to True, give the ``--no-...`` or other switch that turns
    it off). ``at_least``/``above``/``below``/``at_most`` bound a number
    (None values are always allowed for optional fields; an integer without an upper or lower bound has
    ±`INT_LIMIT` as that bound). ``cli=False`` keeps
    the field out of the command line; ``required`` makes a flag mandatory; ``positional``
    makes the field a positional argument (with ``nargs``). A ``list[str]`` field is a
    repeatable flag (``--corpus a --corpus b``). ``aliases`` are other flags for it (old names kept working).
    """
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None, "flag": flag, "group": group,
            "metavar": metavar, "at_least": at_least, "above": above, "below": below, "at_most": at_most, "cli": cli,
            "required": required, "positional": positional, "nargs": nargs, "aliases": tuple(aliases)}
    return dataclasses.field(default=default, metadata=meta)


def device_option() -> Any:
    """The ``--device`` field of every command that runs a model: the same default everywhere."""
    return option("auto", "where the model runs: auto uses a GPU when torch sees one, else the CPU", choices=DEVICES)


def threads_option(group: str | None = None) -> Any:
    """The ``--threads`` field of every command that runs a model."""
    return option(None, "torch threads (default: one per core, or while training the cores other programs leave free, "
                  "measured each second)", at_least=1, group=group)


def _base_type(hint: Any) -> tuple[type, bool]:
    """``(int, True)`` for ``int | None``; ``(str, False)`` for ``str``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        return _base_type(real[0])[0], len(real) < len(args)
    return typing.get_origin(hint) or hint, False


def finite_float(text: str) -> float:
    """An argparse type: a float that is neither NaN nor infinite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


class Settings:
    """Base of every settings dataclass: strict loading, per-field checks, argparse round trip."""

    # Keys a saved config.json may hold beside the fields (what the run recorded about itself).
    RECORD_KEYS: tuple[str, ...] = ()
    # settings added after runs were first saved: the value that reproduces an older run that lacks them
    BEFORE_ADDED: ClassVar[dict[str, Any]] = {}
    # the settings this command was given (on the command line, or as keys of a dict): the others hold their defaults.
    # A run's own record (``from_dict(saved=True)``) and a `dataclasses.replace` copy were given none.
    given: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def field_types(cls) -> dict[str, tuple[type, bool]]:
        """Each field's base type and whether it may be None."""
        hints = typing.get_type_hints(cls)
        return {f.name: _base_type(hints[f.name]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_args(cls, args: argparse.Namespace):
        """The settings in parsed arguments (built by `add_options` from this class); options not given keep their
        default and are left out of `given`."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values = {k: v for k, v in vars(args).items() if k in names}
        settings = cls(**values)
        settings.given = frozenset(values)
        settings.check()
        settings.follow_given()
        return settings

    @classmethod
    def from_dict(cls, values: Any, source: str = "config", saved: bool = False):
        """Settings from a mapping such as a saved ``config.json``: unknown keys and ill-typed values are a `ConfigError`.

        Absent keys take their defaults; with ``saved`` (a run's own record), a setting added after the run was
        saved takes its `BEFORE_ADDED` value instead, the one that reproduces the run.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: expected a JSON object of settings, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - names - set(cls.RECORD_KEYS))
        if unknown:
            raise ConfigError(f"{source}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                              f"it was written by another version of this tool, or edited: remove {'them' if len(unknown) > 1 else 'it'}")
        before = {k: v for k, v in cls.BEFORE_ADDED.items() if k not in values} if saved else {}
        settings = cls(**{**before, **{k: v for k, v in values.items() if k in names}})
        settings.given = frozenset() if saved else frozenset(values) & names
        settings.check(source)
        if not saved:
            settings.follow_given()
        return settings

    def follow_given(self) -> None:
        """Adjust defaults that depend on which options were given (see `given`); a saved run's record is left as it is."""

    def check(self, source: str = "") -> None:
        """Per-field rules: type, allowed values, bounds, finite numbers. A `ConfigError` names the field."""
        where = f"{source}: " if source else ""
        types_ = self.field_types()
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value, meta = getattr(self, f.name), f.metadata
            base, optional = types_[f.name]
            name = f"--{f.name.replace('_', '-')}" if not source else repr(f.name)
            if value is None:
                if not optional:
                    raise ConfigError(f"{where}{name} must be set ({_a(base)}), got null")
                continue
            if not _is_instance(value, base):
                raise ConfigError(f"{where}{name} must be {_a(base)}, got {value!r}")
            choices = meta.get("choices")
            if choices is not None and value not in choices:
                raise ConfigError(f"{where}unknown {f.name.replace('_', ' ')} {value!r}; choose one of {', '.join(choices)}")
            if base is float and not _is_finite(value):
                raise ConfigError(f"{where}{name} must be a finite number, got {value}")
            problem = _out_of_bounds(value, meta)
            if problem:
                raise ConfigError(f"{where}{name} must be {problem}, got {value}")

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def _out_of_bounds(value: float, meta: Mapping[str, Any]) -> str | None:
    """None when ``value`` is within the field's bounds, else the rule it breaks (``>= 1``, ``in [0, 1)``). An
    integer's missing bounds are ±`INT_LIMIT`; a message names them only when they are what was broken."""
    low, high = meta.get("at_least"), meta.get("at_most")
    low_open, high_open = meta.get("above"), meta.get("below")
    lower = (">=", low) if low is not None else (">", low_open) if low_open is not None else None
    upper = ("<=", high) if high is not None else ("<", high_open) if high_open is not None else None
    if isinstance(value, int):
        if upper is None and value > INT_LIMIT:
            return f"<= {INT_LIMIT}"
        if lower is None and value < -INT_LIMIT:
            return f">= {-INT_LIMIT}"
    ok = ((lower is None or (value >= lower[1] if lower[0] == ">=" else value > lower[1]))
          and (upper is None or (value <= upper[1] if upper[0] == "<=" else value < upper[1])))
    if ok:
        return None
    if lower and upper:
        return f"in {'[' if lower[0] == '>=' else '('}{_number(lower[1])}, {_number(upper[1])}{']' if upper[0] == '<=' else ')'}"
    op, bound = lower or upper  # type: ignore[misc]
    return f"{op} {_number(bound)}"


def _number(bound: float) -> str:
    """A bound for a message: integers whole (2147483647, not 2.14748e+09), other numbers short (1e-05)."""
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _a(base: type) -> str:
    """``a float``, ``an int``: the type for a message."""
    return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}.get(base.__name__, base.__name__)


def _is_finite(value: float) -> bool:
    """Whether a number is finite; an integer too large for a float (JSON numbers have no limit) is not."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_instance(value: Any, base: type) -> bool:
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default (a settings field's own, see `add_options`), except where it says nothing: None, '',
    and on/off switches."""

    def _get_help_string(self, action: argparse.Action) -> str:
        default = getattr(action, FIELD_DEFAULT, action.default)
        text = action.help or ""
        if default in (None, "", argparse.SUPPRESS) or isinstance(default, bool) or action.nargs == 0 or "%(default)" in text:
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        return f"{text} (default: {str(default).replace('%', '%%')})"


FIELD_DEFAULT = "field_default"  # where `add_options` keeps an option's default for --help (argparse's own is SUPPRESS)


def add_options(parser: argparse.ArgumentParser, settings: type, groups: Iterable[str] = (),
                skip: Iterable[str] = ()) -> dict[str | None, argparse._ActionsContainer]:
    """Add an argument to ``parser`` for every command-line field of ``settings`` (but ``skip``), groups in ``groups`` order.

    Returns the argument groups by name (None: the parser itself), so a command can add its own flags beside them.
    An option that is not given is left out of the parsed namespace (argparse's ``SUPPRESS``), so that
    `Settings.from_args` knows what was given; the field's default fills it there.
    """
    skipped = set(skip)
    fields = [f for f in dataclasses.fields(settings) if f.metadata.get("cli", True) and f.name not in skipped]
    types_ = settings.field_types()
    sections: dict[str | None, argparse._ActionsContainer] = {name: parser.add_argument_group(name) for name in groups}
    for f in fields:
        meta = f.metadata
        group = meta.get("group")
        if group not in sections:
            sections[group] = parser.add_argument_group(group) if group else parser
        base, optional = types_[f.name]
        flag = meta.get("flag") or f"--{f.name.replace('_', '-')}"
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"], "default": argparse.SUPPRESS}
        if meta.get("positional"):
            sections[group].add_argument(f.name, nargs=meta.get("nargs"), default=f.default, help=meta["help"])
            continue
        if meta.get("required"):
            kwargs["required"] = True
        if base is list:
            kwargs.update(action="append")
        elif base is bool and optional:
            kwargs.update(action=argparse.BooleanOptionalAction)
        elif base is bool:
            kwargs.update(action="store_false" if f.default else "store_true")
        else:
            kwargs.update(type=finite_float if base is float else base)
            if meta.get("choices") is not None:
                kwargs["choices"] = meta["choices"]
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
        action = sections[group].add_argument(flag, *meta.get("aliases", ()), **kwargs)
        setattr(action, FIELD_DEFAULT, f.default)
    return sections
