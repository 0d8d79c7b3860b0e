"""The ``vxp`` command: typer app, sub-command registration and error handling."""

from __future__ import annotations

import sys

import httpx
import typer
import urllib3
from lakefs_sdk.exceptions import ApiException
from rich.console import Console

from vxp.cli import branch, catalog, demo, gc, repo, snapshot, sql, stack, tables, versioning
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
app.command("gc")(gc.gc)
app.add_typer(branch.app, name="branch")
versioning.register(app)
app.add_typer(snapshot.app, name="snapshot")
app.add_typer(tables.app, name="tables")
app.command("sql")(sql.sql)


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
    except (urllib3.exceptions.HTTPError, httpx.TransportError) as exc:
        # a server of the stack is down or unreachable: say which, not a stack trace
        err = Console(stderr=True)
        err.print(f"[bold red]error:[/bold red] cannot reach a vxp server: {exc}", highlight=False)
        err.print("[dim]hint:[/dim] check `vxp status`; `vxp up` restarts what died")
        sys.exit(1)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/yellow]")
        sys.exit(130)
