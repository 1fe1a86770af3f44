"""The one error every reader raises: a file that cannot be read as declared."""

from __future__ import annotations


class ReaderError(ValueError):
    """A file that cannot be read as declared; the message names the file and the problem."""
