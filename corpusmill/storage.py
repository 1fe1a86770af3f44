"""Where the lake's files live: a local folder or an object-storage prefix (``s3://bucket/prefix``).

This module is the one place that knows the difference. A location is a string: a local path
(used as a :class:`pathlib.Path`, exactly as before) or a URI. :func:`join` keeps the kind
(``Path`` in, ``Path`` out; URI in, URI string out), so callers never build ``Path("s3://...")``
(which would fold the ``//``).

For ``s3://`` locations the credentials and endpoint come from the environment at the moment of
each call (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_ENDPOINT_URL``, ``AWS_REGION``); they are handed to deltalake (:func:`storage_options`) and
pyarrow (:func:`filesystem`) and never kept on an object, written to a file or logged.

The lake is put on object storage with ``CORPUSMILL_LAKE=s3://bucket/prefix`` (see
:meth:`corpusmill.home.Home.lake` and docs/operations.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import pyarrow.fs as pafs

#: The environment variable that puts the lake somewhere else than ``<home>/lake``.
LAKE_ENV = "CORPUSMILL_LAKE"

#: URI schemes the lake can live on (everything else is a local path).
REMOTE_SCHEMES = ("s3",)

#: A location: a local path, or a URI string for object storage.
Where = str | Path


def is_remote(where: Where | os.PathLike[str]) -> bool:
    """Whether ``where`` is an object-storage URI (``s3://...``), not a local path."""
    return isinstance(where, str) and urlsplit(where).scheme in REMOTE_SCHEMES


def normalize(where: Where | os.PathLike[str]) -> Where:
    """A URI without a trailing ``/`` (``s3://bucket/prefix``), or a local :class:`Path`."""
    if isinstance(where, str) and "://" in where:
        parts = urlsplit(where)
        if parts.scheme not in REMOTE_SCHEMES:
            msg = (
                f"{where}: unsupported lake location scheme {parts.scheme!r}; use a local folder "
                f"or one of {', '.join(s + '://' for s in REMOTE_SCHEMES)}"
            )
            raise ValueError(msg)
        if not parts.netloc:
            msg = f"{where}: no bucket in the lake location (expected s3://bucket/prefix)"
            raise ValueError(msg)
        return f"{parts.scheme}://{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    return Path(where)


def join(root: Where, *parts: str) -> Where:
    """``root / part / ...`` of the same kind as ``root``."""
    if is_remote(root):
        tail = "/".join(p.strip("/") for p in parts if p)
        return f"{str(root).rstrip('/')}/{tail}" if tail else str(root)
    return Path(root).joinpath(*parts)


def relative(where: Where, root: Where) -> str:
    """``where`` relative to ``root``, with ``/`` separators."""
    if is_remote(where):
        base = str(root).rstrip("/") + "/"
        if not str(where).startswith(base):
            msg = f"{where} is not under {root}"
            raise ValueError(msg)
        return str(where)[len(base) :]
    return Path(where).relative_to(root).as_posix()


def display(where: Where) -> str:
    """The location as a user sees it (a URI, or an absolute local path)."""
    return str(where) if is_remote(where) else str(Path(where).resolve())


# -- credentials, from the environment at each call ---------------------------------------------


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def storage_options(where: Where) -> dict[str, str] | None:
    """deltalake/polars ``storage_options`` for ``where`` (None for a local path).

    Only what the environment sets is passed; an ``http://`` endpoint (a local S3-compatible
    server) also sets ``AWS_ALLOW_HTTP``. Concurrent commits to one table are safe without a lock
    table: deltalake commits to S3 with conditional writes.
    """
    if not is_remote(where):
        return None
    opts = {
        key: value
        for key, value in (
            ("AWS_ACCESS_KEY_ID", _env("AWS_ACCESS_KEY_ID")),
            ("AWS_SECRET_ACCESS_KEY", _env("AWS_SECRET_ACCESS_KEY")),
            ("AWS_SESSION_TOKEN", _env("AWS_SESSION_TOKEN")),
            ("AWS_ENDPOINT_URL", _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")),
            ("AWS_REGION", _env("AWS_REGION", "AWS_DEFAULT_REGION")),
        )
        if value
    }
    if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        opts["AWS_ALLOW_HTTP"] = "true"
    return opts


def filesystem(where: Where) -> tuple[pafs.FileSystem, str]:
    """(a pyarrow FileSystem, the path of ``where`` inside it).

    pyarrow's ``S3FileSystem`` ignores ``AWS_ENDPOINT_URL``, so the endpoint is passed explicitly.
    """
    import pyarrow.fs as pafs

    if not is_remote(where):
        return pafs.LocalFileSystem(), str(Path(where).absolute())
    parts = urlsplit(str(where))
    kwargs: dict[str, str] = {}
    endpoint = _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    if endpoint:
        ep = urlsplit(endpoint)
        kwargs["endpoint_override"] = ep.netloc or ep.path
        kwargs["scheme"] = ep.scheme or "https"
    region = _env("AWS_REGION", "AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    key, secret = _env("AWS_ACCESS_KEY_ID"), _env("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        kwargs |= {"access_key": key, "secret_key": secret}
        token = _env("AWS_SESSION_TOKEN")
        if token:
            kwargs["session_token"] = token
    fs = pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]
    return fs, f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")


def fs_path(uri: str) -> str:
    """The path of a file URI inside :func:`filesystem` (``s3://b/k`` -> ``b/k``; ``file://``)."""
    if uri.startswith("file://"):
        return uri.removeprefix("file://")
    if is_remote(uri):
        parts = urlsplit(uri)
        return f"{parts.netloc}/{parts.path.lstrip('/')}"
    return uri


# -- files ---------------------------------------------------------------------------------------


def exists(where: Where) -> bool:
    if not is_remote(where):
        return Path(where).exists()
    import pyarrow.fs as pafs

    fs, path = filesystem(where)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def is_file(where: Where) -> bool:
    if not is_remote(where):
        return Path(where).is_file()
    import pyarrow.fs as pafs

    fs, path = filesystem(where)
    return fs.get_file_info(path).type == pafs.FileType.File


def is_dir(where: Where) -> bool:
    """A folder (on object storage: a prefix some object lies under)."""
    if not is_remote(where):
        return Path(where).is_dir()
    import pyarrow.fs as pafs

    fs, path = filesystem(where)
    return fs.get_file_info(path).type == pafs.FileType.Directory


def subfolders(where: Where) -> list[Where]:
    """The folders directly in ``where``, sorted (none when it does not exist)."""
    if not is_remote(where):
        folder = Path(where)
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    import pyarrow.fs as pafs

    fs, path = filesystem(where)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)
    return [join(where, n) for n in names]


def size(where: Where) -> int | None:
    """A file's size in bytes, None when there is no such file."""
    if not is_remote(where):
        p = Path(where)
        return p.stat().st_size if p.is_file() else None
    import pyarrow.fs as pafs

    fs, path = filesystem(where)
    info = fs.get_file_info(path)
    return info.size if info.type == pafs.FileType.File else None


def read_bytes(where: Where) -> bytes:
    if not is_remote(where):
        return Path(where).read_bytes()
    fs, path = filesystem(where)
    try:
        with fs.open_input_stream(path) as fh:
            return fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no such object") from None


def read_text(where: Where) -> str:
    return read_bytes(where).decode("utf-8")


def write_bytes(where: Where, data: bytes, *, crash: str | None = None) -> None:
    """Write a whole file: readers see the old content or the new, never a part.

    A local file is written to a temporary name beside it and renamed into place (what a killed
    writer left under such a name is removed first); an object-storage PUT is atomic by itself.
    ``crash`` names the :mod:`corpusmill.faults` point just before the file appears.
    """
    from corpusmill.faults import crash_point

    if is_remote(where):
        fs, path = filesystem(where)
        if crash:
            crash_point(crash, where)
        with fs.open_output_stream(path) as fh:
            fh.write(data)
        return
    path = Path(where)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    if crash:
        crash_point(crash, where)
    os.replace(tmp, path)


def write_text(where: Where, text: str, *, crash: str | None = None) -> None:
    write_bytes(where, text.encode("utf-8"), crash=crash)


def make_dirs(where: Where) -> None:
    """Create a local folder (object storage has no folders: nothing to do)."""
    if not is_remote(where):
        Path(where).mkdir(parents=True, exist_ok=True)
