"""The ``corpusmill`` command line: generate, check, run, query, demo, dev, status, diff, plan.

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


@main.command()
@click.option("--catalog", "catalog_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="compute catalog YAML (default: $CORPUSMILL_COMPUTE_CATALOG, "
              "then the packaged mixed catalog)")  # fmt: skip
@click.option("--jobs", "jobs_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="training_jobs YAML (default: $CORPUSMILL_TRAINING_JOBS, then the packaged "
              "jobs)")  # fmt: skip
@click.option("--job", default=None, help="print only this job (the pools are still allocated "
              "over every job)")  # fmt: skip
@click.option("--previous", default=None, metavar="PLAN",
              help="re-plan from this plan: a plan id from shard_plans or a plan folder")
@click.option("--simulate", is_flag=True, help="simulate the steps and print the makespan and "
              "idle per pool beside the equal-split and round-robin baselines")
@click.option("--jitter", default="0.05,0.01", show_default=True, metavar="DEVICE_CV,STEP_CV",
              help="with --simulate: the speed jitter, per device for the run and per device "
              "per step (coefficients of variation)")
@click.option("--lose", default=None, metavar="POOL[@FRACTION|@HOURSh]",
              help="with --simulate: lose POOL after FRACTION of the steps (default 0.5) or "
              "HOURS into the run (e.g. h100-us-west@1.5h)")
@click.option("--seed", type=int, default=0, show_default=True, help="simulation seed")
@HOME_OPTION
def plan(catalog_file: Path | None, jobs_file: Path | None, job: str | None,
         previous: str | None, simulate: bool, jitter: str, lose: str | None, seed: int,
         home: Path | None) -> None:  # fmt: skip
    """Plan the training jobs on the home's corpora and print each job's per-pool table.

    The pools are allocated over every job in one LP (deadlines and budgets kept, total cost
    minimised), as the shard_plan asset does; nothing is written. Exit 2 on a bad catalog or
    jobs file, an unknown job or plan, or jobs that cannot share the pools.
    """
    import polars as pl
    from rich.console import Console
    from rich.markup import escape

    from corpusmill import compute
    from corpusmill.plans import dry_plans
    from corpusmill.shards.report import pool_table
    from corpusmill.shards.sim import REBALANCE_EVERY, Jitter, PoolLoss, simulate_plan
    from pipelines.summary import rich_table

    con = _console()
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    h = _home(home)
    catalog_file = catalog_file or os.environ.get("CORPUSMILL_COMPUTE_CATALOG") or None
    jobs_file = jobs_file or os.environ.get("CORPUSMILL_TRAINING_JOBS") or None
    loss = None
    try:
        device_cv, _, step_cv = jitter.partition(",")
        try:
            jit = Jitter(device_cv=float(device_cv), step_cv=float(step_cv or 0))
        except ValueError as e:
            msg = f"--jitter {jitter!r}: give DEVICE_CV,STEP_CV as fractions, e.g. 0.05,0.01 ({e})"
            raise ValueError(msg) from None
        if lose is not None:
            name, _, at = lose.partition("@")
            if at.endswith("h"):
                loss = PoolLoss(name, at_hours=float(at[:-1]))
            else:
                loss = PoolLoss(name, float(at) if at else 0.5)
        cat = compute.load_catalog(catalog_file)
        jobs = compute.load_jobs(jobs_file, catalog=cat)
        plans = dry_plans(h.lake, cat, jobs, only=job, previous=previous)
    except (compute.ComputeConfigError, FileNotFoundError, ValueError) as e:
        con.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        sys.exit(2)
    for p in plans:
        name = p.job.name or p.job.corpus
        if p.plan is None:
            con.print(f"[dim]{name}: {p.skipped}[/]")
            continue
        s = p.plan.summary
        table = pool_table(p.plan)
        shared = (p.plan.summary.get("allocation") or {}).get("shared_with") or ()
        how = f"pools shared with {', '.join(shared)}" if shared else "planned alone"
        title = (f"{name}: {p.job.corpus} v{p.corpus_version}, plan {p.plan.plan_id} "
                 f"({p.job.objective or 'rules'}; {how})")  # fmt: skip
        sims = {}
        if simulate:
            try:
                for split in ("plan", "equal_split", "round_robin"):
                    sims[split] = simulate_plan(p.plan, cat, p.job, jitter=jit, seed=seed,
                                                split=split,
                                                loss=loss if split == "plan" else None)  # fmt: skip
            except ValueError as e:
                con.print(f"[red]error:[/] {name}: {escape(str(e))}", soft_wrap=True)
                sys.exit(2)
            idle = sims["plan"].idle_fraction
            sim_idle = [round(idle[x], 4) if x in idle else None for x in table["pool"]]
            table = table.with_columns(pl.Series("sim_idle", sim_idle, dtype=pl.Float64))
        unused = table.filter(pl.col("tokens") == 0)
        table = table.filter(pl.col("tokens") > 0)
        out.print(rich_table(table, title=title))
        for r in unused.iter_rows(named=True):
            out.print(f"  {r['pool']}: not used ({r['status']})")
        out.print(f"makespan {s['makespan_hours']:.4g} h, cost {s['total_cost_usd']:,.2f} USD "
                  f"(egress {s['egress_usd']:,.2f} USD), {s['n_shards']} shards")  # fmt: skip
        if p.replan is not None:
            r = p.replan
            ratio = (r["moved_fraction"] / r["min_moved_fraction"]
                     if r["min_moved_fraction"] else (1.0 if not r["moved_fraction"] else float("inf")))  # fmt: skip
            out.print(f"re-plan from {r['previous_plan_id']}: moved {r['moved_fraction']:.2%} "
                      f"of the tokens, unavoidable minimum {r['min_moved_fraction']:.2%} "
                      f"(moved / minimum {ratio:.3f})")  # fmt: skip
        if sims:
            ours = sims["plan"]
            lost = (f" (pool {loss.pool} lost at {ours.lost_at_hours:.4g} h)"
                    if loss is not None else "")  # fmt: skip
            out.print(f"simulated makespan {ours.makespan_hours:.4g} h{lost}, cost "
                      f"{ours.cost_usd:,.2f} USD; equal split "
                      f"{sims['equal_split'].makespan_hours:.4g} h, round robin "
                      f"{sims['round_robin'].makespan_hours:.4g} h ({jit.device_cv:.0%} "
                      f"jitter per device, {jit.step_cv:.0%} per step; the plan's ranks "
                      f"rebalanced every {REBALANCE_EVERY} steps)")  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    main()
