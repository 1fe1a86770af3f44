"""What the readers deliver: :class:`ReadResult` (rows), :class:`Document` (a whole text)
and the rejects frame (``REJECT_SCHEMA``) every table reader fills.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from corpusmill.config import ReadOptions

if TYPE_CHECKING:
    from collections.abc import Iterable

RAW_MAX = 500  # raw_value is truncated to this many characters

REJECT_SCHEMA = pl.Schema(
    {"_row": pl.Int64(), "raw_value": pl.String(), "reason": pl.String(), "check": pl.String()}
)


@dataclass
class ReadResult:
    """What a table reader delivers.

    Warnings
    --------
    ``frame`` is lazy and may read a transcoded temporary file when collected. Keep the result (or
    pass ``workdir``) until you have collected it; :meth:`close` removes its temporary files early.
    Without ``workdir`` temporary files live in one process temp folder removed at exit.
    """

    frame: pl.LazyFrame
    columns: list[str]
    encoding: str | None
    rejects: pl.DataFrame
    rows_delivered: int | None
    temp_files: list[Path] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for p in self.temp_files:
            with contextlib.suppress(OSError):
                p.unlink()
        self.temp_files.clear()

    def __enter__(self) -> ReadResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Document:
    text: str
    title: str | None
    encoding: str | None
    pages: int | None


def _rejects(rows: Iterable[tuple[int, str, str, str]]) -> pl.DataFrame:
    rows = list(rows)
    return pl.DataFrame(
        {
            "_row": [r[0] for r in rows],
            "raw_value": [r[1][:RAW_MAX] for r in rows],
            "reason": [r[2] for r in rows],
            "check": [r[3] for r in rows],
        },
        schema=REJECT_SCHEMA,
    )


def _fields_reason(n: int, width: int) -> str:
    return f"row has {n} field{'s' if n != 1 else ''}, header has {width}"


def _empty_result(options: ReadOptions, codec: str | None) -> ReadResult:
    cols = list(options.columns or []) if not options.header else []
    schema = {c: pl.String() for c in cols} | {"_row": pl.Int64()}
    return ReadResult(pl.LazyFrame(schema=schema), cols, codec, _rejects([]), 0)
