"""Checks of a loaded sources file against the disk, before anything is run or written.

:func:`corpusmill.config.load` validates the file itself and never touches the data; this module
looks at what the sources name: every source's ``path`` must match at least one file (unless the
source sets ``allow_empty: true``, then it is a warning), and the join and sidecar files of a
source that has files must exist. File matching is ingest's own
(:func:`corpusmill.ingest.resolve_files`), so what is checked here is what ingest will read.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from corpusmill.config import ConfigError, Source, SourcesConfig, is_uri
from corpusmill.ingest import IngestError, resolve_files

__all__ = ["EmptySourceWarning", "PathError", "check_paths"]


class PathError(ConfigError):
    """Sources whose files are not there; the message lists every one of them."""


class EmptySourceWarning(UserWarning):
    """A source with ``allow_empty: true`` whose path matches no file."""


def _where(cfg: SourcesConfig, src: Source) -> str:
    return f"source {src.name!r}: path {src.path!r}" + (
        "" if is_uri(src.path) else f" (under {cfg.base_dir})"
    )


def _missing_side_files(cfg: SourcesConfig, src: Source) -> list[str]:
    """Join and sidecar files of ``src`` (local ones) that do not exist."""
    out = []
    side = [(f"join[{i}]", j.path) for i, j in enumerate(src.join)]
    if src.sidecar is not None:
        side.append(("sidecar", src.sidecar.path))
    for what, path in side:
        if not is_uri(path) and not (cfg.base_dir / path).is_file():
            out.append(f"source {src.name!r}: {what} file {path!r} not found (under {cfg.base_dir})")
    return out


def check_paths(
    cfg: SourcesConfig,
    *,
    path: str | Path | None = None,
    storage_options: dict | None = None,
    remote: bool = False,
) -> dict[str, list[str]]:
    """The files each source would read, after checking that every source has some.

    Parameters
    ----------
    path
        The sources file, named in the message (default: the folder it was loaded from).
    remote
        Also list ``s3://`` (fsspec) paths; off by default, so a check needs no network or
        credentials (remote sources are then left out of the result and checked at ingest).

    Returns
    -------
    source name -> its files (sorted), as ingest resolves them.

    Raises
    ------
    PathError
        One line per problem: a source whose path matches no file (and that does not set
        ``allow_empty: true``), a path that resolves outside the data roots, a missing join or
        sidecar file. A source with ``allow_empty: true`` and no files gives an
        :class:`EmptySourceWarning` instead.
    """
    found: dict[str, list[str]] = {}
    problems: list[str] = []
    for src in cfg.sources:
        if src.kind == "equipment":
            continue  # read from the registry, not from files
        if is_uri(src.path) and not remote:
            continue
        try:
            files = resolve_files(cfg, src, storage_options=storage_options)
        except (IngestError, OSError) as e:
            problems.append(f"source {src.name!r}: {e}")
            continue
        found[src.name] = files
        if not files:
            if src.allow_empty:
                msg = f"{_where(cfg, src)} matches no file (allow_empty: true, so it reads nothing)"
                warnings.warn(msg, EmptySourceWarning, stacklevel=2)
            else:
                problems.append(
                    f"{_where(cfg, src)} matches no file "
                    "(fix the path, or set allow_empty: true if the export is not delivered yet)"
                )
            continue
        problems += _missing_side_files(cfg, src)
    if problems:
        head = f"{path or cfg.base_dir}: {len(problems)} problem(s) with the files the sources name"
        raise PathError("\n".join([head, *(f"  - {p}" for p in problems)]))
    return found
