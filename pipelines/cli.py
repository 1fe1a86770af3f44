"""The ``corpusmill`` command line: generate, check, run, query, demo, dev, status.

Every command takes ``--home DIR`` (default ``$CORPUSMILL_HOME``, then ``./.corpusmill``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import click

HOME_OPTION = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="corpusmill home (Dagster instance, lake, catalog). "
    "Default: $CORPUSMILL_HOME, then ./.corpusmill",
)


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _home(home: Path | None):
    from corpusmill.home import activate

    return activate(home)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="corpusmill")
def main() -> None:
    """corpusmill: fragmented factory data in, validated and versioned training corpora out."""


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="folder to write the sample factory into")  # fmt: skip
@click.option("--scale", type=click.IntRange(min=1), default=1, show_default=True,
              help="size multiplier (rows grow linearly)")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="random seed")
@HOME_OPTION
def generate(out: Path, scale: int, seed: int, home: Path | None) -> None:
    """Write a seeded sample factory (fragmented on purpose) with its sources.yaml and ground truth."""
    from corpusmill.generate import generate as gen

    _home(home)
    con = _console()
    with con.status("generating the sample factory") as status:
        truth = gen(out, scale=scale, seed=seed, progress=lambda m: status.update(m))
    n = sum(s["units_in"] for s in truth["sources"].values())
    con.print(f"[green]wrote[/] {out}/sources.yaml: {len(truth['sources'])} sources, "
              f"{n:,} rows/cells, defects listed in {out}/ground_truth.json")  # fmt: skip


@main.command()
@click.option("--sources", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="the sources.yaml describing your exports")  # fmt: skip
@HOME_OPTION
@click.option("--engine", type=click.Choice(["fast", "gx"]), default="fast", show_default=True,
              help="quality engine: Polars (fast) or Great Expectations' pandas engine")  # fmt: skip
@click.option("--summary/--no-summary", default=True, show_default=True)
def run(sources: Path, home: Path | None, engine: str, summary: bool) -> None:
    """Materialize the whole asset graph for a sources file into the home."""
    h = _home(home)
    _run(sources, h, engine)
    if summary:
        from pipelines.summary import print_summary

        print_summary(h)


def _run(sources: Path, h, engine: str) -> None:
    from corpusmill.config import ConfigError
    from corpusmill.home import HomeBusy
    from corpusmill.progress import watching
    from pipelines.live import RunDisplay
    from pipelines.runner import RunFailed, run_pipeline

    con = _console()
    try:
        with RunDisplay(con) as display, watching(display):
            report = run_pipeline(sources, h, engine=engine, progress=display.say)
    except ConfigError as e:
        con.print(f"[red]error:[/] {e}")
        sys.exit(2)
    except HomeBusy as e:
        con.print(f"[red]error:[/] {e}")
        sys.exit(3)
    except RunFailed as e:
        from rich.markup import escape

        con.print(f"[red]run failed[/] (Dagster run {e.run_id}; stack traces are in its log: "
                  "`corpusmill dev`, Runs):", soft_wrap=True)  # fmt: skip
        for line in e.lines or [str(e)]:
            con.print(f"[red]✗[/] {escape(line)}", soft_wrap=True)
        sys.exit(1)
    con.print(f"[green]done[/] in {report.seconds:.1f}s: {len(report.run_ids)} Dagster runs "
              f"in {h.dagster}")  # fmt: skip
    for w in report.warnings:
        con.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    for c in report.failed_checks:
        con.print(f"[yellow]check failed:[/] {c}")
    for line in report.skipped:
        con.print(f"[dim]{line}[/]")


@main.command()
@click.option("--sources", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="the sources.yaml to check")  # fmt: skip
@click.option("--rows", type=click.IntRange(min=0), default=3, show_default=True,
              help="rows per source to preview mapped onto the canonical table (0: none)")  # fmt: skip
def check(sources: Path, rows: int) -> None:
    """Validate a sources file without running anything, and show what each source would read.

    Exit 0 when the file is valid and every source's path matches files, 2 (with the errors)
    when not. The preview (encoding, first rows mapped) is best-effort and never fails the check.
    """
    import warnings

    from rich.console import Console
    from rich.markup import escape

    from corpusmill import config, preflight

    con = _console()
    try:
        cfg = config.load(sources)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", preflight.EmptySourceWarning)
            files = preflight.check_paths(cfg, path=sources)
    except config.ConfigError as e:
        con.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        sys.exit(2)
    for w in caught:
        con.print(f"[yellow]warning:[/] {escape(str(w.message))}", soft_wrap=True)
    out = Console(highlight=False)
    out.print(_sources_table(cfg, files))
    if rows:
        for src in cfg.sources:
            if files.get(src.name):
                _preview(out, cfg, src, files[src.name], rows)
    con.print(f"[green]ok:[/] {sources}: {len(cfg.sources)} source(s) valid")


def _sources_table(cfg, files: dict[str, list[str]]):
    from rich.table import Table

    from corpusmill import canonical

    t = Table(title="sources: what each would read", title_justify="left", header_style="bold")
    for col in ("source", "kind → table", "format", "files", "size", "first files", "encoding"):
        t.add_column(col, justify="right" if col in ("files", "size") else "left")
    for src in cfg.sources:
        table = canonical.KIND_TABLE[src.kind]
        found = files.get(src.name)
        if found is None:
            count, size, first = "?", "", "(remote: listed at ingest)" if "://" in src.path else ""
        else:
            count, size = str(len(found)), _size(sum(_stat_size(f) for f in found))
            first = "\n".join(_rel(cfg, f) for f in found[:3]) + (
                f"\n… {len(found) - 3} more" if len(found) > 3 else ""
            )
        t.add_row(src.name, f"{src.kind} → {table}", src.format, count, size, first,
                  _encoding(src, found[0]) if found else "")  # fmt: skip
    return t


def _stat_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _rel(cfg, path: str) -> str:
    if "://" in path:
        return path
    try:
        return os.path.relpath(path, cfg.base_dir)
    except ValueError:  # another drive (Windows)
        return path


TEXT_FORMATS = ("csv", "tsv", "whitespace", "json", "jsonl", "text", "markdown")


def _encoding(src, path: str) -> str:
    """The declared codec, or the one detected on the first file's first MB (text formats)."""
    if src.format not in TEXT_FORMATS:
        return "(binary format)"
    if src.read.encoding.lower() != "auto":
        return f"{src.read.encoding} (declared)"
    from corpusmill.readers import ReaderError, detect_encoding
    from corpusmill.readers.encoding import SAMPLE

    try:
        with open(path, "rb") as f:
            return f"{detect_encoding(f.read(SAMPLE))} (detected)"
    except (OSError, ReaderError) as e:
        return f"? ({e})"


def _preview(con, cfg, src, files: list[str], rows: int) -> None:
    """Best-effort: the first rows of the first file mapped onto the canonical table."""
    import polars as pl
    from rich.markup import escape

    from corpusmill import canonical
    from corpusmill.config import TABLE_FORMATS
    from corpusmill.mapping import FileContext, Mapper
    from corpusmill.readers import read_table
    from pipelines.summary import rich_table

    table = canonical.KIND_TABLE[src.kind]
    label = escape(f"preview (best-effort) · {src.name}: {_rel(cfg, files[0])} → {table}")
    if src.format not in TABLE_FORMATS:
        con.print(f"[dim]{label}: no row preview for format {src.format}[/]")
        return
    try:
        with read_table(files[0], src.format, src.read) as rr:
            batch = rr.frame.head(max(rows, 50)).collect()
        ctx = FileContext(src.name, files[0], "0" * 64, "check", table)
        mapper = Mapper(cfg, src, ctx, list(rr.columns))
        missing = mapper.missing_columns()
        if missing:
            cols = escape(", ".join(map(repr, missing)))
            con.print(f"[yellow]{label}: the file has no column {cols} "
                      f"(used by {', '.join(missing.values())})[/]")  # fmt: skip
            return
        good, bad = mapper.transform(batch)
    except Exception as e:  # noqa: BLE001 - a preview; ingest reports the same problem in full
        note = " (join columns are not applied in the preview)" if src.join else ""
        con.print(f"[yellow]{label}: preview failed: {type(e).__name__}: {escape(str(e))}{note}[/]")
        return
    shown = good.select([c for c in good.columns if not c.startswith("_")]).head(rows)
    shown = shown.select([c for c in shown.columns if shown[c].null_count() < shown.height]
                         or shown.columns)  # fmt: skip
    note = f"; {bad.height} of the first {batch.height} rows would be quarantined" if bad.height else ""
    if bad.height:
        note += escape(f" (first: {bad['reason'][0]})")
    if src.join:
        note += "; joins not applied"
    con.print(rich_table(shown.with_columns(pl.all().cast(pl.String)), title=label + note))


@main.command()
@click.argument("sql")
@HOME_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)  # fmt: skip
@click.option("--limit", type=int, default=200, show_default=True,
              help="rows to print in table format (csv/json print all)")  # fmt: skip
def query(sql: str, home: Path | None, fmt: str, limit: int) -> None:
    """Run read-only SQL over the DuckDB catalog (every table, corpus version and plan is a view).

    Sandboxed: one SELECT (or EXPLAIN/DESCRIBE/SHOW/SUMMARIZE); writes, COPY, ATTACH, INSTALL/LOAD,
    SET and several statements are refused (exit 2), and only the lake's files can be read.
    Lists/structs/maps print as JSON, intervals as DuckDB's text, blobs as base64.
    """
    import duckdb
    from rich.markup import escape

    from corpusmill import sandbox

    try:
        sandbox.check(sql)
        h = _home(home)
        df, json_columns = sandbox.query_portable(h, sql)
    except sandbox.QueryRefused as e:
        _console().print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        sys.exit(2)
    except duckdb.PermissionException as e:
        msg = " ".join(str(e).split())
        _console().print(f"[red]query failed:[/] {escape(msg)} (queries are sandboxed: they read "
                         "only the lake, through the catalog's views)", soft_wrap=True)  # fmt: skip
        sys.exit(1)
    except duckdb.Error as e:
        msg = " ".join(str(e).split())
        _console().print(f"[red]query failed:[/] {escape(msg)}", soft_wrap=True)
        sys.exit(1)
    if fmt == "csv":
        click.echo(df.write_csv(), nl=False)
    elif fmt == "json":
        rows = df.to_dicts()
        for row in rows:
            for c in json_columns:
                if row[c] is not None:
                    row[c] = json.loads(row[c])
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
    else:
        from rich.console import Console

        from pipelines.summary import rich_table

        Console().print(rich_table(df, limit=limit))
        if df.height > limit:
            _console().print(f"[dim]{df.height - limit} more rows (use --limit or --format csv)")


@main.command()
@HOME_OPTION
@click.option("--scale", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--engine", type=click.Choice(["fast", "gx"]), default="fast", show_default=True)
def demo(home: Path | None, scale: int, seed: int, engine: str) -> None:
    """Generate the sample factory into the home, run every asset, and print a summary."""
    from pipelines.summary import print_summary

    h = _home(home)
    out = _sample_factory(h, scale=scale, seed=seed)
    _run(out / "sources.yaml", h, engine)
    print_summary(h)
    _console().print(f"\nNext: [bold]make dev[/] (Dagster UI on this home), or "
              f"[bold]corpusmill query --home {h.root} \"select * from corpus_versions\"[/]")  # fmt: skip


def _sample_factory(h, *, scale: int = 1, seed: int = 0) -> Path:
    """Generate the sample factory into the home (replacing an earlier one); its folder."""
    from corpusmill.generate import generate as gen
    from pipelines.definitions import SAMPLE_DIR

    con = _console()
    out = h.root / SAMPLE_DIR
    with con.status("generating the sample factory"):
        gen(out, scale=scale, seed=seed)
    con.print(f"[dim]›[/] sample factory in {out}")
    return out


@main.command()
@HOME_OPTION
@click.option("--port", type=int, default=3000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def dev(home: Path | None, port: int, host: str) -> None:
    """Start the Dagster UI (dagster dev) against the home.

    A home that has never been run serves the sample factory, generated here first.
    """
    h = _home(home)
    if not os.environ.get("CORPUSMILL_SOURCES") and not (h.sources_file and h.sources_file.exists()):
        out = _sample_factory(h)
        h.write_state(sources=str((out / "sources.yaml").resolve()))
    exe = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    workspace = Path("workspace.yaml")
    target = ["-w", str(workspace)] if workspace.exists() else ["-m", "pipelines.definitions"]
    env = dict(os.environ, CORPUSMILL_HOME=str(h.root), DAGSTER_HOME=str(h.dagster))
    os.execvpe(exe, [exe, "dev", *target, "-h", host, "-p", str(port)], env)


@main.command()
@HOME_OPTION
def status(home: Path | None) -> None:
    """Show the home: the sources file served, files ingested per source, corpus versions."""
    from pipelines.summary import print_summary

    h = _home(home)
    _console().print(f"home {h.root}; sources {h.sources_file or '(none yet)'}")
    print_summary(h)


@main.command()
@click.argument("corpus")
@click.argument("old", type=int)
@click.argument("new", type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)  # fmt: skip
@click.option("--sample", type=click.IntRange(min=0), default=3, show_default=True,
              help="ids shown per kind of change")  # fmt: skip
@HOME_OPTION
def diff(corpus: str, old: int, new: int, fmt: str, sample: int, home: Path | None) -> None:
    """Rows added, removed and changed between versions OLD and NEW of CORPUS, by source."""
    import json

    from rich.console import Console
    from rich.table import Table

    from corpusmill.corpus import CorpusError
    from corpusmill.diff import KINDS, diff_versions

    h = _home(home)
    try:
        d = diff_versions(h.lake, corpus, old, new, sample=sample)
    except CorpusError as e:
        raise click.ClickException(str(e)) from None
    if fmt == "json":
        click.echo(json.dumps(d.to_dict(), indent=2))
        return
    t = Table(title=f"{corpus}: v{old} -> v{new} (by {d.id_column})")
    t.add_column("source")
    for k in KINDS:
        t.add_column(k, justify="right")
    for src, c in d.by_source.items():
        t.add_row(src, *(str(c[k]) for k in KINDS))
    t.add_row("[bold]total[/]", *(f"[bold]{d.counts[k]}[/]" for k in KINDS))
    out = Console(highlight=False)
    out.print(t)
    for k in KINDS:
        if d.samples[k]:
            out.print(f"{k}: {', '.join(d.samples[k])}")


if __name__ == "__main__":  # pragma: no cover
    main()
