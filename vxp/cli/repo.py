"""``vxp repo …``: lakeFS repositories with their layer branches."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from vxp.connection import Settings
from vxp.versioning import LAYER_BRANCHES, create_repository

app = typer.Typer(
    help="Create and inspect repositories (one per data domain).", no_args_is_help=True
)


@app.command()
def create(name: Annotated[str, typer.Argument(help="repository name, e.g. clinical")]) -> None:
    """Create repository NAME with the protected layer branches `source` and `integration`.

    `integration` is the default branch users read; both change only by merge
    (source → integration → app-*).
    """
    settings = Settings.discover()
    repo = create_repository(settings, name)
    if trino_url := settings.values.get("TRINO_URL"):
        from vxp.engines.trino import ensure_repository_catalogs

        # every Trino client sees the new repository at once, as catalog `<name>`
        ensure_repository_catalogs(trino_url, [name])
    Console().print(
        f"[green]✓[/green] repository [bold]{repo.id}[/bold] at {repo.storage_namespace}; "
        f"branches {', '.join(LAYER_BRANCHES)} (protected, default {repo.default_branch})"
    )
