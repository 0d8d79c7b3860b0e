"""``vxp tables list``: the Iceberg tables at a ref."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.cli.options import FormatOption, OutputFormat, RepoOption, print_json, repository
from vxp.core.names import DEFAULT_BRANCH

# heavy libraries (pyiceberg, DuckDB, pyarrow) are imported when a command runs, so the
# other `vxp` commands start fast

app = typer.Typer(
    help="Inspect the Iceberg tables of any branch, tag or commit.", no_args_is_help=True
)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@app.command("list")
def list_tables(
    ref: Annotated[str, typer.Option("--ref", help="branch, tag or commit")] = DEFAULT_BRANCH,
    repo: RepoOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """List the namespaces and tables at REF, each table with snapshot ID and row count.

    Example: vxp tables list --ref trial-2024-03 --repo clinical
    """
    from vxp.domain.tables import tables_at

    result = tables_at(session(), settings(), repository(repo), ref)
    if format is OutputFormat.json:
        print_json(result.to_json())
        return
    console = Console()
    console.print(f"{ref} ({result.commit_id[:12]})", highlight=False)
    if result.tables:
        table = Table("namespace", "table", "snapshot", "rows", "updated (UTC)")
        for t in result.tables:
            updated = datetime.fromtimestamp(t.last_updated_ms / 1000, tz=UTC)
            table.add_row(
                escape(".".join(t.namespace)),
                escape(t.name),
                "-" if t.snapshot_id is None else str(t.snapshot_id),
                "-" if t.rows is None else str(t.rows),
                updated.strftime("%Y-%m-%d %H:%M:%S"),
            )
        console.print(table)
    # a namespace whose tables all live in child namespaces is not empty
    used = {t.namespace[:depth] for t in result.tables for depth in range(len(t.namespace) + 1)}
    empty = [".".join(ns) for ns in result.namespaces if ns not in used]
    console.print(
        f"{_count(len(result.tables), 'table')} in {_count(len(result.namespaces), 'namespace')}"
        + (f"; empty namespaces: {escape(', '.join(empty))}" if empty else ""),
        highlight=False,
    )
