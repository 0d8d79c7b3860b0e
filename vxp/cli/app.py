"""The ``vxp`` command: typer app, sub-command registration and error handling."""

from __future__ import annotations

import sys

import typer
from lakefs_sdk.exceptions import ApiException
from rich.console import Console

from vxp.cli import catalog, demo, repo, stack
from vxp.errors import VxpError
from vxp.versioning import api_error

app = typer.Typer(
    name="vxp",
    help="vxp: versioned research data. Raw files and Iceberg tables in lakeFS, "
    "queried with DuckDB or Trino.\n\nStart with `vxp up`, then `vxp repo create NAME`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
stack.register(app)
app.add_typer(repo.app, name="repo")
app.add_typer(catalog.app, name="catalog")
app.command("demo")(demo.demo)


def main() -> None:
    """Console-script entry point: user errors become a message and exit 1, never a traceback."""
    try:
        app()
    except VxpError as exc:
        err = Console(stderr=True)
        err.print(f"[bold red]error:[/bold red] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"[dim]hint:[/dim] {exc.hint}", highlight=False)
        sys.exit(1)
    except ApiException as exc:
        err = Console(stderr=True)
        err.print(f"[bold red]error:[/bold red] {api_error(exc, 'lakeFS refused the request')}")
        sys.exit(1)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/yellow]")
        sys.exit(130)
