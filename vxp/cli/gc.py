"""``vxp gc``: delete warehouse files that no retained lakeFS commit can reach."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from vxp.cli.context import session, settings
from vxp.cli.options import FormatOption, OutputFormat, print_json
from vxp.core.errors import NotFound, VxpError
from vxp.core.settings import Settings

if TYPE_CHECKING:
    from vxp.catalog.gc import Report, Warehouse


class _Bar:
    """:class:`catalog.gc.Progress` drawn by rich: one line per phase, transient."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, description: str, total: int | None = None) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})


def _warehouse(settings: Settings) -> Warehouse:
    """The warehouse root, its FileIO properties and the catalog's allowed locations."""
    from vxp.catalog.gc import Warehouse

    root = settings.warehouse_root
    if not root:
        raise NotFound(
            "VXP_WAREHOUSE_ROOT is not set: gc needs the catalog's warehouse root",
            hint="`vxp env` prints it for the local stack; for a team deployment set it to the "
            "catalog's VXP_CATALOG_WAREHOUSE_ROOT",
        )
    # the same variable the catalog reads: tables and views may live under these prefixes too
    allowed = settings.catalog_allowed_locations
    if not root.startswith("s3://"):
        return Warehouse(root, allowed_locations=allowed)
    if settings.s3 is None or not settings.s3.access_key_id:
        raise NotFound(
            f"the warehouse {root} needs S3 settings to list and delete files",
            hint="set VXP_S3_ENDPOINT, VXP_S3_ACCESS_KEY_ID and VXP_S3_SECRET_ACCESS_KEY "
            "(`vxp env` prints them for the local full stack)",
        )
    return Warehouse(root, settings.s3.file_io_properties(), allowed)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value, unit = count / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


@app.command()
def gc(
    repo: Annotated[
        str | None,
        typer.Option(
            help="sweep only this repository's files (default: every repository; VXP_REPO is "
            "not read, so a sweep is never narrowed or widened by the shell)"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="report what would be deleted; delete nothing")
    ] = False,
    older_than: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="only delete files at least this old (e.g. 0s, 90m, 36h, 7d), so writes "
            "still in flight keep their files",
        ),
    ] = "1d",
    format: FormatOption = OutputFormat.table,
) -> None:
    """Delete warehouse files that no retained commit can reach.

    Retained: every commit reachable from a branch head or a tag (a commit only a deleted branch
    led to is not). Reachable: the metadata file a table pointer at a retained commit names and
    every manifest list, manifest, data, delete and statistics file it references, and the
    metadata file a view pointer names. Every repository is read to decide this, since a table
    may reference another repository's files; --repo limits what is deleted. Files under the
    catalog's VXP_CATALOG_ALLOWED_LOCATIONS are marked, never deleted. A pointer the catalog
    refuses to load (malformed, or metadata outside the root and the allowed locations) keeps
    nothing alive: it is ignored and reported. See docs/reference/gc.md.

    Example: vxp gc --dry-run --repo clinical --older-than 7d
    """
    # imported here: pyiceberg and pyarrow would slow down every other vxp command
    from vxp.catalog import gc as collector
    from vxp.catalog.errors import CatalogError
    from vxp.lakefs import LakeFSError

    try:
        age = collector.parse_duration(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from exc
    try:
        warehouse = _warehouse(settings())
    except collector.GcError as exc:
        raise VxpError(f"gc cannot start: {exc}") from exc
    console = Console()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        lease = settings().catalog_temp_branch_lease_seconds
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            report = collector.collect(
                session(),
                warehouse,
                repos=[repo] if repo else None,
                older_than=age,
                dry_run=dry_run,
                progress=_Bar(progress),
                lease_seconds=lease,
            )
    except collector.GcError as exc:
        raise VxpError(f"gc stopped: {exc}") from exc
    except (CatalogError, LakeFSError) as exc:
        # lakeFS is only asked while marking, before anything is deleted
        raise VxpError(f"gc stopped, nothing was deleted: {exc}") from exc

    if format is OutputFormat.json:
        print_json(_json(report))
        return
    table = Table("", "", show_header=False, box=None)
    table.add_row("repositories read", str(len(report.repositories_marked)))
    table.add_row("repositories swept", ", ".join(report.repositories_swept) or "-")
    table.add_row("cut-off", f"files written before {report.cutoff:%Y-%m-%d %H:%M:%S} UTC")
    table.add_row("retained commits", str(report.retained_commits))
    table.add_row("states listed", str(report.states_listed))
    table.add_row("pointers read", str(report.pointers_read))
    table.add_row("table metadata files", str(report.metadata_files))
    table.add_row("view metadata files", str(report.view_metadata_files))
    table.add_row("reachable files", str(report.reachable_files))
    table.add_row("files listed", str(report.files_listed))
    table.add_row("kept: reachable", str(report.kept_reachable))
    table.add_row("kept: unreachable, younger than cut-off", str(report.kept_young))
    verb = "would delete" if dry_run else "deleted"
    files = f"{report.deleted_files} file{'' if report.deleted_files == 1 else 's'}"
    table.add_row(verb, f"{files}, {_size(report.deleted_bytes)}")
    table.add_row("time", f"{report.seconds:.1f} s")
    console.print(table)
    if dry_run and report.sample:
        console.print(f"[bold]{verb}[/bold], e.g.:")
        for key in report.sample:
            console.print(f"  {key}", highlight=False, soft_wrap=True)
    if report.missing_reachable:
        console.print(
            f"[yellow]warning:[/yellow] {len(report.missing_reachable)} reachable file(s) do "
            f"not exist (deleted before this run), e.g. {report.missing_reachable[0]}",
            highlight=False,
            soft_wrap=True,
        )
    if report.bad_pointers:
        console.print(
            f"[yellow]warning:[/yellow] {len(report.bad_pointers)} pointer(s) the catalog refuses "
            "to load were ignored (they keep no file alive); if one is a real table, run gc with "
            "VXP_WAREHOUSE_ROOT set to the catalog's VXP_CATALOG_WAREHOUSE_ROOT and with its "
            "VXP_CATALOG_ALLOWED_LOCATIONS:",
            highlight=False,
            soft_wrap=True,
        )
        bad = Table("repository", "ref", "table", "reason", box=None)
        for pointer in report.bad_pointers:
            bad.add_row(pointer.repository, pointer.ref[:12], pointer.table, pointer.reason)
        console.print(bad, highlight=False, soft_wrap=True)
    if report.skipped_files:
        console.print(
            f"[yellow]warning:[/yellow] {len(report.skipped_files)} manifest list(s) or "
            "manifest(s) named outside the warehouse root and the allowed locations were not "
            "read (what they would reference is not kept):",
            highlight=False,
            soft_wrap=True,
        )
        for skipped in report.skipped_files:
            console.print(f"  {skipped}", highlight=False, soft_wrap=True)
    if report.leftover_branches:
        done = "would delete" if dry_run else "deleted"
        console.print(
            f"{done} {len(report.leftover_branches)} temporary branch(es) a stopped catalog left, "
            f"e.g. {report.leftover_branches[0]}",
            highlight=False,
            soft_wrap=True,
        )


def _json(report: Report) -> dict[str, object]:
    """``report`` for scripts: every count, the sample, missing files, bad pointers, branches."""
    return {
        "dry_run": report.dry_run,
        "cutoff": report.cutoff.isoformat(),
        "repositories_marked": report.repositories_marked,
        "repositories_swept": report.repositories_swept,
        "retained_commits": report.retained_commits,
        "states_listed": report.states_listed,
        "pointers_read": report.pointers_read,
        "metadata_files": report.metadata_files,
        "view_metadata_files": report.view_metadata_files,
        "reachable_files": report.reachable_files,
        "files_listed": report.files_listed,
        "kept_reachable": report.kept_reachable,
        "kept_young": report.kept_young,
        "deleted_files": report.deleted_files,
        "deleted_bytes": report.deleted_bytes,
        "sample": report.sample,
        "missing_reachable": report.missing_reachable,
        "bad_pointers": [pointer.to_json() for pointer in report.bad_pointers],
        "skipped_files": [skipped.to_json() for skipped in report.skipped_files],
        "leftover_branches": report.leftover_branches,
        "seconds": round(report.seconds, 3),
    }
