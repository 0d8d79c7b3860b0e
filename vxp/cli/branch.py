"""``vxp branch create | list | delete``: work branches next to the layer branches."""

from __future__ import annotations

from typing import Annotated

import typer

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
    help="Create, list and delete branches. Branching is O(1) and branches every table at once.",
    no_args_is_help=True,
)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="new branch, e.g. exp-normalise-dates")],
    source: Annotated[
        str, typer.Option("--from", help="branch, snapshot (tag) or commit ID to branch from")
    ] = DEFAULT_BRANCH,
    repo: RepoOption = None,
) -> None:
    """Create branch NAME from a ref; nothing is copied, tables included."""
    from vxp.refs import create_branch

    branch = create_branch(Settings.discover(), repository(repo), name, source)
    print_done(f"branch [bold]{branch.name}[/bold] from {source} at commit {branch.commit_id}")


@app.command("list")
def list_branches(repo: RepoOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List branches with their head commit; layer branches are marked."""
    from vxp.refs import list_branches

    print_listing(
        list_branches(Settings.discover(), repository(repo)),
        format,
        ("branch", "head commit", "kind"),
        lambda b: (b.name, b.commit_id, "layer" if b.layer else "work"),
    )


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="branch to delete")], repo: RepoOption = None
) -> None:
    """Delete a work branch. Layer branches (source, integration) are never deleted."""
    from vxp.refs import delete_branch

    delete_branch(Settings.discover(), repository(repo), name)
    print_done(f"deleted branch [bold]{name}[/bold]")
