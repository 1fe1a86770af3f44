"""Equipment ids from the spellings a file delivers.

Exports spell one machine many ways ("CNC-01", "cnc01", "1号机床"); the registry in the sources file
maps each normalised spelling to one id. A spelling is resolved once per file, not per row, and
every spelling seen is tallied (with a suggestion when unknown), so the registry can be completed
from what the files actually contain.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from corpusmill.config import Source, normalize_alias
from corpusmill.mapping.fields import text
from corpusmill.mapping.problems import Problem, problem
from corpusmill.mapping.staging import Pass, distinct

ALIAS_SCHEMA = pl.Schema(
    {"_source": pl.String, "_file": pl.String, "alias": pl.String, "equipment_id": pl.String,
     "rows": pl.Int64, "suggestion": pl.String}
)  # fmt: skip


@dataclass
class AliasTally:
    """Every equipment spelling seen, with the id it resolved to (None when unknown)."""

    seen: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    suggestions: dict[str, str | None] = field(default_factory=dict)

    def frame(self, source: str, file: str) -> pl.DataFrame:
        rows = [
            {"_source": source, "_file": file, "alias": a, "equipment_id": eid, "rows": n,
             "suggestion": self.suggestions.get(a)}
            for (a, eid), n in sorted(self.seen.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ]  # fmt: skip
        return pl.DataFrame(rows, schema=ALIAS_SCHEMA)


class Equipment:
    """The equipment of one file: the registry, the tally, and per text column a small integer
    code per spelling seen so far, kept across the batches of the file."""

    def __init__(self, src: Source, aliases: dict[str, str]) -> None:
        self.src = src
        self.aliases = aliases  # normalised spelling -> registered id
        self.tally = AliasTally()
        self._codes: dict[str, dict[str, int]] = {}  # column -> spelling -> code
        self._code_info: dict[str, list[tuple[str | None, str | None]]] = {}  # (alias, id)

    def ids(self, p: Pass, *, tally: bool) -> tuple[pl.Expr, Problem | None] | None:
        """The equipment id per row, resolved once per distinct delivered spelling; ``tally``
        counts the spellings seen (once per row: only one pass over a batch may count)."""
        if p.has("__equipment"):
            alias, label = pl.col("__equipment"), "equipment"
        elif "equipment_id" in self.src.fields:
            label = self.src.fields["equipment_id"]
            alias = text(label)
        elif self.src.equipment:
            alias, label = pl.lit(self.src.equipment), "equipment"
        elif "equipment_id" in self.src.constants:
            alias, label = pl.lit(str(self.src.constants["equipment_id"])), "equipment"
        else:
            return None
        roots = alias.meta.root_names()
        frame = p.frame_of(roots) if len(roots) == 1 else None
        if frame is not None and frame.schema[roots[0]] == pl.String:
            # a batch column's new spellings are learned after staging (a dimension is small)
            return self._by_code(p, frame, roots[0], alias, label, tally=tally,
                                 learn_later=tally and frame is p.batch)  # fmt: skip
        if frame is not None:  # a non-text column (machine numbers): resolved per value
            weight = p.batch.height // frame.height if frame.height else 0
            key = pl.col(roots[0])
            counts = frame.group_by(roots[0]).agg(pl.len().alias("n")).select(
                roots[0], alias.alias("a"), pl.col("n") * weight
            )
        else:  # a constant
            key = alias
            value = pl.select(alias.alias("a")).item()
            counts = pl.DataFrame({"k": [value], "a": [value], "n": [p.batch.height]})
        resolved: dict[Any, str] = {}
        unknown: list[Any] = []
        for k, a, n in counts.iter_rows():
            if a is None:
                continue
            eid = self._resolve(a)
            if tally and n:
                self.tally.seen[(a, eid)] += n
            if eid is None:
                unknown.append(k)
            else:
                resolved[k] = eid
        eid_expr = key.replace_strict(resolved, default=None, return_dtype=pl.String)
        if not unknown:
            return eid_expr, None
        return eid_expr, self._unknown(
            label, key.is_in(unknown), alias, counts.get_column("a").drop_nulls().to_list()
        )

    def _by_code(
        self,
        p: Pass,
        frame: pl.DataFrame,
        col: str,
        alias: pl.Expr,
        label: str,
        *,
        tally: bool,
        learn_later: bool,
    ) -> tuple[pl.Expr, Problem | None]:
        """Equipment ids through a small integer code per delivered spelling.

        Codes are kept across the batches of a file: a batch resolves only spellings it is the
        first to deliver, maps each row to its code with one lookup, and gathers the id by code;
        the tally counts the codes once the batch is staged.
        """
        codes = self._codes.setdefault(col, {})
        info = self._code_info.setdefault(col, [])

        def learn(values: list[str]) -> bool:
            new = [v for v in values if v is not None and v not in codes]
            if new:
                spelled = pl.DataFrame({col: new}, schema={col: pl.String})
                for v, a in zip(new, spelled.select(alias.alias("a")).get_column("a").to_list()):
                    codes[v] = len(codes)
                    info.append((a, self._resolve(a) if a is not None else None))
            return bool(new)

        if learn_later:
            p.learner(f"__code.{col}", col, learn)
        else:
            learn(distinct(frame, col))
        code = p.memo_col(
            f"__code.{col}", pl.col(col).replace_strict(codes, default=None, return_dtype=pl.UInt32)
        )
        if tally:
            p.after_stage.append(lambda staged: self._count_codes(p, col, staged))
        eid_expr = pl.lit(pl.Series([eid for _a, eid in info], dtype=pl.String)).gather(code)
        unknown = [i for i, (a, eid) in enumerate(info) if a is not None and eid is None]
        if not unknown:
            return eid_expr, None
        return eid_expr, self._unknown(
            label, code.is_in(unknown), alias, [info[i][0] for i in unknown]
        )

    def _count_codes(self, p: Pass, col: str, staged: pl.DataFrame) -> None:
        name = f"__code.{col}"
        frame = staged if name in staged.columns else p.dimension_of([name])
        assert frame is not None
        codes = frame.get_column(name)
        arr = codes.to_numpy()
        if codes.null_count():
            arr = arr[~np.isnan(arr)]
        info = self._code_info[col]
        # a dimension frame holds each code once per row (or tag) of the batch
        weight = staged.height // frame.height if frame.height else 0
        n = np.bincount(arr.astype(np.int64, copy=False), minlength=len(info)) * weight
        for i in np.flatnonzero(n):
            a, eid = info[i]
            if a is not None:
                self.tally.seen[(a, eid)] += int(n[i])

    def _resolve(self, alias: str) -> str | None:
        """The registered id of a spelling; None (with a suggestion noted) when unknown."""
        eid = self.aliases.get(normalize_alias(alias))
        if eid is None and self.src.on_unknown_equipment == "keep":
            eid = f"{self.src.site}/unregistered/-/{_slug(alias)}"
        if eid is None and alias not in self.tally.suggestions:
            self.tally.suggestions[alias] = self._suggest(alias)
        return eid

    def _unknown(self, label: str, mask: pl.Expr, alias: pl.Expr, aliases: list[str]) -> Problem:
        hint = {a: (f"; did you mean {s!r}?" if (s := self.tally.suggestions.get(a)) else "")
                for a in aliases}  # fmt: skip
        return problem(
            "unknown_equipment",
            label,
            mask,
            alias,
            pl.format(
                "unknown equipment alias '{}' (add it to the registry in sources.yaml){}",
                alias, alias.replace_strict(hint, default=""),
            ),
        )  # fmt: skip

    def _suggest(self, alias: str) -> str | None:
        """The registered equipment id whose aliases look most like ``alias``, if any is close."""
        key = normalize_alias(alias)
        match = difflib.get_close_matches(key, list(self.aliases), n=1, cutoff=0.6)
        return self.aliases[match[0]] if match else None


def _slug(spelling: str) -> str:
    """An id segment for an unregistered spelling (``on_unknown_equipment: keep``)."""
    key = normalize_alias(spelling)
    s = re.sub(r"[^a-z0-9_.-]+", "-", key).strip("-")
    if re.search(r"[^a-z0-9_.\s-]", key):
        # characters an id cannot spell (CJK, symbols) would be dropped, and '3号机床' and '3号泵'
        # would become one machine: a short hash of the spelling keeps them apart
        import hashlib

        s = f"{s}-{hashlib.sha256(key.encode()).hexdigest()[:8]}".strip("-")
    return s or "x"
