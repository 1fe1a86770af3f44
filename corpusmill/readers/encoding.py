"""Encodings: detection (byte-order marks, UTF-8, then charset-normalizer), the codec a
reader records, strict streamed decoding with the byte offset and line of the first error,
and UTF-8 transcoding into temp space.
"""

from __future__ import annotations

import codecs
import io
import tempfile
from pathlib import Path

from corpusmill.config import ReadOptions
from corpusmill.readers.errors import ReaderError
from corpusmill.readers.files import CHUNK, _tmpdir

SAMPLE = 1 << 20  # bytes looked at for encoding detection

_UTF8 = frozenset({"utf-8", "utf-8-sig"})
_GB_FAMILY = frozenset({"gb2312", "gbk", "hz", "gb18030", "cp936"})


def _codec_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        msg = f"unknown encoding {name!r} (use a Python codec name such as utf-8, gb18030, utf-16)"
        raise ReaderError(msg) from None


def _looks_binary(data: bytes) -> bool:
    if not data:
        return False
    if b"\x00" in data:
        return True
    controls = sum(data.count(bytes([c])) for c in (*range(1, 9), 11, *range(14, 27), *range(28, 32)))
    return controls > max(1, len(data) // 100)


def detect_encoding(data: bytes) -> str:
    """The codec of a sample of text bytes.

    A byte-order mark decides (``utf-8-sig``, ``utf-16``, ``utf-32``); bytes that are valid UTF-8
    are ``utf-8``; otherwise charset-normalizer decides, with GB2312/GBK mapped to their superset
    ``gb18030``. UTF-16 without a BOM is not detected (declare it).

    Raises
    ------
    ReaderError
        The bytes are not text in any encoding ("not text: ...").
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _looks_binary(data):
        msg = "not text: the bytes contain NUL or control characters (binary data?)"
        raise ReaderError(msg)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        msg = "not text: no text encoding fits these bytes"
        raise ReaderError(msg)
    best = matches[0]
    # Short CJK samples often tie (big5, cp949, gb18030 ... all at chaos 0); this product's
    # sources are mostly Chinese plants, so a tie that includes the GB family goes to gb18030.
    tied = [m for m in matches if m.chaos <= best.chaos and m.coherence >= best.coherence]
    if any(_codec_name(m.encoding) in _GB_FAMILY for m in tied):
        return "gb18030"
    name = _codec_name(best.encoding)
    if name in _GB_FAMILY:
        return "gb18030"
    if name == "ascii":
        return "utf-8"
    return name


def _decode_error(path: str, codec: str, offset: int, line: int, detail: str) -> ReaderError:
    msg = (
        f"{path}: cannot decode as {codec} at byte offset {offset} (line {line}): {detail}; "
        "declare the right read.encoding or use 'auto'"
    )
    return ReaderError(msg)


def _stream_decode(src: Path, codec: str, shown: str, out: io.TextIOBase | None) -> None:
    """Decode ``src`` chunk by chunk (writing UTF-8 to ``out`` if given); raise on the first error."""
    dec = codecs.getincrementaldecoder(codec)(errors="strict")
    offset = 0
    newlines = 0
    with open(src, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            final = not chunk
            try:
                pending = dec.getstate()[0]
                text = dec.decode(chunk, final=final)
            except UnicodeDecodeError as e:
                pend = len(pending) if isinstance(pending, bytes) else 0
                at = max(0, offset - pend + e.start)
                before = chunk[: max(0, e.start - pend)].decode(codec, errors="replace")
                line = newlines + before.count("\n") + 1
                raise _decode_error(shown, codec, at, line, e.reason) from None
            if out is not None and text:
                out.write(text)
            newlines += text.count("\n")
            offset += len(chunk)
            if final:
                return


def _resolve_encoding(path: str, local: Path, options: ReadOptions) -> tuple[str, bytes]:
    with open(local, "rb") as f:
        sample = f.read(SAMPLE)
    if options.encoding.lower() == "auto":
        try:
            return detect_encoding(sample), sample
        except ReaderError as e:
            msg = f"{path}: {e}"
            raise ReaderError(msg) from None
    codec = _codec_name(options.encoding)
    if codec == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    return codec, sample


def _utf8_path(
    path: str, local: Path, codec: str, workdir: Path | None, temps: list[Path]
) -> Path:
    """``local`` itself when UTF-8, else a streamed UTF-8 transcoding of it in temp space."""
    if codec in _UTF8:
        return local
    fd, name = tempfile.mkstemp(prefix="utf8-", suffix=".txt", dir=_tmpdir(workdir))
    temps.append(Path(name))
    with open(fd, "w", encoding="utf-8", newline="") as out:
        _stream_decode(local, codec, path, out)
    return Path(name)


def _decode_all(path: str, local: Path, options: ReadOptions) -> tuple[str, str]:
    codec, _ = _resolve_encoding(path, local, options)
    data = local.read_bytes()
    try:
        return data.decode(codec).removeprefix("\ufeff"), codec
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise _decode_error(path, codec, e.start, line, e.reason) from None
