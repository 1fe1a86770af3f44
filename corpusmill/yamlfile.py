"""Reading a YAML config file into a mapping, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_mapping(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """The top-level mapping of a YAML file; ``error`` (naming the file) when it is missing,
    not YAML, or not a mapping. ``what`` names the file's role, e.g. "sources file"."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping at the top level of the {what}")
    return raw
