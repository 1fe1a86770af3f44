"""Map delivered rows onto the canonical model, one batch at a time.

A :class:`Mapper` turns a batch of delivered columns (plus ``_row``) into canonical rows and
quarantine rows. Nothing is dropped: a row either leaves as a canonical row (wide and batch files:
one per tag cell) or as exactly one quarantine row naming the first problem found.

The modules follow the concerns of a mapping, each owning the state it keeps across the batches
of a file: ``fields`` (text and numbers), ``units``, ``time``, ``equipment`` and ``reshape`` (wide
and batch files); ``staging`` runs a pass over a batch and ``mapper`` composes them. Only the names
below are meant for callers.
"""

from corpusmill.mapping.equipment import ALIAS_SCHEMA, AliasTally
from corpusmill.mapping.mapper import FileContext, Mapper
from corpusmill.mapping.problems import MappingError

__all__ = ["ALIAS_SCHEMA", "AliasTally", "FileContext", "Mapper", "MappingError"]
