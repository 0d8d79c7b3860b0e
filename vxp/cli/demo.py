"""``vxp demo``: the main job end to end on the running stack, narrated."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.demo import run_demo
from vxp.services.manager import ServiceManager


def demo(
    repository: Annotated[str, typer.Option(help="repository to use (created if missing)")] = (
        "demo"
    ),
) -> None:
    """The main job, end to end: start the platform if needed, create a repository, ingest a
    Parquet file on an ingestion branch, commit, merge into `source`, branch, query the file at
    that commit with DuckDB; then write it as an Iceberg table on the branch, merge into
    `integration`, tag it, and query the table at the tag through the catalog."""
    console = Console()
    ServiceManager().up()
    result = run_demo(session(), settings(), repository, say=console.print)
    console.print(f"• DuckDB query over [bold]{result.uri}[/bold]")
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    console.print(
        f"• DuckDB through the catalog: [bold]trial.visits[/bold] at tag {result.tag} "
        f"(commit {result.table_commit_id})"
    )
    tables = Table(*result.table_columns)
    for row in result.table_rows:
        tables.add_row(*(str(v) for v in row))
    console.print(tables)
    console.print(f"[bold]commit[/bold] {result.commit_id}")
