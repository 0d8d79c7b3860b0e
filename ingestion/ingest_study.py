"""``vxp ingest study``: one delivery of a clinical study, through the run model of
:mod:`.runs`, into ``source`` (files + typed raw tables) and ``integration`` (keyed, historised
tables and the study's resources).

Idempotent per delivery, like DataJoint's ``make(key)``: the delivery's identity is the sha256
of its files (:func:`.runs.delivery_sha256`); running the same delivery again does nothing once
it is integrated, and completes what a killed run left undone otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa

from vxp.core.errors import Conflict
from vxp.core.settings import Settings
from vxp.domain.engines import Engine
from vxp.domain.lineage import FileInput, RunLineage, TableOutput
from vxp.domain.refs import resolve
from vxp.lakefs import Session

from .evolution import check_evolution
from .files.media import detect
from .iceberg import Tables, catalog_reachable
from .integration import (
    DatasetData,
    IntegrationResult,
    StreamedRows,
    TableChange,
    integrate_study,
)
from .report import Outcome, Progress, RunReport, SilentProgress
from .runs import (
    REPLANS,
    SOURCE_BRANCH,
    DeliveryManifest,
    RunNames,
    Stage,
    checksum_files,
    cleanup_run,
    integrate_and_merge,
    integration_step,
    land_delivery,
    read_state,
    start_run,
    validate_source_name,
)
from .scd2 import SCD2_FIELDS
from .study.plan import StudyPlan
from .trino_integration import integrate_study_trino, trino_url

__all__ = ["REPLANS", "SOURCE_BRANCH", "ingest_study"]


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
    engine: Engine = Engine.duckdb,
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
        engine: what runs the integration step: DuckDB in this process, or the stack's Trino
            (:mod:`.trino_integration`; the same tables and rows).

    Returns:
        The run's report (outcome, run id, branches, commits, per-table changes, warnings).

    Raises:
        InvalidInput: a bad source name. NotFound: no such repository, or ``Engine.trino``
            on a stack without Trino (checked before anything is read or written).
        Conflict: merging conflicted even after re-planning; nothing was changed.
        Unavailable: lakeFS or the catalog went away; the layers are as they were, or (after
            the ``source`` merge) a re-run completes ``integration``.
    """
    # the catalog may go away at any of the run's table reads and writes
    with catalog_reachable(settings):
        return _ingest_study(
            session,
            settings,
            repo,
            source,
            delivery,
            partial=partial,
            merge=merge,
            jobs=jobs,
            engine=engine,
            progress=progress,
            now=now,
        )


def _ingest_study(
    session: Session,
    settings: Settings,
    repo: str,
    source: str,
    delivery: StudyPlan,
    *,
    partial: bool,
    merge: bool,
    jobs: int,
    engine: Engine,
    progress: Progress | None,
    now: Callable[[], dt.datetime],
) -> RunReport:
    """:func:`ingest_study` without the mapping of an unreachable catalog."""
    validate_source_name(source)
    trino = trino_url(settings) if engine is Engine.trino else None
    progress = progress or SilentProgress()
    report = RunReport(source=source, repository=repo, problems=delivery.problems)
    resolve(session, repo, SOURCE_BRANCH)
    complete = True
    if not delivery.datasets and not delivery.problems.has_errors:
        # nothing to ingest: as a full delivery it would close every row and resource
        delivery.problems.error(
            "delivery.empty",
            "The delivery holds no dataset (.csv or .xpt declared in the dictionary); "
            "nothing would be ingested.",
        )
    if not delivery.problems.has_errors:
        complete = check_evolution(
            Tables(settings, repo, SOURCE_BRANCH), source, delivery, delivery.problems
        )
    if delivery.problems.has_errors:
        report.outcome = Outcome.INVALID
        return report

    progress.phase("checksums", sum(f.size for f in delivery.files), unit="bytes")
    entries = checksum_files(
        delivery.files,
        jobs,
        media_type=lambda f: detect(f.path, f.relative_path).media_type,
        progress=progress.advance,
    )
    # a partial delivery deletes nothing: the same files sent as a full delivery are another
    # delivery (a full identity stays the files' alone)
    identity = {"partial": True} if partial else {}
    probe = DeliveryManifest(source, "", "study", entries, identity_options=identity)
    digest = probe.delivery_sha256

    start = start_run(session, repo, source, "study", digest, now())
    run = start.run
    if start.unchanged:
        # a run killed after its integration merge left its (merged) branches behind
        cleanup_run(session, repo, RunNames(source, run))
        report.outcome = Outcome.UNCHANGED
        report.run = run
        return report
    if start.landed_on_source:
        report.resumed = True
        progress.say(f"resuming run {run}: it reached source, integration is completed now")
    elif start.resumed:
        report.resumed = True
        progress.say(f"resuming run {run} of this delivery")
    names = RunNames(source, run)
    report.run = run
    manifest = DeliveryManifest(
        source,
        run,
        "study",
        entries,
        {"partial": partial, "datasets": _dataset_names(delivery)},
        identity_options=identity,
    )

    lineage = RunLineage.for_run(repo, f"ingest-study.{source}", run)
    inputs = [FileInput(names.raw_path(e.path), e.sha256, e.size) for e in entries]
    lineage.start(inputs)
    if not start.landed_on_source:
        _land(session, settings, repo, names, delivery, manifest, jobs, progress, report)
    report.branches["ingest"] = names.ingest_branch
    at = now()
    # streamed from the delivered files when the integration step reads them: never whole
    datasets = [
        DatasetData(
            d.table, StreamedRows(d.schema, d.batches), tuple(d.key_columns), tuple(d.entities)
        )
        for d in delivery.datasets
    ]

    def step(upstream: str) -> IntegrationResult:
        progress.phase("integration", len(datasets) + 2, unit="tables")
        result = integration_step(
            session,
            repo,
            names,
            upstream,
            manifest,
            lambda: _integrate(
                session,
                settings,
                repo,
                names,
                datasets,
                trino,
                run_id=run,
                complete=complete,
                at=at,
                partial=partial,
            ),
            lambda result: _complete(lineage, inputs, delivery, datasets, result.changes),
        )
        progress.advance(len(datasets) + 2)
        report.changes = [c for c in report.changes if c.table.startswith("raw_")]
        report.changes += result.changes
        report.warnings = result.warnings
        report.branches["integrate"] = names.integrate_branch
        return result

    _, merged = integrate_and_merge(
        session,
        repo,
        names,
        landed_on_source=start.landed_on_source,
        merge=merge,
        step=step,
        commits=report.commits,
        say=progress.say,
    )
    report.outcome = Outcome.LANDED if merged else Outcome.STAGED
    return report


def _integrate(
    session: Session,
    settings: Settings,
    repo: str,
    names: RunNames,
    datasets: Sequence[DatasetData],
    trino: str | None,
    *,
    run_id: str,
    at: dt.datetime,
    partial: bool,
    complete: bool,
) -> IntegrationResult:
    """The integration step's tables, in this process (``trino`` None) or by Trino at ``trino``."""
    tables = Tables(settings, repo, names.integrate_branch)
    landed = read_state(session, repo, names.integrate_branch, names.source, Stage.LANDED)
    ours = landed is not None and landed.run == names.run
    if trino is None:
        if ours:
            # the typed rows are read back from the raw tables this run wrote (Parquet), not
            # parsed from the delivered CSV files a second time: the same values, ~10x faster
            datasets = [_from_raw(tables, names.source, d) for d in datasets]
        return integrate_study(
            tables, names.source, datasets, run_id=run_id, complete=complete, at=at, partial=partial
        )
    # Trino reads the delivery from the raw tables the branch holds: they must be this run's
    if not ours:
        raise Conflict(
            f"run {names.run} of {names.source!r}: the raw tables on its integration branch are "
            f"run {landed.run if landed else '(none)'}'s, not this run's",
            hint="another run of this source landed meanwhile; ingest the delivery again",
        )
    return integrate_study_trino(
        trino,
        tables,
        repo,
        names.integrate_branch,
        names.source,
        datasets,
        run_id=run_id,
        at=at,
        partial=partial,
        complete=complete,
    )


def _from_raw(tables: Tables, source: str, dataset: DatasetData) -> DatasetData:
    """``dataset`` read from its raw table ``raw_<source>.<dataset>`` at ``tables``' branch, in
    the delivery's columns and types (the raw table may hold columns of earlier deliveries)."""
    schema = dataset.rows.schema
    identifier = f"raw_{source}.{dataset.name}"

    def batches() -> Iterator[pa.RecordBatch]:
        stream = tables.batches(identifier)
        if stream is None:  # not there: the delivered file, as before
            yield from dataset.batches()
            return
        for batch in stream:
            yield pa.RecordBatch.from_arrays(
                [batch.column(f.name).cast(f.type) for f in schema], schema=schema
            )

    return DatasetData(dataset.name, StreamedRows(schema, batches), dataset.key, dataset.entities)


def _dataset_names(delivery: StudyPlan) -> list[str]:
    return sorted(d.table for d in delivery.datasets)


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
    transfer, commit = land_delivery(
        session, repo, names, delivery.files, manifest, jobs=jobs, progress=progress
    )
    report.transfer = transfer.to_json()
    if commit is not None:
        report.commits["landed"] = commit
    tables = Tables(settings, repo, names.ingest_branch)
    progress.phase("raw tables", len(delivery.datasets), unit="tables")
    for dataset in delivery.datasets:
        identifier = f"raw_{names.source}.{dataset.table}"
        existed = tables.exists(identifier)
        written = tables.replace(identifier, dataset.batches(), dataset.schema)
        # the summary's rows for a raw table: the delivery's rows, all written anew (replacing
        # the previous delivery's, when there was one)
        report.changes.append(TableChange(identifier, added=written, replaced=existed))
        progress.advance()


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
    # the tables as written: the delivery's columns and the surrogate keys added to them
    schemas |= {
        f"{source}.{d.name}": pa.schema(
            [*d.rows.schema, *(pa.field(e.sk_column, pa.int64()) for e in d.entities)]
        )
        for d in datasets
    }
    keyed = {f"{source}.{d.name}" for d in datasets if d.key}
    outputs = [
        TableOutput(
            c.table,
            tuple((f.name, str(f.type)) for f in schemas[c.table]) if c.table in schemas else (),
            c.added,
        )
        for c in changes
    ]
    # a keyed dataset's history table changed with it (its current table is derived from it)
    outputs += [
        TableOutput(
            f"{c.table}_history",
            tuple((f.name, str(f.type)) for f in schemas[c.table])
            + tuple((f.name, str(f.type)) for f in SCD2_FIELDS),
        )
        for c in changes
        if c.table in keyed
    ]
    raw = [
        TableOutput(name, tuple((f.name, str(f.type)) for f in schema))
        for name, schema in schemas.items()
        if name.startswith("raw_")
    ]
    lineage.complete(inputs, [*raw, *outputs], None)
    return lineage.to_jsonl()
