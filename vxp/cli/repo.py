"""``vxp repo create | list``: lakeFS repositories with their layer branches."""

from __future__ import annotations

from typing import Annotated

import typer

from vxp.cli.context import session, settings
from vxp.cli.options import FormatOption, OutputFormat, print_done, print_listing
from vxp.core.errors import VxpError
from vxp.core.names import DEFAULT_BRANCH, LAYER_BRANCHES
from vxp.domain.repositories import create_repository, list_repositories

app = typer.Typer(
    help="Create and list repositories (one per data domain).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def create(name: Annotated[str, typer.Argument(help="repository name, e.g. clinical")]) -> None:
    """Create repository NAME with the protected layer branches `source` and `integration`.

    `integration` is the default branch users read; both change only by merge
    (source → integration → app-*). vxp's hooks are installed on both (`vxp hooks install`).

    Example: vxp repo create clinical
    """
    config = settings()
    repo = create_repository(session(), name, config.storage_namespace_prefix)
    if config.trino_url:
        from vxp.domain.engines.trino import ensure_repository_catalogs

        # every Trino client sees the new repository at once, as catalog `<name>`
        ensure_repository_catalogs(config.trino_url, [name])
    print_done(
        f"repository [bold]{repo.name}[/bold] at {config.storage_namespace_prefix}{name}; "
        f"branches {', '.join(LAYER_BRANCHES)} (protected, default {DEFAULT_BRANCH})"
    )
    from vxp.cli.hooks import install_actions

    try:
        installed = install_actions(name)
    except VxpError as exc:
        raise VxpError(
            f"repository {name!r} was created, but vxp's hooks could not be installed on it: "
            f"{exc.message}",
            hint=f"once the hooks server runs (`vxp status`), `vxp hooks install --repo {name}`",
        ) from exc
    print_done(
        f"hooks installed on {', '.join(i.split(':')[0] for i in installed)}"
        f"\n  next: vxp ingest study FOLDER --source SITE --repo {name}  (lands in source, "
        f"merges to {DEFAULT_BRANCH})"
        f"\n  or, to write tables yourself (pyiceberg, Trino, DuckDB): vxp branch create work "
        f"--repo {name}, then write to warehouse {name}.work ({DEFAULT_BRANCH} changes only by "
        "merge)"
    )


@app.command("list")
def list_(format: FormatOption = OutputFormat.table) -> None:
    """List repositories with the head commit of each layer branch.

    Example: vxp repo list --format json
    """
    print_listing(
        list_repositories(session()),
        format,
        ("repository", *LAYER_BRANCHES),
        lambda r: (r.name, *((r.heads[layer] or "-")[:12] for layer in LAYER_BRANCHES)),
    )
