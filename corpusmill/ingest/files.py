"""A source's files, resolved inside the declared data roots and stat'ed; the hash of its config."""

from __future__ import annotations

import os
from pathlib import Path

from corpusmill import lake
from corpusmill.config import Source, SourcesConfig, is_uri

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")


class IngestError(ValueError):
    """A source that cannot be ingested as declared (e.g. a path outside the data roots)."""


def _fs(path: str, storage_options: dict | None):
    import fsspec

    return fsspec.core.url_to_fs(path, **(storage_options or {}))[0]


def resolve_files(
    cfg: SourcesConfig, src: Source, *, storage_options: dict | None = None
) -> list[str]:
    """The files a source's ``path`` names, sorted; each must lie inside a declared data root.

    Raises
    ------
    IngestError
        A path (or a file it matches) resolves outside every data root.
    """
    roots = cfg.data_root_paths()
    if is_uri(src.path):
        fs = _fs(src.path, storage_options)
        fs.invalidate_cache()  # fsspec reuses filesystems: a cached listing would hide new objects
        proto = src.path.split("://", 1)[0]
        found = [f"{proto}://{p}" for p in sorted(fs.glob(src.path))] if _has_glob(src.path) else (
            [f"{proto}://{p}" for p in sorted(fs.find(src.path))] if fs.isdir(src.path)
            else [src.path]
        )  # fmt: skip
        for f in found:
            inside = any(is_uri(r) and f.startswith(r.rstrip("/") + "/") for r in roots)
            if not inside or ".." in f.split("://", 1)[-1].split("/"):
                _outside(src, f, roots)
        return [f for f in found if not f.endswith("/")]
    pattern = (cfg.base_dir / src.path).resolve() if not _has_glob(src.path) else None
    if pattern is not None and pattern.is_dir():
        found = sorted(str(p) for p in pattern.rglob("*") if p.is_file())
    elif pattern is not None:
        found = [str(pattern)] if pattern.exists() else []
    else:
        # an absolute pattern is globbed from its anchor (pathlib globs relative patterns only)
        given = Path(src.path)
        base, rel = ((Path(given.anchor), str(given.relative_to(given.anchor)))
                     if given.is_absolute() else (cfg.base_dir, src.path))  # fmt: skip
        found = sorted(str(p) for p in base.glob(rel) if p.is_file())
    local_roots = [Path(r) for r in roots if not is_uri(r)]
    for f in found:
        real = Path(os.path.realpath(f))
        if not any(real.is_relative_to(r) for r in local_roots):
            _outside(src, f, roots)
    if src.format == "images":
        found = [f for f in found if f.lower().endswith(IMAGE_SUFFIXES)]
    return found


def provenance_path(cfg: SourcesConfig, file: str) -> str:
    """The ``_file`` a row keeps: ``file`` relative to the sources file's folder, else to the data
    root holding it (POSIX separators); a URI unchanged.

    Rows therefore name the same file wherever the data sits, and a corpus built from the same
    data at another path has the same content hash.
    """
    if is_uri(file):
        return file
    real = Path(os.path.realpath(file))
    anchors = [cfg.base_dir.resolve()] + [Path(r) for r in cfg.data_root_paths() if not is_uri(r)]
    for anchor in anchors:
        if real.is_relative_to(anchor):
            return real.relative_to(anchor).as_posix()
    return real.as_posix()  # not reached for resolved files: they lie inside a data root


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _outside(src: Source, f: str, roots: list[str]) -> None:
    msg = (
        f"source {src.name!r}: {f} is outside the declared data roots ({', '.join(roots)}); "
        "refused. Add its folder to data_roots in the sources file if it is meant to be read."
    )
    raise IngestError(msg)


def _stat(path: str, storage_options: dict | None) -> tuple[int, int]:
    if is_uri(path):
        info = _fs(path, storage_options).info(path)
        mtime = info.get("LastModified") or info.get("mtime") or 0
        mtime_ns = int(mtime.timestamp() * 1e9) if hasattr(mtime, "timestamp") else int(mtime)
        return int(info.get("size") or 0), mtime_ns
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def source_hash(cfg: SourcesConfig, src: Source, extra: str = "") -> str:
    """Everything that shapes a source's rows besides its files: its YAML block, its site's zone,
    the equipment registry. A change re-ingests every file of the source. ``partition_by`` only
    groups the files into parts and shapes no row: changing it re-ingests nothing."""
    return lake.json_hash(
        {
            "source": src.model_dump(mode="json", exclude={"quality", "partition_by"}),
            "timezone": cfg.timezone_for(src),
            "equipment": [e.model_dump(mode="json") for e in cfg.equipment],
            "extra": extra,
        }
    )
