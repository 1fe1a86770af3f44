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
from corpusmill.readers.errors import ReaderError, parser_errors

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

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
    #: the file and format it was read as (set by ``read_table``), named by parse errors
    path: str = field(default="", repr=False)
    format: str = field(default="", repr=False)

    def batches(self, chunk_size: int) -> Iterator[pl.DataFrame]:
        """The rows in batches of at most ``chunk_size``, as the ingest reads them.

        Raises
        ------
        ReaderError
            A parse error that only shows when the rows are decoded (a corrupt Parquet page, a
            malformed line the reader's checks let through), or fewer rows than the file holds,
            naming the file.
        """
        stream = self.frame.collect_batches(chunk_size=chunk_size)
        read = 0
        while True:
            with parser_errors(self.path, self.format):
                batch = next(stream, None)
            if batch is None:
                break
            read += batch.height
            yield batch
        self._check_count(read)

    def _check_count(self, read: int) -> None:
        """Rows read plus rows rejected must be the records the file holds (a Parquet footer's
        row count, the data lines of a delimited file): a damaged file that decodes to fewer
        rows is an error, not a silent loss."""
        if self.rows_delivered is not None and read + self.rejects.height != self.rows_delivered:
            msg = (f"{self.path}: cannot read as {self.format}: the file holds "
                   f"{self.rows_delivered:,} records but {read:,} rows were read and "
                   f"{self.rejects.height:,} rejected")  # fmt: skip
            raise ReaderError(msg)

    def collect(self) -> pl.DataFrame:
        """All rows at once (small files: joins, sidecars); parse errors as in :meth:`batches`."""
        with parser_errors(self.path, self.format):
            frame = self.frame.collect()
        self._check_count(frame.height)
        return frame

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
