"""``vxp tables list``: the Iceberg tables at a ref."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.cli.options import FormatOption, OutputFormat, RepoOption, print_json, repository
from vxp.core.names import DEFAULT_BRANCH

# heavy libraries (pyiceberg, DuckDB, pyarrow) are imported when a command runs, so the
# other `vxp` commands start fast
if TYPE_CHECKING:
    from vxp.domain.tables import RefTables

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

    A table that cannot be read (a malformed pointer, a missing or broken metadata file) is
    named after the listing with its reason, and the exit status is 1 (JSON: "problems").

    Example: vxp tables list --ref trial-2024-03 --repo clinical
    """
    from vxp.domain.tables import problems_error, tables_at

    result = tables_at(session(), settings(), repository(repo), ref)
    if format is OutputFormat.json:
        print_json(result.to_json())
    else:
        _print(result)
    if result.problems:
        raise problems_error(result.problems, f"at {ref} could not be read")


def _print(result: RefTables) -> None:
    ref = result.ref
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
    named = [t.namespace for t in result.tables] + [p.namespace for p in result.problems]
    used = {ns[:depth] for ns in named for depth in range(len(ns) + 1)}
    empty = [".".join(ns) for ns in result.namespaces if ns not in used]
    unreadable = f" (and {len(result.problems)} unreadable)" if result.problems else ""
    console.print(
        f"{_count(len(result.tables), 'table')}{unreadable} in "
        f"{_count(len(result.namespaces), 'namespace')}"
        + (f"; empty namespaces: {escape(', '.join(empty))}" if empty else ""),
        highlight=False,
    )
