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
from vxp.core.errors import InvalidInput
from vxp.core.names import CATALOG_BRANCH_PREFIX, DEFAULT_BRANCH
from vxp.domain import refs

# heavy libraries (pyiceberg, DuckDB, pyarrow) are imported when a command runs, so the
# other `vxp` commands start fast

app = typer.Typer(
    help="Create, list and delete branches. Branching is O(1) and branches every table at once.",
    no_args_is_help=True,
)


def _kind(name: str, layer: bool) -> str:
    if layer:
        return "layer"
    return "catalog (temporary)" if name.startswith(CATALOG_BRANCH_PREFIX) else "work"


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="new branch, e.g. exp-normalise-dates")],
    source: Annotated[
        str, typer.Option("--from", help="branch, snapshot (tag) or commit ID to branch from")
    ] = DEFAULT_BRANCH,
    repo: RepoOption = None,
) -> None:
    """Create branch NAME from a ref; nothing is copied, tables included. Names starting with
    vxp-catalog- are the catalog's own.

    Example: vxp branch create exp-normalise-dates --from integration --repo clinical
    """
    if name.startswith(CATALOG_BRANCH_PREFIX):
        raise InvalidInput(
            f"branch names starting with {CATALOG_BRANCH_PREFIX!r} are the catalog's temporary "
            "branches (gc sweeps them); nothing was created",
            hint="choose another name",
        )
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
        lambda b: (b.name, b.commit_id, _kind(b.name, b.layer)),
    )


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="branch to delete")],
    repo: RepoOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="delete one of the catalog's temporary branches anyway"),
    ] = False,
) -> None:
    """Delete a work branch. Layer branches (source, integration) are never deleted, and the
    catalog's temporary branches (vxp-catalog-…) only with --force.

    Example: vxp branch delete exp-normalise-dates --repo clinical
    """
    if name.startswith(CATALOG_BRANCH_PREFIX) and not force:
        raise InvalidInput(
            f"{name!r} is one of the catalog's temporary branches: while a commit is landing "
            "through it, deleting it fails that commit; nothing was deleted",
            hint=f"`vxp gc --repo {repository(repo)} --dry-run` lists those a stopped catalog "
            "left behind, and `vxp gc` deletes them once their lease is over; --force deletes "
            "this one now",
        )
    refs.delete_branch(session(), repository(repo), name)
    print_done(f"deleted branch [bold]{name}[/bold]")
