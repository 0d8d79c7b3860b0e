"""``vxp catalog serve``: the Iceberg REST catalog in the foreground."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from vxp.core.errors import VxpError

app = typer.Typer(
    help="The Iceberg REST catalog whose state lives in lakeFS.", no_args_is_help=True
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8181,
) -> None:
    """Serve the catalog until interrupted.

    Configured by VXP_CATALOG_* variables (VXP_CATALOG_LAKEFS_ENDPOINT, VXP_CATALOG_WAREHOUSE_ROOT,
    VXP_CATALOG_TOKEN_SECRET, optional VXP_CATALOG_S3_*; see docs/reference/catalog.md). `vxp up`
    starts it for you with the local stack's settings.
    """
    from vxp.catalog.server import serve as run
    from vxp.catalog.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        raise VxpError(
            f"catalog settings: {exc}", hint="`vxp up` starts the catalog with the right settings"
        ) from exc
    run(settings, host, port)
