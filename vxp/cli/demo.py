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
    study, ingest its two deliveries (raw files into `source`, keyed and historised tables into
    `integration`), snapshot each, show what changed between them, and query a corrected
    value's history with SQL at a pinned commit.

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
    console.print(f"[bold]commit[/bold] {result.commit}")
