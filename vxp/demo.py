"""The main job end to end (``vxp demo``, ``scripts/demo``): a clinical study arrives twice, is
ingested into the layers, compared between deliveries, and a corrected value's history is read
with SQL at a pinned commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

import vxp_client
from vxp.core.settings import Settings
from vxp.domain.refs import resolve
from vxp.domain.repositories import create_repository
from vxp.domain.tables import RefDiff, diff
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.report import RunReport
from vxp.ingestion.study.plan import validate_study
from vxp.lakefs import Session

__all__ = ["DemoResult", "run_demo"]

SOURCE = "basel"
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
    """What the demo did: its runs, the diff between the deliveries, two query results, and
    the integration commit they were read at."""

    runs: list[RunReport]
    diff: RefDiff
    history: pa.Table
    sites: pa.Table
    commit: str


def run_demo(
    session: Session,
    settings: Settings,
    repository: str,
    workdir: Path,
    say: Callable[[str], None],
) -> DemoResult:
    """Generate the example study in ``workdir``, ingest its two deliveries into ``repository``
    (created if missing), snapshot each, diff them, and query the result.

    Running it again is safe: deliveries already ingested are "unchanged" (no commit).

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
        plan = validate_study(folder)
        report = ingest_study(session, settings, repository, SOURCE, plan)
        reports.append(report)
        changed = sum(c.added + c.changed + c.deleted for c in report.changes)
        say(
            f"• ingested {folder.name}: run {report.run} {report.outcome} "
            f"({len(report.changes)} tables, {changed} rows added, changed or deleted)"
        )
        if tag not in tags:
            session.create_tag(repository, tag, "integration")
            say(f"• snapshot [bold]{tag}[/bold] pins integration at this delivery")

    changes = diff(session, settings, repository, *SNAPSHOTS)
    commit = resolve(session, repository, "integration")
    with vxp_client.PlatformClient(repository, commit, settings=settings) as client:
        history = client.query(HISTORY_SQL)
        sites = client.query(SITES_SQL)
    return DemoResult(reports, changes, history, sites, commit)
