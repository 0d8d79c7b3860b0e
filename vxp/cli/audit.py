"""``vxp audit``: layer-branch commits that no passed validation vouches for, and layer
branches the checks no longer guard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.cli.options import FormatOption, OutputFormat, RepoOption, print_done, print_json
from vxp.core.errors import InvalidInput

if TYPE_CHECKING:
    from vxp.checks.audit import AuditResult

app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})


@app.command()
def audit(
    repo: RepoOption = None,
    accept: Annotated[
        str | None,
        typer.Option(
            "--accept",
            metavar="COMMIT",
            help="record that this bypass was reviewed and is kept (needs --repo and --reason)",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="why the accepted bypass is acceptable (kept, shown)"),
    ] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """List commits of `source`, `integration` and `app-*` without a passing validation record,
    and layer branches the checks no longer guard.

    Every commit made on a layer branch must have been validated by the hooks server, which
    keeps a signed record of it; one without (a merge from a branch that dropped
    `_lakefs_actions/`, a commit while hooks were off) is a bypass, listed with a hint. A layer
    branch with no `_lakefs_actions/` at its head (lakeFS no longer runs the checks there) and
    an `app-*` branch whose head holds columns marked PHI are findings. Exit code 1 if any
    bypass is not accepted or any finding remains. Without --repo (and VXP_REPO), every
    repository.

    A reviewed bypass is settled with --accept COMMIT --reason TEXT: the hooks server keeps a
    signed acknowledgement (who, when, why); later audits list the commit as accepted and no
    longer fail for it.

    Example: vxp audit --repo clinical

    Example: vxp audit --repo clinical --accept 3f2a9c1e --reason "hotfix reviewed in #123"
    """
    from vxp.checks.client import accept_bypass, fetch_audit, hooks_url

    url = hooks_url()
    if accept is not None:
        if not repo or not reason or not reason.strip():
            raise InvalidInput(
                "--accept needs --repo (or VXP_REPO) and a non-empty --reason",
                hint="vxp audit --repo clinical --accept COMMIT --reason 'reviewed in #123'",
            )
        record = accept_bypass(url, settings(), repo, accept, reason)
        print_done(
            escape(
                f"{repo}: bypass {record['commit_id'][:12]} accepted by "
                f"{record['accepted_by']} ({record['reason']})"
            )
        )
        return
    repositories = [repo] if repo else list(session().list_repositories())
    results = [fetch_audit(url, settings(), r) for r in repositories]
    failed = any(r.failed for r in results)
    if format is OutputFormat.json:
        print_json([r.to_json() for r in results])
    else:
        _print(results)
    if failed:
        raise typer.Exit(1)


def _print(results: list[AuditResult]) -> None:
    console = Console()
    checked = sum(r.checked for r in results)
    bypasses = [b for r in results for b in r.bypasses]
    open_ = [b for b in bypasses if not b.accepted]
    findings = [(r.repository, f) for r in results for f in r.findings]
    if bypasses:
        table = Table("repository", "branch", "commit", "date", "committer", "message", "status")
        for result in results:
            for b in result.bypasses:
                why = escape(f"{b.accepted_by}: {b.accepted_reason}")
                status = f"[green]accepted[/green] by {why}" if b.accepted else "[red]bypass[/red]"
                table.add_row(
                    result.repository,
                    b.branch,
                    b.commit_id[:12],
                    b.date,
                    b.committer,
                    b.message,
                    status,
                )
        console.print(table)
        for result in results:
            for b in result.bypasses:
                if not b.accepted:
                    console.print(
                        f"{result.repository}/{b.branch} {b.commit_id[:12]}: {b.hint}",
                        highlight=False,
                        markup=False,
                    )
    for repository, f in findings:
        console.print(
            f"[red]✗[/red] {escape(f'{repository}/{f.branch}, {f.subject}: {f.message}')}",
            highlight=False,
        )
        console.print(f"  hint: {f.hint}", highlight=False, markup=False)
    if open_:
        console.print(
            f"[red]{len(open_)} of {checked} layer-branch commits have no passing "
            "validation record[/red]",
            highlight=False,
        )
    elif not findings:
        accepted = len(bypasses)
        console.print(
            f"[green]✓[/green] all {checked} layer-branch commits were validated"
            + (f" ({accepted} accepted bypass{'es' if accepted != 1 else ''})" if accepted else ""),
            highlight=False,
        )
