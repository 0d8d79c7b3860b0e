"""Options shared by the commands that work on one repository: ``--repo`` and ``--format``."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from vxp.errors import VxpError

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
