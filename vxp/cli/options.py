"""Options shared by the commands that work on one repository, ``--repo`` and ``--format``, and
the output that goes with them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from vxp.core.errors import VxpError

RepoOption = Annotated[
    str | None,
    typer.Option(
        "--repo",
        envvar="VXP_REPO",
        show_envvar=True,
        help="lakeFS repository (data domain), e.g. clinical",
    ),
]


def repository(repo: str | None) -> str:
    """The repository a command works on; a clear error when neither --repo nor VXP_REPO is set."""
    if not repo:
        raise VxpError("no repository given", hint="pass --repo NAME or export VXP_REPO=NAME")
    return repo


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="table for people, json for scripts"),
]


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


class _Listed(Protocol):
    def to_json(self) -> dict[str, Any]: ...


L = TypeVar("L", bound=_Listed)


def print_listing(
    items: Sequence[L],
    format: OutputFormat,
    columns: Sequence[str],
    row: Callable[[L], Sequence[str]],
) -> None:
    """``items`` as a JSON list for scripts, or as a table of ``columns``, one ``row`` each."""
    if format is OutputFormat.json:
        print_json([item.to_json() for item in items])
        return
    table = Table(*columns)
    for item in items:
        table.add_row(*row(item))
    Console().print(table)


def print_done(message: str) -> None:
    """Say that a command did what it was asked (rich markup in ``message`` is rendered)."""
    Console().print(f"[green]✓[/green] {message}", highlight=False)
