"""``vxp demo``: the main job end to end on the running stack, narrated."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vxp.connection import Settings
from vxp.demo import run_demo
from vxp.services.manager import ServiceManager


def demo(
    repository: Annotated[str, typer.Option(help="repository to use (created if missing)")] = (
        "demo"
    ),
) -> None:
    """Start the platform if needed, then: create a repository, upload a Parquet file on an
    ingestion branch, commit, merge into `source`, branch, and query the file at that commit
    with DuckDB."""
    console = Console()
    ServiceManager().up()
    result = run_demo(Settings.discover(), repository, say=console.print)
    console.print(f"• DuckDB query over [bold]{result.uri}[/bold]")
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    console.print(f"[bold]commit[/bold] {result.commit_id}")
