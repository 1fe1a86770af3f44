"""The one error every reader raises: a file that cannot be read as declared."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


class ReaderError(ValueError):
    """A file that cannot be read as declared; the message names the file and the problem."""


@contextlib.contextmanager
def parser_errors(path: str, fmt: str) -> Iterator[None]:
    """Turn an error a parser library raised inside the block (polars, pyarrow, or a panic of
    polars' Rust code: pyo3's ``PanicException``, a ``BaseException``) into a
    :class:`ReaderError` naming the file, with only the first line of the parser's message (polars
    appends a traceback to errors raised inside its engine). Other errors pass through."""
    try:
        yield
    except BaseException as e:
        if not _from_a_parser(e):
            raise
        text = str(e).strip()
        detail = text.splitlines()[0] if text else type(e).__name__
        raise ReaderError(f"{path}: cannot read as {fmt}: {detail}") from None


def _from_a_parser(e: BaseException) -> bool:
    import polars as pl

    return (
        isinstance(e, pl.exceptions.PolarsError)
        or type(e).__module__.startswith("pyarrow")
        or type(e).__name__ == "PanicException"
    )
