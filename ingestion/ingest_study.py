"""``vxp ingest study``: one delivery of a clinical study, through the run model of
:mod:`.runs`, into ``source`` (files + typed raw tables) and ``integration`` (keyed, historised
tables and the study's resources).

Idempotent per delivery, like DataJoint's ``make(key)``: the delivery's identity is the sha256
of its files (:func:`.runs.delivery_sha256`); running the same delivery again does nothing once
it is integrated, and completes what a killed run left undone otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pyarrow as pa

from vxp.core.errors import Conflict
from vxp.core.names import DEFAULT_BRANCH
from vxp.core.settings import Settings
from vxp.domain.lineage import FileInput, RunLineage, TableOutput
from vxp.domain.refs import resolve
from vxp.lakefs import Session

from .evolution import check_evolution
from .iceberg import Tables
from .integration import DatasetData, IntegrationResult, TableChange, integrate_study
from .report import Outcome, Progress, RunReport, SilentProgress
from .runs import (
    DELIVERY_KEY,
    RUN_KEY,
    SOURCE_KEY,
    STAGE_KEY,
    DeliveryManifest,
    RunNames,
    Stage,
    bring_upstream,
    checksum_files,
    ensure_branch,
    integrated_run,
    land_files,
    merge_into_layer,
    new_run_id,
    read_state,
    validate_source_name,
    write_state,
)
from .study.plan import StudyPlan

__all__ = ["ingest_study"]

SOURCE_BRANCH = "source"
#: how often a run re-plans its integration step after losing a merge race
REPLANS = 3


def ingest_study(
    session: Session,
    settings: Settings,
    repo: str,
    source: str,
    delivery: StudyPlan,
    *,
    partial: bool = False,
    merge: bool = True,
    jobs: int = 4,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> RunReport:
    """Land and integrate one validated delivery of ``source`` into ``repo``.

    Args:
        delivery: the validated delivery; with any error nothing is written and the report's
            outcome is ``invalid``.
        partial: rows missing from this delivery are kept (not closed as deleted).
        merge: merge the run's branches into ``source`` and ``integration``; False stops with
            both branches ready (``vxp ingest merge RUN`` finishes).
        jobs: parallel uploads.

    Returns:
        The run's report (outcome, run id, branches, commits, per-table changes, warnings).

    Raises:
        InvalidInput: a bad source name. NotFound: no such repository.
        Conflict: merging conflicted even after re-planning; nothing was changed.
        Unavailable: lakeFS or the catalog went away; the layers are as they were, or (after
            the ``source`` merge) a re-run completes ``integration``.
    """
    validate_source_name(source)
    progress = progress or SilentProgress()
    report = RunReport(source=source, repository=repo, problems=delivery.problems)
    resolve(session, repo, SOURCE_BRANCH)
    if not delivery.problems.has_errors:
        check_evolution(Tables(settings, repo, SOURCE_BRANCH), source, delivery, delivery.problems)
    if delivery.problems.has_errors:
        report.outcome = Outcome.INVALID
        return report

    progress.phase("checksums", sum(f.size for f in delivery.files), unit="bytes")
    entries = checksum_files(delivery.files, jobs, progress=progress.advance)
    probe = DeliveryManifest(source, "", "study", entries)
    digest = probe.delivery_sha256

    integrated = integrated_run(session, repo, DEFAULT_BRANCH, source, digest)
    if integrated is not None:
        report.outcome = Outcome.UNCHANGED
        report.run = integrated.run
        progress.say(f"unchanged: this delivery is run {integrated.run} of {source!r}")
        return report
    on_source = read_state(session, repo, SOURCE_BRANCH, source, Stage.LANDED)
    resumed_run = _unfinished_run(session, repo, source, digest)
    if on_source is not None and on_source.delivery_sha256 == digest:
        run = on_source.run
        report.resumed = True
        progress.say(f"resuming run {run}: it reached source, integration is completed now")
    elif resumed_run is not None:
        run = resumed_run
        report.resumed = True
        progress.say(f"resuming run {run} of this delivery")
    else:
        run = new_run_id(now())
    names = RunNames(source, run)
    report.run = run
    manifest = DeliveryManifest(
        source, run, "study", entries, {"partial": partial, "datasets": _dataset_names(delivery)}
    )

    lineage = RunLineage.for_run(repo, f"ingest-study.{source}", run)
    inputs = [FileInput(names.raw_path(e.path), e.sha256, e.size) for e in entries]
    lineage.start(inputs)
    landed_on_source = on_source is not None and on_source.delivery_sha256 == digest
    if not landed_on_source:
        _land(session, settings, repo, names, delivery, manifest, jobs, progress, report)
    report.branches["ingest"] = names.ingest_branch
    at = now()
    datasets = [
        DatasetData(
            d.table,
            pa.Table.from_batches(list(d.batches()), schema=d.schema),
            tuple(d.key_columns),
            tuple(d.entities),
        )
        for d in delivery.datasets
    ]
    for attempt in range(REPLANS + 1):
        upstream = SOURCE_BRANCH if landed_on_source else names.ingest_branch
        result = _integrate(
            session,
            settings,
            repo,
            names,
            upstream,
            manifest,
            datasets,
            at,
            partial,
            progress,
            lambda changes: _complete(lineage, inputs, delivery, datasets, changes),
        )
        report.changes = [c for c in report.changes if c.table.startswith("raw_")]
        report.changes += result.changes
        report.warnings = result.warnings
        report.branches["integrate"] = names.integrate_branch
        if not merge:
            report.outcome = Outcome.STAGED
            return report
        if not landed_on_source:
            report.commits["source"] = merge_into_layer(
                session, repo, names.ingest_branch, SOURCE_BRANCH, names, Stage.LANDED
            )
            landed_on_source = True
        try:
            report.commits["integration"] = merge_into_layer(
                session, repo, names.integrate_branch, DEFAULT_BRANCH, names, Stage.INTEGRATED
            )
        except Conflict:
            if attempt == REPLANS:
                raise
            # another run changed the same tables: start the step again from its result
            progress.say("integration changed meanwhile; re-planning against it")
            session.delete_branch(repo, names.integrate_branch)
            continue
        break
    _cleanup(session, repo, names)
    report.outcome = Outcome.LANDED
    return report


def _dataset_names(delivery: StudyPlan) -> list[str]:
    return sorted(d.table for d in delivery.datasets)


def _unfinished_run(session: Session, repo: str, source: str, digest: str) -> str | None:
    """The run of an ingest branch that holds this delivery but was never merged."""
    prefix = f"ingest-{source}-"
    for branch in sorted(session.branch_heads(repo)):
        if not branch.startswith(prefix):
            continue
        state = read_state(session, repo, branch, source, Stage.LANDED)
        if state is not None and state.delivery_sha256 == digest:
            return branch[len(prefix) :]
    return None


def _land(
    session: Session,
    settings: Settings,
    repo: str,
    names: RunNames,
    delivery: StudyPlan,
    manifest: DeliveryManifest,
    jobs: int,
    progress: Progress,
    report: RunReport,
) -> None:
    """Files, manifest and source state committed on the ingest branch, then the raw tables."""
    ensure_branch(session, repo, names.ingest_branch, SOURCE_BRANCH)
    progress.phase("upload", sum(f.size for f in delivery.files), unit="bytes")
    land_files(session, repo, names, delivery.files, manifest, jobs=jobs, progress=progress.advance)
    write_state(session, repo, names.ingest_branch, manifest, Stage.LANDED)
    if session.has_uncommitted(repo, names.ingest_branch):
        report.commits["landed"] = session.commit(
            repo,
            names.ingest_branch,
            f"land {names.source} delivery as run {names.run}",
            {
                RUN_KEY: names.run,
                SOURCE_KEY: names.source,
                STAGE_KEY: str(Stage.LANDED),
                DELIVERY_KEY: manifest.delivery_sha256,
            },
        )
    tables = Tables(settings, repo, names.ingest_branch)
    progress.phase("raw tables", len(delivery.datasets), unit="tables")
    for dataset in delivery.datasets:
        identifier = f"raw_{names.source}.{dataset.table}"
        tables.replace(identifier, dataset.batches(), dataset.schema)
        report.changes.append(TableChange(identifier, replaced=True))
        progress.advance()


def _integrate(
    session: Session,
    settings: Settings,
    repo: str,
    names: RunNames,
    upstream: str,
    manifest: DeliveryManifest,
    datasets: Sequence[DatasetData],
    at: dt.datetime,
    partial: bool,
    progress: Progress,
    lineage: Callable[[Sequence[TableChange]], bytes],
) -> IntegrationResult:
    """The integration step on a fresh ``integrate-…`` branch: upstream merged in, tables
    written, the source state committed."""
    if session.branch_head(repo, names.integrate_branch) is not None:
        # a killed run's half-done step: start it again from the layer's head
        session.delete_branch(repo, names.integrate_branch)
    session.create_branch(repo, names.integrate_branch, DEFAULT_BRANCH)
    bring_upstream(session, repo, names, upstream)
    progress.phase("integration", len(datasets) + 2, unit="tables")
    tables = Tables(settings, repo, names.integrate_branch)
    result = integrate_study(
        tables, names.source, datasets, run_id=names.run, at=at, partial=partial
    )
    progress.advance(len(datasets) + 2)
    write_state(session, repo, names.integrate_branch, manifest, Stage.INTEGRATED)
    # the run's lineage is committed with the data it describes
    session.upload_object(repo, names.integrate_branch, names.lineage_path, lineage(result.changes))
    session.commit(
        repo,
        names.integrate_branch,
        f"integrate {names.source} run {names.run}",
        {
            RUN_KEY: names.run,
            SOURCE_KEY: names.source,
            STAGE_KEY: str(Stage.INTEGRATED),
            DELIVERY_KEY: manifest.delivery_sha256,
        },
    )
    return result


def _complete(
    lineage: RunLineage,
    inputs: Sequence[FileInput],
    delivery: StudyPlan,
    datasets: Sequence[DatasetData],
    changes: Sequence[TableChange],
) -> bytes:
    """The run's events with COMPLETE added: every table written, with its columns."""
    schemas = {f"raw_{lineage.job.split('.', 1)[1]}.{d.table}": d.schema for d in delivery.datasets}
    source = lineage.job.split(".", 1)[1]
    schemas |= {f"{source}.{d.name}": d.rows.schema for d in datasets}
    outputs = [
        TableOutput(
            c.table,
            tuple((f.name, str(f.type)) for f in schemas[c.table]) if c.table in schemas else (),
            c.added,
        )
        for c in changes
    ]
    raw = [
        TableOutput(name, tuple((f.name, str(f.type)) for f in schema))
        for name, schema in schemas.items()
        if name.startswith("raw_")
    ]
    lineage.complete(inputs, [*raw, *outputs], None)
    return lineage.to_jsonl()


def _cleanup(session: Session, repo: str, names: RunNames) -> None:
    """Delete the run's branches once both layers hold it (their commits stay reachable)."""
    for branch in (names.ingest_branch, names.integrate_branch):
        if session.branch_head(repo, branch) is not None:
            session.delete_branch(repo, branch)
