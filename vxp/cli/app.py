"""The ``vxp`` command: typer app, sub-command registration and error handling."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from vxp import __version__
from vxp.cli import (
    audit,
    branch,
    catalog,
    checkout,
    contracts,
    datasets,
    demo,
    example,
    gc,
    hooks,
    ingest,
    lineage,
    materialize,
    repo,
    resources,
    snapshot,
    sql,
    stack,
    tables,
    versioning,
)
from vxp.core.errors import Unavailable, VxpError
from vxp.core.settings import Key

app = typer.Typer(
    name="vxp",
    help="vxp: versioned research data. Raw files and Iceberg tables in lakeFS, "
    "queried with DuckDB or Trino.\n\nStart with `vxp up`, then `vxp repo create NAME`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vxp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="print vxp's version"
        ),
    ] = False,
) -> None:
    """vxp: versioned research data."""


# one way to register: every command module has its `app`; groups get a name, modules of
# top-level commands are merged in
for commands in (
    stack.app,
    versioning.app,
    sql.app,
    gc.app,
    demo.app,
    lineage.app,
    materialize.app,
    checkout.app,
    audit.app,
):
    app.add_typer(commands)
for name, group in (
    ("repo", repo.app),
    ("branch", branch.app),
    ("snapshot", snapshot.app),
    ("tables", tables.app),
    ("ingest", ingest.app),
    ("resources", resources.app),
    ("example", example.app),
    ("catalog", catalog.app),
    ("datasets", datasets.app),
    ("hooks", hooks.app),
    ("contracts", contracts.app),
):
    app.add_typer(group, name=name)


def _fail(error: VxpError) -> None:
    if isinstance(error, Unavailable) and os.environ.get(Key.LAKEFS_ENDPOINT):
        # the endpoints of an earlier `eval "$(vxp env)"` go stale when the stack moves
        error.hint = (
            f"{error.hint + '; ' if error.hint else ''}the VXP_* variables in this shell "
            'may be stale: run `eval "$(vxp env)"` again, or unset them to use this '
            "machine's stack"
        )
    err = Console(stderr=True)
    # messages quote names, paths and engines' own words: `[integration]` or `[Errno 2]` there
    # is text, not Rich markup
    err.print(f"[bold red]error:[/bold red] {escape(error.message)}", highlight=False)
    if error.hint:
        err.print(f"[dim]hint:[/dim] {escape(error.hint)}", highlight=False)
    sys.exit(error.exit_code)


def main() -> None:
    """Console-script entry point: errors become a message and the exit code of their kind
    (1 invalid input or refused, 3 conflict, 4 platform unavailable), never a traceback."""
    try:
        app()
    except VxpError as exc:
        _fail(exc)
    except httpx.TransportError as exc:
        # the catalog or Trino is down or moved: say so, and what to do
        _fail(
            Unavailable(
                f"cannot reach a vxp server ({type(exc).__name__}: {exc})",
                hint="check `vxp status`; `vxp up` restarts what died. With variables of an "
                'earlier `eval "$(vxp env)"`, run it again: ports may have changed',
            )
        )
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/yellow]")
        sys.exit(130)
