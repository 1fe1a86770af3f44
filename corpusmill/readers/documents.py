"""Documents: text and Markdown (decoded as declared or detected) and PDF text (pypdf,
imported when first used).
"""

from __future__ import annotations

import io
import re
from typing import Literal

from corpusmill.config import ReadOptions
from corpusmill.readers.encoding import SAMPLE, _codec_name, _decode_error, detect_encoding
from corpusmill.readers.errors import ReaderError
from corpusmill.readers.files import _open
from corpusmill.readers.results import Document

_MD_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$")


def read_document(
    path: str,
    fmt: Literal["text", "markdown", "pdf"],
    options: ReadOptions,
    *,
    storage_options: dict | None = None,
) -> Document:
    """Read a whole document: text and Markdown (decoded as declared or detected) or PDF text.

    Markdown's title is its first ``# `` heading; a PDF's title is its metadata title.
    """
    if fmt == "pdf":
        from pypdf import PdfReader

        with _open(str(path), storage_options) as f:
            data = f.read()
        try:
            reader = PdfReader(io.BytesIO(data))
            pages = [p.extract_text() or "" for p in reader.pages]
            meta = reader.metadata
            title = (meta.title if meta else None) or None
        except Exception as e:  # noqa: BLE001 - pypdf on damaged bytes raises PdfReadError and
            # also AttributeError, TypeError, IndexError, RecursionError ... from deep in a page
            detail = str(e) or type(e).__name__
            msg = f"{path}: not a readable PDF: {detail}"
            raise ReaderError(msg) from None
        return Document("\n\n".join(pages).strip(), title, None, len(pages))
    if fmt not in ("text", "markdown"):
        msg = f"{path}: format {fmt!r} is not a document format"
        raise ReaderError(msg)
    with _open(str(path), storage_options) as f:
        data = f.read()
    if options.encoding.lower() == "auto":
        try:
            codec = detect_encoding(data[:SAMPLE])
        except ReaderError as e:
            msg = f"{path}: {e}"
            raise ReaderError(msg) from None
    else:
        codec = _codec_name(options.encoding)
    try:
        text = data.decode(codec).removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise _decode_error(str(path), codec, e.start, line, e.reason) from None
    text = text.replace("\r\n", "\n")
    title = None
    if fmt == "markdown":
        for ln in text.splitlines():
            if m := _MD_TITLE.match(ln):
                title = m.group(1)
                break
    return Document(text, title, codec, None)
