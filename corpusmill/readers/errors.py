"""The one error every reader raises: a file that cannot be read as declared."""

from __future__ import annotations


class ReaderError(ValueError):
    """A file that cannot be read as declared; the message names the file and the problem."""


def is_parser_error(e: BaseException) -> bool:
    """An error a parser library raised (polars, pyarrow) that the reader's own checks missed,
    including a panic of polars' Rust code (pyo3's ``PanicException``, a ``BaseException``)."""
    import polars as pl

    return (
        isinstance(e, pl.exceptions.PolarsError)
        or type(e).__module__.startswith("pyarrow")
        or type(e).__name__ == "PanicException"
    )


def parser_error(path: str, fmt: str, e: BaseException) -> ReaderError:
    """``e`` as a :class:`ReaderError` naming the file: its first line, without the traceback
    polars appends to errors raised inside its engine."""
    text = str(e).strip()
    detail = text.splitlines()[0] if text else type(e).__name__
    return ReaderError(f"{path}: cannot read as {fmt}: {detail}")
