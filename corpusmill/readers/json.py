"""JSON (a list of records, optionally at ``read.json_path``) and JSON Lines.

Nested objects are flattened to dotted column names; every value becomes text (lists and
objects as JSON). A record that is not an object, or a JSONL line that is not JSON, is a
reject.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from corpusmill.config import ReadOptions
from corpusmill.readers.encoding import _decode_all
from corpusmill.readers.errors import ReaderError
from corpusmill.readers.results import ReadResult, _empty_result, _rejects


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


def _not_text(item: Any, raw: str) -> bool:
    """The record holds a lone UTF-16 surrogate (JSON ``"\\ud800"``): no text column can hold it."""
    if "\\u" not in raw.casefold() or "\\ud" not in raw.casefold():
        return False
    try:
        json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_SURROGATE = "record has a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not text"


def _text_frame(
    records: list[tuple[int, dict[str, Any]]], options: ReadOptions
) -> tuple[pl.LazyFrame, list[str]]:
    columns: dict[str, None] = {}
    for _, rec in records:
        columns.update(dict.fromkeys(rec))
    nulls = set(options.null_values)
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for _, rec in records:
        for c in columns:
            v = _json_text(rec.get(c))
            data[c].append(None if v in nulls else v)
    data["_row"] = [r for r, _ in records]
    schema = {c: pl.String() for c in columns} | {"_row": pl.Int64()}
    return pl.DataFrame(data, schema=schema).lazy(), list(columns)


def _read_json(path: str, options: ReadOptions, local: Path) -> ReadResult:
    text, codec = _decode_all(path, local, options)
    if not text.strip():
        return _empty_result(options, codec)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        raise ReaderError(msg) from None
    where = "the top level"
    if options.json_path:
        for part in options.json_path.split("."):
            where = f"json_path {options.json_path!r}"
            if isinstance(doc, dict) and part in doc:
                doc = doc[part]
            elif isinstance(doc, list) and part.lstrip("-").isdigit():
                doc = doc[int(part)]
            else:
                keys = ", ".join(map(str, doc)) if isinstance(doc, dict) else type(doc).__name__
                msg = f"{path}: json_path {options.json_path!r}: no key {part!r} (found: {keys})"
                raise ReaderError(msg)
    if isinstance(doc, dict):
        msg = (
            f"{path}: {where} is an object, not a list of records; set read.json_path to the "
            f"list (keys here: {', '.join(map(str, doc))})"
        )
        raise ReaderError(msg)
    if not isinstance(doc, list):
        msg = f"{path}: {where} is a {type(doc).__name__}, not a list of records"
        raise ReaderError(msg)
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str, str, str]] = []
    for i, item in enumerate(doc, 1):
        if isinstance(item, dict) and _not_text(item, text):
            bad.append((i, json.dumps(item), _SURROGATE, "bad_text"))
        elif isinstance(item, dict):
            good.append((i, _flatten(item)))
        else:
            raw = json.dumps(item, ensure_ascii=False).encode("utf-8", "backslashreplace").decode()
            bad.append((i, raw, f"record is a {type(item).__name__}, not an object", "not_an_object"))
    frame, columns = _text_frame(good, options)
    return ReadResult(frame, columns, codec, _rejects(bad), len(doc))


def _read_jsonl(path: str, options: ReadOptions, local: Path) -> ReadResult:
    text, codec = _decode_all(path, local, options)
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str, str, str]] = []
    n = 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        n += 1
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as e:
            bad.append((n, raw, f"not valid JSON: {e.msg} at column {e.colno}", "bad_json"))
            continue
        if isinstance(item, dict) and _not_text(item, raw):
            bad.append((n, json.dumps(item), _SURROGATE, "bad_text"))
        elif isinstance(item, dict):
            good.append((n, _flatten(item)))
        else:
            bad.append((n, raw, f"record is a {type(item).__name__}, not an object", "not_an_object"))
    frame, columns = _text_frame(good, options)
    return ReadResult(frame, columns, codec, _rejects(bad), n)
