"""``vxp snapshot create | list``: named, immutable versions (lakeFS tags)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from vxp.cli.context import session
from vxp.cli.options import (
    FormatOption,
    OutputFormat,
    RepoOption,
    print_done,
    print_listing,
    repository,
)
from vxp.core.names import DEFAULT_BRANCH
from vxp.domain import refs

# heavy libraries (pyiceberg, DuckDB, pyarrow) are imported when a command runs, so the
# other `vxp` commands start fast

app = typer.Typer(
    help="Snapshots: tags that pin one commit, every file and table in it, for good.",
    no_args_is_help=True,
)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="snapshot name, e.g. trial-2024-03")],
    ref: Annotated[
        str, typer.Option("--ref", help="branch, tag or commit to snapshot")
    ] = DEFAULT_BRANCH,
    repo: RepoOption = None,
) -> None:
    """Create snapshot NAME of the commit REF points at now; prints the commit ID it pins.

    Example: vxp snapshot create trial-2024-03 --ref integration --repo clinical
    """

    snapshot = refs.create_snapshot(session(), repository(repo), name, ref)
    print_done(f"snapshot [bold]{snapshot.name}[/bold] of {ref} pins commit {snapshot.commit_id}")


@app.command("list")
def list_snapshots(repo: RepoOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List snapshots with the commit each pins."""

    print_listing(
        refs.list_snapshots(session(), repository(repo)),
        format,
        ("snapshot", "commit", "date (UTC)", "message"),
        lambda s: (s.name, s.commit_id, s.date.strftime("%Y-%m-%d %H:%M:%S"), escape(s.message)),
    )
