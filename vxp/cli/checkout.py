"""``vxp checkout REF``: a working copy of a ref's files (docs/reference/checkout.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from vxp.cli.context import session
from vxp.cli.ingest import _Bars
from vxp.cli.options import OutputFormat, RepoOption, print_json
from vxp.core.errors import InvalidInput

app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})


@app.command()
def checkout(
    ref: Annotated[
        str, typer.Argument(help="a branch, tag (snapshot), commit ID or ref expression")
    ],
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="the working copy (default: this folder when it is one, else `./<repository>`)",
        ),
    ] = None,
    path: Annotated[
        str, typer.Option("--path", help="only objects under this prefix, e.g. raw/basel/")
    ] = "",
    repo: RepoOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="overwrite or remove local edits instead of refusing"),
    ] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=64, help="parallel downloads")
    ] = 8,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="table for people, json for scripts")
    ] = OutputFormat.table,
) -> None:
    """Check out the files of REF into a folder, pinned to the commit REF names now (recorded
    in DIR/.vxp-checkout.json). Run it again after the ref moved: only objects whose checksum
    changed are downloaded, files of deleted objects are removed, and local edits are never
    overwritten unless --force (the run stops first and names them; exit code 3).

    Example: vxp checkout v1 --repo clinical --to ./clinical --path raw/basel/
    """
    from vxp.datasets.checkout import STATE_FILE
    from vxp.datasets.checkout import checkout as run

    if to is None:
        if Path(STATE_FILE).is_file():
            to = Path()
        elif repo:
            to = Path(repo)
        else:
            raise InvalidInput(
                "no repository given", hint="pass --repo NAME or export VXP_REPO=NAME"
            )
    err = Console(stderr=True)
    progress: Any = _Bars(err) if format is OutputFormat.table else None
    try:
        report = run(
            session(),
            repo,
            ref,
            to,
            prefix=path,
            force=force,
            jobs=jobs,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    if format is OutputFormat.json:
        print_json(report.to_json())
        return
    console = Console()
    moved = (
        f" (was {report.previous[:12]})"
        if report.previous and report.previous != report.commit
        else ""
    )
    console.print(
        f"[green]✓[/green] {report.directory} holds {report.repository} @ {report.ref} = "
        f"{report.commit[:12]}{moved}: {len(report.added)} added, {len(report.updated)} "
        f"updated, {len(report.removed)} removed, {len(report.restored)} restored, "
        f"{report.unchanged} unchanged; {report.bytes:,} bytes in {report.seconds:.1f} s",
        highlight=False,
    )
    for edited in report.kept[:20]:
        console.print(f"[yellow]kept local edit[/yellow] {edited}", highlight=False)
    for edited in report.overwritten[:20]:
        console.print(f"[red]overwrote local edit[/red] {edited}", highlight=False)
    for skipped in report.skipped[:20]:
        console.print(f"[dim]skipped {skipped}[/dim]", highlight=False)
