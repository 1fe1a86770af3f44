"""Excel workbooks (.xlsx, through openpyxl, imported when first used): one sheet or several."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from corpusmill.config import ReadOptions
from corpusmill.readers.errors import ReaderError
from corpusmill.readers.native import _native_frame
from corpusmill.readers.results import ReadResult, _fields_reason, _rejects


def _read_excel(path: str, options: ReadOptions, local: Path) -> ReadResult:
    import openpyxl

    # a file object, not the path: the declared format decides, not the file name's extension
    fh = open(local, "rb")  # noqa: SIM115 - closed with the workbook below
    try:
        wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a non-xlsx file
        fh.close()
        msg = f"{path}: not an .xlsx workbook: {e}"
        raise ReaderError(msg) from None
    try:
        wanted = options.sheet if isinstance(options.sheet, list) else [options.sheet or 0]
        frames: list[pl.DataFrame] = []
        bad: list[tuple[int, str, str, str]] = []
        total = 0
        columns: dict[str, None] = {}
        for s in wanted:
            try:
                ws = wb.worksheets[s] if isinstance(s, int) else wb[s]
            except (IndexError, KeyError):
                msg = f"{path}: no sheet {s!r} (sheets: {', '.join(wb.sheetnames)})"
                raise ReaderError(msg) from None
            it = ws.iter_rows(values_only=True)
            for _ in range(options.skip_rows):
                next(it, None)
            if options.header:
                head = next(it, None) or ()
                names = [str(v) if v is not None else None for v in head]
                while names and names[-1] is None:
                    names.pop()
                cols = [n if n is not None else f"column_{i + 1}" for i, n in enumerate(names)]
            else:
                cols = list(options.columns or [])
            width = len(cols)
            rows: list[tuple[int, tuple[Any, ...]]] = []
            for n, row in enumerate(it, 1):
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                    continue
                total += 1
                extra = [v for v in row[width:] if v is not None]
                if extra:
                    used = len(row) - next(i for i, v in enumerate(reversed(row)) if v is not None)
                    raw = ",".join("" if v is None else str(v) for v in row[:used])
                    reason = f"sheet {ws.title!r}: {_fields_reason(used, width)}"
                    bad.append((n, raw, reason, "ragged_row"))
                    continue
                rows.append((n, tuple(row[:width]) + (None,) * (width - len(row))))
            df = _native_frame(cols, rows)
            if isinstance(options.sheet, list):
                df = df.with_columns(pl.lit(ws.title, dtype=pl.String()).alias("_sheet"))
            frames.append(df)
            columns.update(dict.fromkeys(cols))
    finally:
        wb.close()
        fh.close()
    df = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    cols = list(columns)
    order = [*cols, *(["_sheet"] if "_sheet" in df.columns else []), "_row"]
    return ReadResult(df.select(order).lazy(), cols, None, _rejects(bad), total)
