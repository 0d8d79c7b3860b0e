"""``vxp up | down | status | env | install``: the local platform's lifecycle."""

from __future__ import annotations

import json
import shlex
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vxp.core.settings import Health, StackName
from vxp.services.manager import ServiceManager, Status


class EnvFormat(StrEnum):
    sh = "sh"
    json = "json"


app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})

_HEALTH_STYLE = {
    Health.HEALTHY: "green",
    Health.READY: "green",
    Health.DEAD: "red",
    Health.UNHEALTHY: "yellow",
    Health.UNAVAILABLE: "red",
}


def _print_status(rows: list[Status]) -> None:
    console = Console()
    if not rows:
        console.print("no vxp stack is running here; start one with `vxp up`")
        return
    table = Table("component", "version", "url", "health", "pid")
    for row in rows:
        style = _HEALTH_STYLE.get(row.health, "dim")
        table.add_row(
            row.component,
            row.version,
            row.url,
            f"[{style}]{row.health}[/{style}]",
            str(row.pid or "-"),
        )
    console.print(table)
    for row in rows:
        # only a running component serves its UI
        if row.ui is not None and row.health.ok:
            console.print(
                f"{row.component} web UI: {row.ui} (log in with the {row.component} access key "
                "and secret key that `vxp env` prints)",
                soft_wrap=True,
            )


@app.command()
def up(
    stack: Annotated[
        StackName | None,
        typer.Option(
            help="embedded: lakeFS on local disk + DuckDB. full: adds MinIO, "
            "PostgreSQL and Trino. Default: the stack already running here, else embedded."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="switch this home to another stack even though that hides the repositories "
            "made on the stack it ran before"
        ),
    ] = False,
) -> None:
    """Install (first time only, cached) and start the platform; idempotent.

    A component that died is restarted; healthy ones are left alone. Ports: the usual ones when
    free, else any free port; pin one with `VXP_<COMPONENT>_PORT` (e.g. `VXP_LAKEFS_PORT=8000`).

    Example: VXP_LAKEFS_PORT=8000 vxp up --stack embedded
    """
    rows = ServiceManager().up(stack.value if stack else None, force=force)
    _print_status(rows)


@app.command()
def down() -> None:
    """Stop every component of the running stack (data is kept).

    Example: vxp down
    """
    stopped = ServiceManager().down()
    Console().print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status() -> None:
    """Show each component: version, URL, health and pid. Exit code 1 when one is not healthy.

    Example: vxp status
    """
    rows = ServiceManager().status()
    _print_status(rows)
    # stopped, dead, unhealthy and unavailable (DuckDB extensions that do not load) all fail
    if not rows or not all(row.health.ok for row in rows):
        raise typer.Exit(1)


@app.command()
def env(
    format: Annotated[EnvFormat, typer.Option("--format", "-f")] = EnvFormat.sh,
) -> None:
    """Print every connection setting a client needs.

    `eval "$(vxp env)"` exports them into a shell; `--format json` suits programs.

    Example: eval "$(vxp env)"
    """
    settings = ServiceManager().env()
    if format is EnvFormat.json:
        typer.echo(json.dumps(settings, indent=2))
    else:
        for key, value in settings.items():
            typer.echo(f"export {key}={shlex.quote(value)}")


@app.command()
def install(
    components: Annotated[
        list[str] | None, typer.Argument(help="components to install (default: all of the stack)")
    ] = None,
    stack: Annotated[StackName, typer.Option(help="which stack's components")] = StackName.FULL,
    force: Annotated[bool, typer.Option(help="reinstall even if cached")] = False,
) -> None:
    """Install components into the cache ($VXP_CACHE, default ~/.cache/vxp) without starting them.

    Builds lakeFS and MinIO from their Go modules, downloads Trino from Maven Central; cached by
    version, so a second run does nothing unless --force.
    """
    ServiceManager().install(stack.value, components, force=force)
    Console().print("[green]✓[/green] installed and verified")
