"""The main job end to end (``vxp demo``, ``scripts/demo``): a clinical study arrives twice and its
MRI once, is ingested into the layers, compared between deliveries, a corrected value's history
is read with SQL at a pinned commit, a registered dataset recipe is locked to that commit, and
its splits are materialized as BIDS (checked by the BIDS validator) and clinical CSV."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

import vxp_client
from vxp.core.settings import Settings
from vxp.datasets.lock import LockResult, lock
from vxp.datasets.materialize import MaterializeReport, materialize
from vxp.datasets.materialize.bids import BidsValidation, validate_bids
from vxp.datasets.registry import find_registry, load_registry
from vxp.domain.refs import resolve
from vxp.domain.repositories import create_repository
from vxp.domain.tables import RefDiff, diff, problems_error
from vxp.ingestion.example_imaging import write_example_imaging
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.ingest_files import ingest_files
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.report import RunReport
from vxp.ingestion.study.plan import validate_study
from vxp.lakefs import Session

__all__ = ["DemoResult", "run_demo"]

SOURCE = "basel"
#: the registered recipe the demo locks (recipes/datasets.yaml): T2 series with clinical data
RECIPE = "basel-t2-clinical"
#: what the demo materializes of each split
MATERIALIZERS = ("bids", "clinical-to-csv")
#: one snapshot (tag) per delivery, so the two versions can be compared by name
SNAPSHOTS = ("delivery-1", "delivery-2")
HISTORY_SQL = """
SELECT usubjid, weight, height, version, is_current, CAST(valid_to AS DATE) AS valid_to
FROM basel.dm_history
WHERE usubjid = (
  SELECT min(a.usubjid) FROM basel.dm_history AS a JOIN basel.dm_history AS b
  ON a.usubjid = b.usubjid AND b.version = a.version + 1 WHERE a.weight <> b.weight)
ORDER BY version
"""
SITES_SQL = """
SELECT s.sitename AS site, count(*) AS subjects, round(avg(d.weight), 1) AS mean_weight
FROM basel.dm AS d JOIN basel.sites AS s ON d.site_sk = s.site_sk
GROUP BY s.sitename ORDER BY s.sitename
"""


@dataclass(frozen=True)
class DemoResult:
    """What the demo did: its runs, the diff between the deliveries, two query results, the
    integration commit they were read at, the lock of :data:`RECIPE` at that commit, and per
    split its materialization and the BIDS validator's verdict.

    Attributes:
        workdir: where the example deliveries and imaging were written.
        datasets: the folder holding ``<split>/bids`` and ``<split>/clinical-to-csv``.
    """

    runs: list[RunReport]
    diff: RefDiff
    history: pa.Table
    sites: pa.Table
    commit: str
    workdir: Path
    lock: LockResult
    datasets: Path
    materialized: dict[str, MaterializeReport]
    validation: dict[str, BidsValidation]


def run_demo(
    session: Session,
    settings: Settings,
    repository: str,
    workdir: Path,
    say: Callable[[str], None],
) -> DemoResult:
    """Generate the example study and its MRI in ``workdir``, ingest its two deliveries and the
    imaging into ``repository`` (created if missing), snapshot each delivery, diff them, query
    the result, lock :data:`RECIPE` at the integration commit into ``workdir/lock``, and
    materialize each split as BIDS and clinical CSV into ``workdir/datasets/<split>``.

    Running it again is safe: deliveries already ingested are "unchanged" (no commit), the lock
    and the materializations are written anew.

    Raises:
        VxpError: the platform refused a step (the message says which).
    """
    if session.repository_exists(repository):
        say(f"• repository [bold]{repository}[/bold] exists")
    else:
        create_repository(session, repository, settings.storage_namespace_prefix)
        say(f"• created repository [bold]{repository}[/bold] (layers: source, integration)")
    folders = write_example_study(workdir, subjects=20, deliveries=2, seed=7)
    say(f"• generated the example study in {workdir} ({len(folders)} deliveries)")

    reports = []
    tags = session.tag_commits(repository)
    for folder, tag in zip(folders, SNAPSHOTS, strict=True):
        if tag in tags:
            # a second demo: this delivery is in already (ingesting it again would revert the
            # tables to it, since only the latest delivery counts as unchanged)
            say(f"• {folder.name} is in already: snapshot [bold]{tag}[/bold]")
            continue
        plan = validate_study(folder)
        report = ingest_study(session, settings, repository, SOURCE, plan)
        reports.append(report)
        changed = sum(c.added + c.changed + c.deleted for c in report.changes)
        say(
            f"• ingested {folder.name}: run {report.run} {report.outcome} "
            f"({len(report.changes)} tables, {changed} rows added, changed or deleted)"
        )
        session.create_tag(repository, tag, "integration")
        say(f"• snapshot [bold]{tag}[/bold] pins integration at this delivery")

    imaging = workdir / "imaging"
    series = write_example_imaging(imaging, subjects=20, seed=7)
    report = ingest_files(session, settings, repository, SOURCE, imaging)
    reports.append(report)
    say(
        f"• ingested the MRI of {imaging} ({len(series)} DICOM series, linked to subjects by "
        f"PatientID): run {report.run} {report.outcome}"
    )

    changes = diff(session, settings, repository, *SNAPSHOTS)
    if changes.problems:
        # the demo's own tables: one that cannot be compared is a fault, not a finding
        left, right = SNAPSHOTS
        raise problems_error(changes.problems, f"could not be compared ({left} → {right})")
    commit = resolve(session, repository, "integration")
    with vxp_client.PlatformClient(repository, commit, settings=settings) as client:
        history = client.query(HISTORY_SQL)
        sites = client.query(SITES_SQL)

    entry = load_registry(find_registry()).get(RECIPE)
    locked = lock(
        entry.path,
        settings=settings,
        repository=repository,
        ref=commit,
        output=workdir / "lock",
        name=entry.name,
        version=entry.version,
        recipe_label=entry.script_location,
    )
    counts = ", ".join(f"{s.name} {s.count}" for s in locked.splits)
    say(
        f"• locked the registered recipe [bold]{entry.spec}[/bold] at {commit[:12]}: "
        f"{counts} resources in {locked.directory}"
    )
    datasets = workdir / "datasets"
    materialized: dict[str, MaterializeReport] = {}
    validation: dict[str, BidsValidation] = {}
    for split in locked.splits:
        out = datasets / split.name
        # a new lock (the data moved on) is a new materialization, never mixed with the old
        shutil.rmtree(out, ignore_errors=True)
        materialized[split.name] = materialize(
            [locked.directory / split.file], list(MATERIALIZERS), out, settings=settings
        )
        validation[split.name] = validate_bids(out / "bids")
        checked = validation[split.name]
        say(
            f"• materialized {split.name} into {out} (bids, clinical-to-csv); BIDS validator: "
            f"{len(checked.errors)} errors, {len(checked.warnings)} warnings"
        )
    return DemoResult(
        reports,
        changes,
        history,
        sites,
        commit,
        workdir,
        locked,
        datasets,
        materialized,
        validation,
    )
