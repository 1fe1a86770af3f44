"""Models of the corpus settings a sources file may declare (``corpora.<name>`` blocks) that are
richer than plain values: confidential term lists and SFT pair templates, and the strict pydantic
base every configuration model of the project uses.

They sit below both the sources configuration (which validates the blocks when the file loads)
and the corpus builders (which read them), so neither imports the other for them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class StrictModel(BaseModel):
    """A frozen model that refuses unknown keys (a misspelt key is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_Strict = StrictModel


# -- corpora.text_corpus.confidential and corpora.sft_pairs: what redaction and pair mining read --

#: Literal term lists of a confidential block -> the placeholder their matches become.
CONFIDENTIAL_TERMS: dict[str, str] = {
    "suppliers": "[SUPPLIER]",
    "customers": "[CUSTOMER]",
    "names": "[NAME]",
}
#: Regular-expression lists of a confidential block -> the placeholder their matches become.
CONFIDENTIAL_PATTERNS: dict[str, str] = {
    "serials": "[SERIAL]",
    "recipes": "[RECIPE]",
    "setpoints": "[SETPOINT]",
}


def check_text_regex(pattern: str) -> str:
    """``pattern`` if polars (Rust regex) compiles it and it cannot match the empty string."""
    import polars as pl

    try:
        empty = pl.Series([""], dtype=pl.String).str.contains(pattern).item()
    except Exception as e:  # noqa: BLE001 - polars raises ComputeError with the parser's message
        lines = [ln.strip() for ln in str(e).split("This error occurred")[0].splitlines()]
        why = next((ln for ln in lines if ln.startswith("error:")), lines[0] if lines else str(e))
        raise ValueError(
            f"{pattern!r} is not a regular expression polars can run (Rust syntax: no "
            f"look-around or back-references): {why.removeprefix('error: ')}"
        ) from None
    if empty:
        raise ValueError(f"{pattern!r} matches the empty string; it would mark every text")
    return pattern


class _TermLists(_Strict):
    suppliers: list[str] = Field(default_factory=list, description="supplier names (literal)")
    customers: list[str] = Field(default_factory=list, description="customer names (literal)")
    names: list[str] = Field(
        default_factory=list, description="person names redacted wherever they appear (literal)"
    )
    serials: list[str] = Field(default_factory=list, description="equipment serials (regexes)")
    recipes: list[str] = Field(default_factory=list, description="recipe ids (regexes)")
    setpoints: list[str] = Field(default_factory=list, description="process setpoints (regexes)")

    @field_validator("suppliers", "customers", "names")
    @classmethod
    def _literal(cls, v: list[str]) -> list[str]:
        for i, term in enumerate(v):
            if not term.strip():
                raise ValueError(f"item {i} is empty; give the term as it is written in the text")
        return v

    @field_validator("serials", "recipes", "setpoints")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for i, pattern in enumerate(v):
            try:
                check_text_regex(pattern)
            except ValueError as e:
                raise ValueError(f"item {i}: {e}") from None
        return v


class ConfidentialTerms(_TermLists):
    """Terms a plant declares confidential, redacted into typed placeholders.

    Lists at the top apply to every row; ``sites.<site>`` lists apply to rows whose equipment id
    starts with ``<site>/`` (and to rows without an equipment id, whose site is unknown).
    """

    sites: dict[str, _TermLists] = Field(default_factory=dict, description="per-site term lists")

    @field_validator("sites")
    @classmethod
    def _site_ids(cls, v: dict[str, _TermLists]) -> dict[str, _TermLists]:
        for site in v:
            if not site or "/" in site or site != site.strip():
                raise ValueError(f"site {site!r} must be one ISA-95 path segment, e.g. 'suzhou'")
        return v


def parse_block(model: type[BaseModel], value: Any, where: str) -> Any:
    """``model`` validated from ``value``; errors become one ValueError naming ``where.<field>``."""
    from pydantic import ValidationError

    try:
        return model.model_validate(value)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(p) for p in (where, *err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{loc}: {msg}")
        raise ValueError("; ".join(problems)) from None


class _Template(_Strict):
    """One pair template: a system prompt and a user prompt, per language (zh or en)."""

    system: dict[Literal["zh", "en"], str]
    user: dict[Literal["zh", "en"], str]

    @model_validator(mode="after")
    def _both_languages(self) -> _Template:
        for part in ("system", "user"):
            missing = {"zh", "en"} - set(getattr(self, part))
            if missing:
                raise ValueError(f"{part} needs a text for {', '.join(sorted(missing))}")
        for lang, text in self.user.items():
            if "{symptom}" not in text:
                raise ValueError(f"user.{lang} must contain {{symptom}}")
            unknown = set(re.findall(r"\{([^{}]*)\}", text)) - {"symptom", "equipment"}
            if unknown:
                raise ValueError(
                    f"user.{lang}: unknown field(s) {sorted(unknown)}; fields: symptom, equipment"
                )
        return self


class SftTemplates(_Strict):
    """Which record types make pairs and the template each uses (``corpora.sft_pairs``)."""

    record_types: dict[str, str] = Field(
        min_length=1,
        description="maintenance_type -> template name, or 'skip' (no pairs: a routine type); "
        "'*' is any other type and records without one",
    )
    templates: dict[str, _Template] = Field(min_length=1)

    @model_validator(mode="after")
    def _templates_exist(self) -> SftTemplates:
        for kind, name in self.record_types.items():
            if name != "skip" and name not in self.templates:
                raise ValueError(
                    f"record_types.{kind}: template {name!r} is not declared under templates "
                    f"(declared: {', '.join(sorted(self.templates))}; or 'skip')"
                )
        return self
