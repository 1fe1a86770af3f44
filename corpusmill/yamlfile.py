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


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping that names the same key twice (YAML would silently keep the last one)."""

    def __init__(self, key: Any, line: int, first_line: int) -> None:
        self.key = key
        self.line = line
        self.first_line = first_line
        super().__init__(problem=f"duplicate key {key!r} (first at line {first_line})")

    def __str__(self) -> str:
        return f"line {self.line}: duplicate key {self.key!r} (first defined at line {self.first_line})"


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core booleans and duplicate keys refused.

    YAML 1.1 (PyYAML's default) reads unquoted ``on``, ``off``, ``yes``, ``no``, ``y``, ``n`` as
    booleans, so ``join: [{on: {a: b}}]`` or a column named ``no`` break; here only ``true`` and
    ``false`` (any of their YAML 1.2 spellings) are booleans, everything else stays a string. A key
    that appears twice in one mapping raises :class:`DuplicateKeyError` with its line.
    """

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges may repeat keys on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise DuplicateKeyError(key, line, first)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with YAML 1.2 booleans and duplicate keys refused (:class:`Loader`)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader


def read_mapping(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """The top-level mapping of a YAML file; ``error`` (naming the file) when it is missing,
    not UTF-8 (naming the byte and line), not YAML, has a duplicated key (naming the line and the
    key), or is not a mapping. ``what`` names the file's role, e.g. "sources file". Read with
    :class:`Loader`: only ``true``/``false`` are booleans (``on``, ``no`` ... stay strings)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        msg = (f"{path}: the {what} is not UTF-8: byte 0x{data[e.start]:02x} at offset {e.start} "
               f"(line {line}); save it as UTF-8")  # fmt: skip
        raise error(msg) from None
    try:
        raw = safe_load(text)
    except DuplicateKeyError as e:
        raise error(f"{path}, {e}") from None
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
