"""``vxp demo``: the main job end to end on the running stack, narrated."""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.core.home import Home
from vxp.demo import HISTORY_SQL, SNAPSHOTS, run_demo
from vxp.services.manager import ServiceManager

app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})


def _table(result: pa.Table, title: str) -> Table:
    table = Table(*result.column_names, title=title)
    for row in result.to_pylist():
        table.add_row(*("NULL" if v is None else str(v) for v in row.values()))
    return table


@app.command()
def demo(
    repository: Annotated[str, typer.Option(help="repository to use (created if missing)")] = (
        "demo"
    ),
) -> None:
    """The main job, end to end: start the platform if needed, generate an example clinical
    study with MRI, ingest its two deliveries and the imaging (raw files into `source`, keyed
    and historised tables and resources into `integration`), snapshot each delivery, show what
    changed between them, query a corrected value's history with SQL at a pinned commit, lock
    the registered recipe basel-t2-clinical to that commit, materialize its splits as BIDS and
    clinical CSV, validate the BIDS output, and print where everything is.

    Example: vxp demo --repository demo
    """
    console = Console()
    ServiceManager().up()
    workdir = Home.from_env().root / "example" / "basel"
    result = run_demo(session(), settings(), repository, workdir, say=console.print)

    changes = Table(
        "table", "change", "rows before", "rows after", title="vxp diff " + " ".join(SNAPSHOTS)
    )
    for change in result.diff.tables:
        changes.add_row(
            change.table,
            change.change,
            str(change.before.rows) if change.before else "-",
            str(change.after.rows) if change.after else "-",
        )
    console.print(changes)
    console.print(_table(result.sites, "subjects per site (joined on surrogate keys)"))
    console.print(_table(result.history, "a corrected value's history (SCD-2)"))
    query = " ".join(HISTORY_SQL.split())
    console.print(
        f'[dim]the same query in a shell: vxp sql "{query}" --repo {repository} '
        f"--ref {result.commit[:12]}[/dim]",
        highlight=False,
        soft_wrap=True,
    )

    where = Table("what", "where", title="where everything is")
    where.add_row("example deliveries and MRI", str(result.workdir))
    where.add_row(
        f"lock of {result.lock.name}@{result.lock.version}",
        ", ".join(str(result.lock.directory / s.file) for s in result.lock.splits),
    )
    for split, report in result.materialized.items():
        checked = result.validation[split]
        verdict = "valid" if checked.valid else f"{len(checked.errors)} errors"
        where.add_row(f"{split}: BIDS ({verdict})", str(report.output / "bids"))
        where.add_row(f"{split}: clinical CSV", str(report.output / "clinical-to-csv"))
        if report.lineage is not None:
            where.add_row(f"{split}: lineage", str(report.lineage))
    console.print(where)
    first = max(result.lock.splits, key=lambda split: split.count)
    console.print(
        "[dim]the same in a shell: "
        f"vxp datasets lock {result.lock.name} --repo {repository} --ref {result.commit[:12]} "
        f"-o lock && vxp materialize -f lock/{first.file} -m bids -m clinical-to-csv "
        f"-o {first.name} --validate[/dim]",
        highlight=False,
        soft_wrap=True,
    )
    # the last line: scripts read the commit from it
    console.print(f"[bold]commit[/bold] {result.commit}")
    if not all(checked.valid for checked in result.validation.values()):
        raise typer.Exit(1)
