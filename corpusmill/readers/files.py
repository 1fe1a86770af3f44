"""Files, temp space and hashing: local paths and URIs opened, staged locally and hashed."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from corpusmill.config import is_uri
from corpusmill.readers.errors import ReaderError

CHUNK = 1 << 20  # 1 MiB: streaming reads, hashing and transcoding

_PROCESS_TMP: Path | None = None


def _tmpdir(workdir: Path | None) -> Path:
    global _PROCESS_TMP
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return Path(workdir)
    if _PROCESS_TMP is None:
        _PROCESS_TMP = Path(tempfile.mkdtemp(prefix="corpusmill-read-"))
        atexit.register(shutil.rmtree, _PROCESS_TMP, True)
    return _PROCESS_TMP


def _open(path: str, storage_options: dict | None) -> BinaryIO:
    if is_uri(path):
        import fsspec

        return fsspec.open(path, "rb", **(storage_options or {})).open()
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        msg = f"{path}: file not found"
        raise ReaderError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: is a folder, expected a file"
        raise ReaderError(msg) from None


def _local(path: str, storage_options: dict | None, workdir: Path | None, temps: list[Path]) -> Path:
    """A local path for ``path``: itself, or a streamed copy of a remote object in temp space."""
    if not is_uri(path):
        p = Path(path)
        if not p.exists():
            msg = f"{path}: file not found"
            raise ReaderError(msg)
        return p
    fd, name = tempfile.mkstemp(prefix="remote-", suffix=Path(path).suffix, dir=_tmpdir(workdir))
    temps.append(Path(name))
    with _open(path, storage_options) as src, open(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    return Path(name)


def sha256_file(path: str | Path, storage_options: dict | None = None) -> str:
    """SHA-256 of a file's bytes (local path or URI), read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with _open(str(path), storage_options) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
