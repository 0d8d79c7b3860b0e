"""``vxp branch create | list | delete``: work branches next to the layer branches."""

from __future__ import annotations

from typing import Annotated

import typer

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
    """Create branch NAME from a ref; nothing is copied, tables included.

    Example: vxp branch create exp-normalise-dates --from integration --repo clinical
    """

    branch = refs.create_branch(session(), repository(repo), name, source)
    print_done(f"branch [bold]{branch.name}[/bold] from {source} at commit {branch.commit_id}")


@app.command("list")
def list_branches(repo: RepoOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List branches with their head commit; layer branches are marked.

    Example: vxp branch list --repo clinical --format json
    """

    print_listing(
        refs.list_branches(session(), repository(repo)),
        format,
        ("branch", "head commit", "kind"),
        lambda b: (b.name, b.commit_id, "layer" if b.layer else "work"),
    )


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="branch to delete")], repo: RepoOption = None
) -> None:
    """Delete a work branch. Layer branches (source, integration) are never deleted.

    Example: vxp branch delete exp-normalise-dates --repo clinical
    """

    refs.delete_branch(session(), repository(repo), name)
    print_done(f"deleted branch [bold]{name}[/bold]")
