"""``vxp branch create | list | delete``: work branches next to the layer branches."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vxp.cli.options import FormatOption, OutputFormat, RepoOption, print_json, repository
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
    Console().print(
        f"[green]✓[/green] branch [bold]{branch.name}[/bold] from {source} "
        f"at commit {branch.commit_id}",
        highlight=False,
    )


@app.command("list")
def list_branches(repo: RepoOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List branches with their head commit; layer branches are marked."""
    from vxp.refs import list_branches

    branches = list_branches(Settings.discover(), repository(repo))
    if format is OutputFormat.json:
        print_json([b.to_json() for b in branches])
        return
    table = Table("branch", "head commit", "kind")
    for branch in branches:
        table.add_row(branch.name, branch.commit_id, "layer" if branch.layer else "work")
    Console().print(table)


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="branch to delete")], repo: RepoOption = None
) -> None:
    """Delete a work branch. Layer branches (source, integration) are never deleted."""
    from vxp.refs import delete_branch

    delete_branch(Settings.discover(), repository(repo), name)
    Console().print(f"[green]✓[/green] deleted branch [bold]{name}[/bold]", highlight=False)
