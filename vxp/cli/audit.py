"""``vxp audit``: layer-branch commits that no passed validation vouches for."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.cli.options import FormatOption, OutputFormat, RepoOption, print_json

app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})


@app.command()
def audit(repo: RepoOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List commits of `source`, `integration` and `app-*` without a passing validation record.

    Every commit made on a layer branch must have been validated by the hooks server, which
    keeps a signed record of it; one without (a merge from a branch that dropped
    `_lakefs_actions/`, a commit while hooks were off) is a bypass. Exit code 1 if any.
    Without --repo (and VXP_REPO), every repository.

    Example: vxp audit --repo clinical
    """
    from vxp.checks.client import fetch_audit, hooks_url

    url = hooks_url()
    repositories = [repo] if repo else list(session().list_repositories())
    results = [fetch_audit(url, settings(), r) for r in repositories]
    bypasses = [b for result in results for b in result.bypasses]
    if format is OutputFormat.json:
        print_json([r.to_json() for r in results])
    else:
        console = Console()
        checked = sum(r.checked for r in results)
        if bypasses:
            table = Table("repository", "branch", "commit", "date", "committer", "message")
            for result in results:
                for b in result.bypasses:
                    table.add_row(
                        result.repository,
                        b.branch,
                        b.commit_id[:12],
                        b.date,
                        b.committer,
                        b.message,
                    )
            console.print(table)
            console.print(
                f"[red]{len(bypasses)} of {checked} layer-branch commits have no passing "
                "validation record[/red]",
                highlight=False,
            )
        else:
            console.print(
                f"[green]✓[/green] all {checked} layer-branch commits were validated",
                highlight=False,
            )
    if bypasses:
        raise typer.Exit(1)
