"""``vxp ingest study | files | list | merge | discard``: deliveries into the source and
integration layers, each run on its own branches (docs/reference/ingestion.md)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.cli.options import FormatOption, OutputFormat, RepoOption, print_listing, repository
from vxp.core.errors import Conflict, InvalidInput, Unavailable, VxpError
from vxp.domain.engines import Engine
from vxp.ingestion import runs
from vxp.ingestion.problems import problems_table
from vxp.ingestion.report import Outcome, RunReport

app = typer.Typer(
    help="Ingest deliveries: every file byte for byte into `source`, typed and historised "
    "tables into `integration`. Each run works on its own branches; a failed run changes "
    "nothing.",
    epilog="Examples: vxp ingest study exports/2026-11 --repo clinical --source basel · "
    "vxp ingest files scans/ --repo imaging --source basel · vxp ingest list --repo clinical",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SourceOption = Annotated[
    str, typer.Option("--source", "-s", help="the delivering source, e.g. basel (a-z, 0-9, _)")
]
CiOption = Annotated[
    bool,
    typer.Option(
        "--ci",
        help="no progress; one JSON summary on stdout; exit 0 landed/unchanged, 1 invalid "
        "input, 3 conflict, 4 platform unavailable",
    ),
]
NoMergeOption = Annotated[
    bool,
    typer.Option(
        "--no-merge",
        help="stop after landing on the run's branches and print what would change; "
        "`vxp ingest merge RUN` finishes",
    ),
]
JobsOption = Annotated[int, typer.Option("--jobs", "-j", min=1, help="parallel uploads")]


class _Bars:
    """A progress bar per phase on the terminal (stderr): items, or bytes with bytes/s."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._current: tuple[RichProgress, TaskID] | None = None
        self._lock = threading.Lock()
        self._items: int | None = None
        self._done = 0

    def phase(
        self, name: str, total: int | None = None, unit: str = "items", items: int | None = None
    ) -> None:
        self._finish()
        self._items, self._done = (items if unit == "bytes" else None), 0
        columns: tuple[ProgressColumn, ...] = (
            (DownloadColumn(), TransferSpeedColumn())
            if unit == "bytes"
            else (MofNCompleteColumn(), TextColumn(unit))
        )
        if self._items is not None:
            # files done of files, next to the bytes: one bar says both
            columns = (TextColumn("{task.fields[files]}"), *columns)
        # one Progress per phase: a finished phase stays on screen as one line
        progress = RichProgress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            *columns,
            TimeRemainingColumn(),
            console=self._console,
        )
        progress.start()
        self._current = (progress, progress.add_task(name, total=total, files=self._files()))

    def _files(self) -> str:
        return "" if self._items is None else f"{self._done:,}/{self._items:,} files"

    def advance(self, amount: int = 1) -> None:
        if self._current is not None:
            progress, task = self._current
            if self._items is None:
                progress.advance(task, amount)
                return
            with self._lock:  # uploads report from several threads
                self._done += 1
                progress.update(task, advance=amount, files=self._files())

    def say(self, message: str) -> None:
        self._console.print(message, highlight=False)

    def _finish(self) -> None:
        if self._current is not None:
            progress, task = self._current
            progress.update(task, completed=progress.tasks[0].total or 0)
            progress.stop()
            self._current = None

    def close(self) -> None:
        self._finish()


def _run(
    ci: bool, repo: str | None, source: str, directory: Path, work: Callable[[Any], RunReport]
) -> None:
    """Run ``work`` with progress bars (or none with ``--ci``), print the summary, exit with
    the outcome's code. With ``--ci`` even a failure (a missing folder, no repository, the
    platform down) prints one JSON object."""
    err = Console(stderr=True)
    progress: Any = None if ci else _Bars(err)
    try:
        if not directory.is_dir():
            raise InvalidInput(f"{directory} is not a folder", hint="pass the delivery's folder")
        report = work(progress)
    except VxpError as exc:
        if progress is not None:
            progress.close()
        if not ci:
            raise
        outcome = (
            "conflict"
            if isinstance(exc, Conflict)
            else ("unavailable" if isinstance(exc, Unavailable) else "error")
        )
        typer.echo(
            json.dumps(
                {
                    "source": source,
                    "repository": repo,
                    "outcome": outcome,
                    "errors": [{"message": exc.message, "hint": exc.hint}],
                },
                indent=2,
            )
        )
        raise typer.Exit(exc.exit_code) from exc
    if progress is not None:
        progress.close()
    if ci:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report, err)
    raise typer.Exit(report.outcome.exit_code)


#: warnings shown in the problems table on a terminal (--ci lists all of them)
SHOWN_WARNINGS = 20


def _print_report(report: RunReport, console: Console) -> None:
    if report.problems:
        # every error; the first warnings only (a folder of files without subjects warns once
        # per file)
        warnings = sorted(report.problems.warnings, key=lambda p: p.sort_key())
        console.print(problems_table([*report.problems.errors, *warnings[:SHOWN_WARNINGS]]))
        if len(warnings) > SHOWN_WARNINGS:
            console.print(
                f"… and {len(warnings) - SHOWN_WARNINGS} more warnings (--ci lists them all)"
            )
    if report.outcome is Outcome.INVALID:
        console.print(
            f"[bold red]error:[/bold red] {report.error_summary()}; nothing was written "
            "(--ci gives them as JSON)"
        )
        return
    if report.outcome is Outcome.UNCHANGED:
        console.print(
            f"[green]✓[/green] unchanged: this delivery of {report.source!r} is run "
            f"{report.run}; nothing to do"
        )
        return
    table = Table("table", "added", "changed", "deleted", title=f"run {report.run}")
    for change in sorted(report.changes, key=lambda c: c.table):
        table.add_row(
            change.table,
            str(change.added),
            str(change.changed),
            "replaced" if change.replaced else str(change.deleted),
        )
    console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if report.transfer:
        sent = report.transfer
        console.print(
            f"sent {sent.get('files_sent', 0):,} files ({sent.get('bytes_sent', 0):,} bytes)"
            + (
                f"; {sent['files_already_landed']:,} had landed before the run was interrupted"
                if sent.get("files_already_landed")
                else ""
            )
            + (
                f"; {sent['files_stored_earlier']:,} unchanged since an earlier run, not copied"
                if sent.get("files_stored_earlier")
                else ""
            ),
            highlight=False,
        )
    if report.quarantined:
        console.print(
            f"[yellow]quarantined:[/yellow] {len(report.quarantined)} bad file"
            f"{'' if len(report.quarantined) == 1 else 's'} kept as delivered under "
            f"quarantine/{report.source}/{report.run}/ with _problems.json; no resource "
            "points at them",
            highlight=False,
        )
    if report.outcome is Outcome.STAGED:
        console.print(
            f"[green]✓[/green] landed on {', '.join(report.branches.values())}; "
            f"nothing merged. Finish with `vxp ingest merge {report.run} --repo "
            f"{report.repository}` or drop it with `vxp ingest discard {report.run} --repo "
            f"{report.repository}`"
        )
    else:
        commits = ", ".join(f"{layer} {commit[:12]}" for layer, commit in report.commits.items())
        console.print(f"[green]✓[/green] run {report.run} merged: {commits}")


@app.command()
def study(
    directory: Annotated[
        Path,
        typer.Argument(
            help="the delivery: one file per dataset (.csv, .xpt) and a data dictionary",
        ),
    ],
    source: SourceOption,
    repo: RepoOption = None,
    dictionary: Annotated[
        Path | None,
        typer.Option(
            "--dictionary", "-d", help="contents CSV or datapackage.json when not in DIRECTORY"
        ),
    ] = None,
    encoding: Annotated[str, typer.Option(help="text encoding of the CSV files")] = "utf-8",
    partial: Annotated[
        bool,
        typer.Option(
            "--partial", help="an incremental delivery: rows it lacks are kept, not deleted"
        ),
    ] = False,
    no_merge: NoMergeOption = False,
    ci: CiOption = False,
    jobs: JobsOption = 4,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            "-e",
            help="what runs the integration step (surrogate keys, SCD-2): duckdb in this "
            "process, or trino, the full stack's Trino (same tables and rows)",
        ),
    ] = Engine.duckdb,
) -> None:
    """Ingest one delivery of a clinical study export.

    Validates everything first (all problems at once, with file, line and column); lands every
    file byte for byte under raw/SOURCE/RUN/ with a manifest and typed raw_SOURCE.* tables on
    ingest-SOURCE-RUN; then assigns surrogate keys and writes SOURCE.* (current rows) and
    SOURCE.*_history (SCD-2) on integrate-SOURCE-RUN; merges both into their layers. The same
    delivery again: "unchanged", no commit.

    Examples:

        vxp ingest study exports/2026-11 --repo clinical --source basel

        vxp ingest study exports/2026-12 --source basel --no-merge   # review, then merge

        vxp ingest study exports/2026-12 --source basel --ci > summary.json

        vxp ingest study exports/2026-12 --source basel --engine trino   # full stack
    """
    from vxp.ingestion.ingest_study import ingest_study
    from vxp.ingestion.study.plan import validate_study
    from vxp.ingestion.trino_integration import trino_url

    def work(progress: Any) -> RunReport:
        name = repository(repo)
        if engine is Engine.trino:
            trino_url(settings())  # no Trino: say so before validating a large delivery
        delivery = validate_study(directory, dictionary=dictionary, encoding=encoding)
        return ingest_study(
            session(),
            settings(),
            name,
            source,
            delivery,
            partial=partial,
            merge=not no_merge,
            jobs=jobs,
            engine=engine,
            progress=progress,
        )

    _run(ci, repo, source, directory, work)


@app.command()
def files(
    directory: Annotated[
        Path,
        typer.Argument(
            help="the delivery folder: DICOM, NIfTI, PDF and any other files, in any layout",
        ),
    ],
    source: SourceOption,
    repo: RepoOption = None,
    subject_from: Annotated[
        list[str] | None,
        typer.Option(
            "--subject-from",
            help="how a file finds its subject: 'dicom' (the DICOM PatientID, the default) or "
            "'path:REGEX' (its first group, or the group named 'subject', searched in the "
            "relative path). Repeat it: the first rule that gives a subject wins",
        ),
    ] = None,
    quarantine: Annotated[
        bool,
        typer.Option(
            "--quarantine",
            help="land the good files and keep the bad ones as delivered under "
            "quarantine/SOURCE/RUN/ with the problem report; default: any problem fails the "
            "run and nothing is written",
        ),
    ] = False,
    no_merge: NoMergeOption = False,
    ci: CiOption = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="files checked and uploaded in parallel")
    ] = 4,
) -> None:
    """Ingest every file of a folder, byte for byte, and describe it as resources.

    Checks every file first (all problems at once): names, links leaving the folder, empty or
    unreadable files, files named .dcm/.nii/.pdf whose content is not DICOM/NIfTI/PDF, DICOM
    without the UIDs to group it. Then lands each file under raw/SOURCE/RUN/ on
    ingest-SOURCE-RUN with _manifest.json (sha256, size, media type from the content) and, on
    integrate-SOURCE-RUN, writes the resources to vxp.resources (DICOM studies and series,
    NIfTI volumes, PDF documents, other files, linked to trial/SOURCE/subject/ID) and
    SOURCE.dicom_series; merges both. The same folder again: "unchanged", no commit. A run that
    was interrupted is resumed by running the same command: files that landed are not sent
    again, nor files unchanged since the source's last run.

    Files are copied: vxp does not offer lakeFS's zero-copy import yet, because imported
    objects are not immutable (an overwritten original breaks reads, a deleted one answers
    410) and the source layer promises bytes that never change.

    Examples:

        vxp ingest files scans/2026-11 --repo imaging --source basel

        vxp ingest files bids/ --source basel --subject-from 'path:^sub-([^/]+)/'

        vxp ingest files inbox/ --source basel --quarantine --jobs 16 --ci > summary.json
    """
    from vxp.ingestion.ingest_files import ingest_files

    def work(progress: Any) -> RunReport:
        name = repository(repo)
        return ingest_files(
            session(),
            settings(),
            name,
            source,
            directory,
            subject_from=subject_from,
            quarantine=quarantine,
            merge=not no_merge,
            jobs=jobs,
            progress=progress,
        )

    _run(ci, repo, source, directory, work)


@app.command("list")
def list_(repo: RepoOption = None, format: FormatOption = OutputFormat.table) -> None:
    """List unfinished runs (not merged, or stopped with --no-merge) and their branches.

    Examples:

        vxp ingest list --repo clinical

        vxp ingest list --repo clinical --format json   # [] when there are none
    """
    name = repository(repo)
    found = runs.list_runs(session(), name)
    if not found and format is OutputFormat.table:
        Console().print(
            f"no unfinished runs in {name!r}: every run was merged or discarded", highlight=False
        )
        return
    print_listing(
        found,
        format,
        ("source", "run", "ingest branch", "integrate branch"),
        lambda r: (r.source, r.run, r.ingest_branch or "-", r.integrate_branch or "-"),
    )


@app.command()
def merge(
    run: Annotated[str, typer.Argument(help="the run id, e.g. 20261130t201905z-1a2b3c")],
    repo: RepoOption = None,
) -> None:
    """Merge a run stopped with --no-merge into `source` and `integration`.

    Examples:

        vxp ingest list --repo clinical        # the unfinished runs and their ids

        vxp ingest merge 20261130t201905z-1a2b3c --repo clinical
    """
    commits = runs.merge_run(session(), repository(repo), run)
    done = ", ".join(f"{layer} {commit[:12]}" for layer, commit in commits.items())
    Console().print(f"[green]✓[/green] run {run} merged: {done}")


@app.command()
def discard(
    run: Annotated[str, typer.Argument(help="the run id")], repo: RepoOption = None
) -> None:
    """Delete an unfinished run's branches; the layers never saw it.

    Examples:

        vxp ingest list --repo clinical        # the unfinished runs and their ids

        vxp ingest discard 20261130t201905z-1a2b3c --repo clinical
    """
    info = runs.discard_run(session(), repository(repo), run)
    Console().print(f"[green]✓[/green] discarded run {info.run} of {info.source!r}")
    sys.stdout.flush()
