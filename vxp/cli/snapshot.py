"""``vxp snapshot create | list``: named, immutable versions (lakeFS tags)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from vxp.cli.options import (
    FormatOption,
    OutputFormat,
    RepoOption,
    print_done,
    print_listing,
    repository,
)
from vxp.connection import Settings
from vxp.versioning import DEFAULT_BRANCH

# Commands import vxp.refs when they run: it pulls in the catalog's layout module (and with it
# FastAPI), which every other `vxp` command would otherwise pay for at start-up.

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
    """Create snapshot NAME of the commit REF points at now; prints the commit ID it pins."""
    from vxp.refs import create_snapshot

    snapshot = create_snapshot(Settings.discover(), repository(repo), name, ref)
    print_done(f"snapshot [bold]{snapshot.name}[/bold] of {ref} pins commit {snapshot.commit_id}")


@app.command("list")
def list_snapshots(repo: RepoOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List snapshots with the commit each pins."""
    from vxp.refs import list_snapshots

    print_listing(
        list_snapshots(Settings.discover(), repository(repo)),
        format,
        ("snapshot", "commit", "date (UTC)", "message"),
        lambda s: (s.name, s.commit_id, s.date.strftime("%Y-%m-%d %H:%M:%S"), escape(s.message)),
    )
