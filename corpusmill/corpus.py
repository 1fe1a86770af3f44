"""What a corpus is: its declaration (:class:`CorpusSpec`) and what a build returns (:class:`BuildResult`).

Every corpus builder returns a :class:`BuildResult`; :meth:`CorpusSpec.build` runs the builder and
checks the result against the declaration (schema, exclusion checks), so a builder that drifts from
its declared schema fails the build instead of publishing a table its quality suite never saw.
The concrete corpora are declared in :mod:`corpusmill.corpora`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import polars as pl

#: Columns every excluded-rows frame carries: the rule that dropped the row and why.
EXCLUDED_COLUMNS = ("reason", "check")


class CorpusError(ValueError):
    """A corpus build that does not match its declaration, or an unknown corpus."""


@dataclass
class BuildResult:
    """One corpus build: the rows, the rows left out (with ``reason`` and ``check``), statistics."""

    frame: pl.DataFrame
    excluded: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    #: Text files stored beside the published version, by name (``"tokenizer"``: the
    #: tokenizer.json a text corpus's ``n_tokens`` were counted with; see corpusmill.corpora).
    files: dict[str, str] = field(default_factory=dict)
    #: Set when the result is a published version read back instead of built
    #: (corpusmill.corpora.build_or_reuse): publishing it again adds nothing.
    from_version: int | None = None


@dataclass(frozen=True)
class CorpusSpec:
    """The one declaration of a corpus.

    Attributes
    ----------
    name
        The table name users query (``text_corpus`` ...).
    inputs
        The canonical tables it is built from; the corpus is built when any of them has rows.
    id_column
        The column that identifies a row (versions are sorted by it, shards reference it).
    schema
        The exact schema of the built frame; its quality suite takes its column types from here.
    defaults
        The build's settings when none are given: an instance of a frozen dataclass (the
        configuration model); the manifest's config hash is the hash of the settings used.
    builder
        ``builder(inputs, config) -> BuildResult``, ``inputs`` keyed by table name (frames, or
        :class:`~corpusmill.byequipment.ByEquipment` for the tables in ``by_equipment``).
    checks
        Every ``check`` an excluded row may carry.
    description
        One sentence: what the corpus holds (the Dagster UI shows it).
    input_columns
        Input table -> the only columns of it the builder reads (read with projection pushdown:
        the other columns are never decoded); tables not listed are read whole.
    by_equipment
        Input tables the builder takes as a :class:`~corpusmill.byequipment.ByEquipment` (read a
        few machines at a time, so a build of a large sensor table holds one group of machines);
        the builder must accept a frame there too.
    store
        ``store(lake_root, frame)``, run after each publish, for a corpus whose rows reference
        content kept outside the table (image bytes stored once by hash); ``None`` for the rest.
    """

    name: str
    inputs: tuple[str, ...]
    id_column: str
    schema: pl.Schema
    defaults: Any
    builder: Callable[[Mapping[str, Any], Any], BuildResult]
    checks: tuple[str, ...]
    description: str
    input_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    by_equipment: tuple[str, ...] = ()
    store: Callable[[Path, pl.DataFrame], None] | None = None

    @property
    def config_model(self) -> type:
        return type(self.defaults)

    def resolve(self, settings: Mapping[str, Any] | None) -> Any:
        """The defaults with ``settings`` (a ``corpora.<name>`` block of the sources file) applied.

        Raises
        ------
        CorpusError
            An unknown key, a value of the wrong type, or settings the builder refuses; the
            message names the corpus and the key.
        """
        known = {f.name: getattr(self.defaults, f.name) for f in fields(self.defaults)}
        updates = {}
        for key, value in (settings or {}).items():
            if key not in known:
                msg = (
                    f"corpora.{self.name}: unknown setting {key!r}; settings: "
                    f"{', '.join(sorted(known))}"
                )
                raise CorpusError(msg)
            updates[key] = _coerce(f"corpora.{self.name}.{key}", value, known[key])
        try:
            return replace(self.defaults, **updates)
        except ValueError as e:
            raise CorpusError(f"corpora.{self.name}: {e}") from None

    def config_dict(self, config: Any) -> dict[str, Any]:
        """The resolved settings as plain data (what the config hash is taken of).

        A non-empty ``confidential`` block (declared supplier names, serial patterns ...) is
        replaced by its sha256 and term count, so that manifests shipped beside a corpus never
        list the terms it redacted; a change to the terms still changes the config hash."""
        out = asdict(config)
        if out.get("confidential"):
            import hashlib
            import json

            blob = json.dumps(out["confidential"], sort_keys=True, ensure_ascii=False).encode()
            out["confidential"] = {"sha256": hashlib.sha256(blob).hexdigest()}
        return out

    def build(self, inputs: Mapping[str, Any], config: Any = None) -> BuildResult:
        """Run the builder and check its result against this declaration.

        Raises
        ------
        CorpusError
            An input is missing, or the result's schema or exclusion checks differ from the
            declaration (a bug in the builder: nothing is published).
        """
        missing = [t for t in self.inputs if t not in inputs]
        if missing:
            msg = f"{self.name}: inputs {missing} not given (needs {list(self.inputs)})"
            raise CorpusError(msg)
        result = self.builder(inputs, self.defaults if config is None else config)
        self.check(result)
        return result

    def check(self, result: BuildResult) -> None:
        if result.frame.schema != self.schema:
            msg = (
                f"{self.name}: the builder returned schema {dict(result.frame.schema)}, "
                f"but the corpus declares {dict(self.schema)}"
            )
            raise CorpusError(msg)
        absent = [c for c in EXCLUDED_COLUMNS if c not in result.excluded.columns]
        if absent:
            msg = f"{self.name}: excluded rows lack column(s) {absent}"
            raise CorpusError(msg)
        unknown = set(result.excluded.get_column("check").unique().to_list()) - set(self.checks)
        if unknown:
            msg = f"{self.name}: excluded rows carry undeclared check(s) {sorted(map(str, unknown))}"
            raise CorpusError(msg)

    def excluded_by_check(self, excluded: pl.DataFrame) -> pl.DataFrame:
        """Rows left out per ``check``, most first."""
        return (
            excluded.group_by("check").agg(pl.len().alias("rows")).sort("rows", "check",
                                                                           descending=[True, False])
        )

    def missing_inputs(self, heights: Mapping[str, int]) -> str | None:
        """Why the corpus cannot be built (``"skipped: no documents, no maintenance_records"``),
        or None when an input has rows. ``heights``: table -> row count; absent = 0."""
        if any(heights.get(t, 0) > 0 for t in self.inputs):
            return None
        return "skipped: " + ", ".join(f"no {t}" for t in self.inputs)

    def items(self, frame: pl.DataFrame) -> pl.DataFrame:
        """One row per training sample: ``item_id``, ``n_tokens``, ``n_bytes`` (the planner's sizes).

        Tokens (what a step's compute grows with): the corpus's ``n_tokens`` for text; one per
        channel per step for a window; for an image, its 16×16 patches (what a vision transformer
        reads); for a row of features (``process_quality``), its non-null numeric cells; else one.
        Bytes: the UTF-8 length of the string columns, 8 per numeric cell, 8 per window cell, plus
        the stored object (``size_bytes``) a row references.
        """
        schema = frame.schema
        numeric = [c for c, t in schema.items() if t.is_numeric() and c != self.id_column]
        if "n_tokens" in schema:
            tokens = pl.col("n_tokens").cast(pl.Int64)
        elif "n_steps" in schema:
            tokens = (pl.col("n_steps") * pl.col("channels").list.len()).cast(pl.Int64)
        elif {"width", "height", "size_bytes"} <= set(schema):
            patches = (pl.col("width") + 15) // 16 * ((pl.col("height") + 15) // 16)
            tokens = patches.cast(pl.Int64).fill_null(1)
        elif numeric:
            tokens = pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int64) for c in numeric])
        else:
            tokens = pl.lit(1, pl.Int64)
        size = pl.sum_horizontal(
            [pl.col(c).str.len_bytes().fill_null(0) for c, t in schema.items() if t == pl.String]
            + [pl.col(c).is_not_null().cast(pl.Int64) * 8 for c in numeric]
            or [pl.lit(0)]
        )  # fmt: skip
        if "n_steps" in schema:
            size = size + pl.col("n_steps") * pl.col("channels").list.len() * 8
        if "size_bytes" in schema:
            size = size + pl.col("size_bytes").fill_null(0)
        return frame.select(
            pl.col(self.id_column).cast(pl.String).alias("item_id"),
            tokens.clip(lower_bound=1).alias("n_tokens"),
            size.cast(pl.Int64).clip(lower_bound=1).alias("n_bytes"),
        ).sort("item_id")


def _coerce(where: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the setting's default (YAML lists become tuples)."""
    kind = type(default)
    ok = (
        isinstance(value, bool) if kind is bool
        else isinstance(value, int) and not isinstance(value, bool) if kind is int
        else isinstance(value, int | float) and not isinstance(value, bool) if kind is float
        else isinstance(value, list | tuple) if kind is tuple
        else isinstance(value, kind)
    )  # fmt: skip
    if not ok:
        msg = f"{where}: expected {kind.__name__} like {default!r}, got {value!r}"
        raise CorpusError(msg)
    if kind is tuple:
        inner = type(default[0]) if default else None
        items = tuple(float(v) if inner is float and isinstance(v, int) else v for v in value)
        if inner is not None and not all(isinstance(v, inner) for v in items):
            msg = f"{where}: expected a list of {inner.__name__} like {list(default)!r}, got {value!r}"
            raise CorpusError(msg)
        return items
    return float(value) if kind is float else value
