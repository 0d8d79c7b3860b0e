"""``vxp hooks install``: the lakeFS action that runs vxp's checks, on every layer branch."""

from __future__ import annotations

import typer

from vxp.cli.context import session, settings
from vxp.cli.options import RepoOption, print_done

app = typer.Typer(
    help="lakeFS hooks: validation on every commit and merge into a layer branch.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def install_actions(repository: str) -> list[str]:
    """Install this installation's action on ``repository``'s layer branches; one line per branch.

    Raises:
        Unavailable: the hooks server cannot be reached.
        InvalidInput: the action files would not load in lakeFS.
        LakeFSError: lakeFS refused a step.
    """
    from vxp.checks.actions import install
    from vxp.checks.client import fetch_actions, hooks_url

    files = fetch_actions(hooks_url(), settings())
    done = install(session(), repository, files)
    return [
        f"{repository}/{d.branch}: "
        + (f"installed ({d.commit_id[:12]})" if d.commit_id else "already installed")
        for d in done
    ]


@app.command()
def install(repo: RepoOption = None) -> None:
    """Install (or update) the action on `source`, `integration` and every `app-*` branch.

    Idempotent: branches that hold exactly this installation's action are left alone. Without
    --repo (and VXP_REPO), every repository. Each change lands by a merge whose own pre-merge
    hook already runs the checks.

    Example: vxp hooks install --repo clinical
    """
    repositories = [repo] if repo else list(session().list_repositories())
    for repository in repositories:
        for line in install_actions(repository):
            print_done(line)
