"""YAML configuration files: reading them, validating them with pydantic, explaining what is wrong.

Every configuration file corpusmill reads (the sources file, the compute catalog, the training
job) goes through :func:`load_model`, so every one reports problems the same way: the file, the
entry of a named list (``source 'historian' (sources[2])``) and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class _Named(Protocol):
    name: str


N = TypeVar("N", bound=_Named)


def read_mapping(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """The top-level mapping of a YAML file; ``error`` (naming the file) when it is missing,
    not YAML, or not a mapping. ``what`` names the file's role, e.g. "sources file"."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping at the top level of the {what}")
    return raw


def load_model(
    path: Path, model: type[M], what: str, error: type[Exception], *, named: str
) -> M:
    """Read ``path`` and validate it as ``model``.

    Parameters
    ----------
    what
        The file's role in messages ("sources file").
    named
        The top-level list whose entries have a ``name`` (``sources``, ``pools``): a problem in
        one of them names the entry.

    Raises
    ------
    error
        Missing file, bad YAML, or one line per schema problem.
    """
    raw = read_mapping(path, what, error)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise error(explain(path, raw, e, what, named=named)) from None


def explain(path: Path, raw: dict[str, Any], err: ValidationError, what: str, *, named: str) -> str:
    """One line per problem: where (the named entry) and which field, in plain words."""
    lines = [f"{path}: {err.error_count()} problem(s) in the {what}"]
    entry = named.removesuffix("s")
    for e in err.errors():
        loc = list(e["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == named and isinstance(loc[1], int):
            try:
                name = raw[named][loc[1]].get("name")
            except (KeyError, IndexError, AttributeError, TypeError):
                name = None
            where = f"{entry} {name!r} ({named}[{loc[1]}]), " if name else f"{named}[{loc[1]}], "
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "(the entry itself)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of the schema; check its spelling)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"  - {where}field '{field}': {msg}")
    return "\n".join(lines)


def by_name(items: Iterable[N], name: str, what: str) -> N:
    """The item called ``name``; a KeyError that lists the names there are."""
    items = list(items)
    for item in items:
        if item.name == name:
            return item
    msg = f"no {what} named {name!r}; {what}s: {', '.join(i.name for i in items)}"
    raise KeyError(msg)


def matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    """A field check: the value must match ``pattern``, else "'v' is not <what>"."""

    def check(value: str) -> str:
        if not pattern.match(value):
            msg = f"{value!r} is not {what}"
            raise ValueError(msg)
        return value

    return check
