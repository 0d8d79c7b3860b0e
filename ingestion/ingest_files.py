"""``vxp ingest files``: every file of a folder, byte for byte, into ``source``, and its resources
(DICOM studies and series, volumes, documents, files) into ``integration``.

The run model is the one of study ingestion (:mod:`.runs`, DESIGN.md "Versioning model"):

1. scan the folder (:func:`~.delivery.scan_delivery`), then per file, ``jobs`` at a time, its
   sha256 and its header (:func:`~.files.inspect_file`: media type from content, DICOM, NIfTI,
   PDF). Any error and nothing is written (outcome ``invalid``), unless ``quarantine``;
2. the delivery's identity (its files' paths and sha256, the quarantined files, the subject
   rules and DICOM allow-list) decides: integrated already → ``unchanged``, no commit; an
   earlier run of it was interrupted → that run is resumed; else a new run;
3. on ``ingest-<source>-<run>`` (from ``source``): ``_manifest.json`` first, then every file to
   ``raw/<source>/<run>/<relative path>`` (already-landed files are not sent again), the
   quarantined ones with their problem report to ``quarantine/<source>/<run>/``; commit;
4. on ``integrate-<source>-<run>`` (from ``integration``): ``vxp.resources`` (SCD-2, scoped to
   this source's file resource types, so a study run's trial, subjects and visits are never
   closed; the trial and subjects the files hang under are inserted only when missing), and
   ``<source>.dicom_series``; the run's OpenLineage events; commit;
5. merge both (``merge=False`` stops before: ``vxp ingest merge RUN``).

**Files unchanged since the source's last files run are not copied again.** A file whose
relative path and sha256 equal those of the last files run that reached ``source`` keeps
pointing at the object that run landed (its manifest entry says ``stored_at``): a cumulative
re-delivery of a large imaging archive sends only what is new or changed, and a resource's
version changes only when its bytes, links or attributes do. Every object stays immutable
(the source layer never changes or deletes one), so both the old and the new run's manifest
read the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from vxp.core.errors import InvalidInput
from vxp.core.names import DEFAULT_BRANCH
from vxp.core.settings import Settings
from vxp.domain.lineage import FileInput, RunLineage, TableOutput
from vxp.domain.refs import resolve
from vxp.lakefs import Session

from .delivery import DeliveredFile, scan_delivery, sha256_file
from .files import (
    DEFAULT_RULES,
    DICOM_SERIES_SCHEMA,
    FILE_RESOURCE_TYPES,
    AllowList,
    FileBytes,
    FileFacts,
    FilesPlan,
    Kind,
    SubjectRule,
    inspect_file,
    plan_from_facts,
)
from .iceberg import Tables
from .integration import RESOURCES_IDENTIFIER, TableChange
from .problems import Problem, Problems
from .report import Outcome, Progress, RunReport, SilentProgress
from .resources import (
    RESOURCES_SCHEMA,
    Resource,
    ResourceType,
    decode_segment,
    in_scope,
    plan_resources,
)
from .runs import (
    SOURCE_BRANCH,
    DeliveryManifest,
    ManifestEntry,
    RunNames,
    Stage,
    cleanup_run,
    integrate_and_merge,
    integrated_run,
    integration_step,
    land_delivery,
    read_state,
    start_run,
    validate_source_name,
)
from .scd2 import IS_CURRENT, apply_scd2

__all__ = ["KIND", "ingest_files", "rule_text"]

#: the ``kind`` of a files run (manifest, source state)
KIND = "files"
#: the problem report of a quarantined run, next to its files
PROBLEMS_NAME = "_problems.json"


def rule_text(rule: SubjectRule) -> str:
    """A subject rule as ``--subject-from`` spells it (``dicom`` or ``path:REGEX``)."""
    if rule.kind == "dicom" or rule.pattern is None:
        return "dicom"
    return f"path:{rule.pattern.pattern}"


def ingest_files(
    session: Session,
    settings: Settings,
    repo: str,
    source: str,
    root: Path,
    *,
    subject_from: Sequence[SubjectRule | str] | None = None,
    quarantine: bool = False,
    merge: bool = True,
    jobs: int = 4,
    progress: Progress | None = None,
    allow_list: AllowList | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> RunReport:
    """Land every file under ``root`` in ``repo`` as a run of ``source``, and its resources.

    Args:
        root: the delivery folder (the module docstring and
            :func:`~vxp.ingestion.delivery.scan_delivery` say which names, links and files are
            refused).
        subject_from: subject rules tried in order (``"dicom"``, ``"path:REGEX"`` or
            :class:`~vxp.ingestion.files.SubjectRule`); default DICOM PatientID alone. Files no
            rule links hang under ``trial/<source>`` with a ``subject.unknown`` warning.
        quarantine: land the good files and keep the bad ones (and the problem report
            ``_problems.json``) under ``quarantine/<source>/<run>/``; no resource points at
            them. Default: any error fails the run and nothing is written.
        merge: merge into ``source`` and ``integration``; False leaves both branches.
        jobs: files checked and uploaded in parallel.
        allow_list: the DICOM attributes copied (default
            :data:`~vxp.ingestion.files.DEFAULT_ALLOW_LIST`).

    Returns:
        The run's report: outcome (``landed``, ``staged``, ``unchanged``, ``invalid``), run
        id, branches, commits, table changes, problems, quarantined files, what was sent.

    Raises:
        InvalidInput: a bad source name, a subject rule that does not parse, ``root`` not a
            folder. NotFound: no such repository (or no ``source`` branch).
        Conflict: merging conflicted even after re-planning; ``integration`` is unchanged.
        Unavailable: lakeFS or the catalog went away; running again resumes.
    """
    validate_source_name(source)
    rules = _rules(subject_from)
    allow = allow_list if allow_list is not None else AllowList()
    progress = progress or SilentProgress()
    report = RunReport(source=source, repository=repo)
    resolve(session, repo, SOURCE_BRANCH)

    problems = Problems()
    try:
        files = scan_delivery(Path(root), problems, allow_empty=True)
    except NotADirectoryError as exc:
        raise InvalidInput(str(exc), hint="pass the folder that holds the delivery") from exc
    if not files and not problems.has_errors:
        problems.error("delivery.empty", "The folder holds no files to ingest.")
    identity = {
        "subject_from": [rule_text(r) for r in rules],
        "dicom_allow_list": list(allow.keywords),
    }
    progress.phase("checksums", sum(f.size for f in files), unit="bytes", items=len(files))
    checksums, unreadable = _checksums(files, jobs, progress)
    if not problems.has_errors and not unreadable and all(f.size for f in files):
        # the same names, bytes and options as a delivery integrated before, which passed every
        # check then: nothing to read or do (the checks are a function of exactly these)
        everything = tuple(
            ManifestEntry(f.relative_path, checksums[f.relative_path], f.size) for f in files
        )
        probe = DeliveryManifest(source, "", KIND, everything, identity_options=identity)
        known = integrated_run(session, repo, DEFAULT_BRANCH, source, probe.delivery_sha256, KIND)
        if known is not None:
            # a run killed after its integration merge left its (merged) branches behind
            cleanup_run(session, repo, RunNames(source, known.run))
            report.run = known.run
            report.problems = problems
            report.outcome = Outcome.UNCHANGED
            return report
    progress.phase("check", len(files), unit="files")
    facts = _inspect(files, unreadable, allow, jobs, progress)
    for fact in facts:
        problems.extend(fact.problems)
    bad = {fact.relative_path for fact in facts if fact.bad}
    good_files = [f for f in files if f.relative_path not in bad]
    media = {fact.relative_path: fact.media_type for fact in facts}
    if problems.has_errors and not quarantine:
        # the warnings of linking too, so one round trip shows everything
        plan = _plan(source, "invalid", facts, good_files, checksums, {}, rules)
        report.problems = _merged(problems, plan.problems)
        report.outcome = Outcome.INVALID
        return report

    entries = tuple(
        ManifestEntry(f.relative_path, checksums[f.relative_path], f.size, media[f.relative_path])
        for f in good_files
    )
    # a file that cannot be read cannot be kept either: the report names it
    quarantined = tuple(
        ManifestEntry(f.relative_path, checksums[f.relative_path], f.size, media[f.relative_path])
        for f in files
        if f.relative_path in bad and f.relative_path in checksums
    )
    probe = DeliveryManifest(
        source, "", KIND, entries, quarantined=quarantined, identity_options=identity
    )
    start = start_run(session, repo, source, KIND, probe.delivery_sha256, now())
    report.run = start.run
    report.quarantined = [e.path for e in quarantined]
    if start.unchanged:
        cleanup_run(session, repo, RunNames(source, start.run))
        plan = _plan(source, start.run, facts, good_files, checksums, {}, rules)
        report.problems = _merged(problems, plan.problems)
        report.outcome = Outcome.UNCHANGED
        return report
    names = RunNames(source, start.run)
    if start.resumed:
        report.resumed = True
        progress.say(
            f"resuming run {start.run}: "
            + ("it reached source, integration is completed now" if start.landed_on_source else "")
            + ("" if start.landed_on_source else "files already landed are not sent again")
        )
    stored_at = _stored_at(session, repo, names, start.resumed, start.landed_on_source, entries)
    manifest = DeliveryManifest(
        source,
        start.run,
        KIND,
        tuple(_with_stored(e, stored_at.get(e.path)) for e in entries),
        options={"quarantine": quarantine},
        quarantined=quarantined,
        identity_options=identity,
    )
    objects = {
        e.path: e.stored_at if e.stored_at is not None else names.raw_path(e.path)
        for e in manifest.files
    }
    plan = _plan(source, start.run, facts, good_files, checksums, objects, rules)
    report.problems = _merged(problems, plan.problems)

    lineage = RunLineage.for_run(repo, f"ingest-files.{source}", start.run)
    # the run's input is its manifest, which names every file with its sha256: one dataset,
    # not 10,000 (an event per file made lineage cost more than the uploads of small files)
    listing = manifest.to_bytes()
    inputs = [FileInput(names.manifest_path, hashlib.sha256(listing).hexdigest(), len(listing))]
    lineage.start(inputs)
    if not start.landed_on_source:
        extra = {}
        if quarantined:
            extra[names.quarantine_prefix + PROBLEMS_NAME] = _quarantine_report(
                names, quarantined, report.problems
            )
        transfer, commit = land_delivery(
            session,
            repo,
            names,
            files,
            manifest,
            jobs=jobs,
            progress=progress,
            extra=extra,
        )
        report.transfer = transfer.to_json()
        if commit is not None:
            report.commits["landed"] = commit
    report.branches["ingest"] = names.ingest_branch
    at = now()

    def step(upstream: str) -> list[TableChange]:
        progress.phase("integration", 2, unit="tables")
        changes = integration_step(
            session,
            repo,
            names,
            upstream,
            manifest,
            lambda: _write_tables(
                Tables(settings, repo, names.integrate_branch), source, plan, start.run, at
            ),
            lambda changes: _lineage(lineage, inputs, source, changes),
        )
        progress.advance(2)
        return changes

    changes, merged = integrate_and_merge(
        session,
        repo,
        names,
        landed_on_source=start.landed_on_source,
        merge=merge,
        step=step,
        commits=report.commits,
        say=progress.say,
    )
    report.changes = changes
    report.branches["integrate"] = names.integrate_branch
    report.outcome = Outcome.LANDED if merged else Outcome.STAGED
    return report


def _rules(subject_from: Sequence[SubjectRule | str] | None) -> tuple[SubjectRule, ...]:
    if not subject_from:
        return DEFAULT_RULES
    rules: list[SubjectRule] = []
    for rule in subject_from:
        if isinstance(rule, SubjectRule):
            rules.append(rule)
            continue
        try:
            rules.append(SubjectRule.parse(rule))
        except ValueError as exc:
            raise InvalidInput(
                str(exc), hint="e.g. --subject-from 'path:^sub-([^/]+)/' or --subject-from dicom"
            ) from exc
    return tuple(rules)


def _checksums(
    files: Sequence[DeliveredFile], jobs: int, progress: Progress
) -> tuple[dict[str, str], dict[str, str]]:
    """sha256 of every file, streamed, ``jobs`` at a time (hashlib releases the GIL); relative
    path → sha256 of the readable files, and → the reason of the others."""

    def one(file: DeliveredFile) -> tuple[str, str | None, str | None]:
        try:
            checksum = sha256_file(file.path)
        except OSError as exc:
            return file.relative_path, None, str(exc.strerror or exc)
        finally:
            progress.advance(file.size)
        return file.relative_path, checksum, None

    checksums: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for rel, checksum, reason in pool.map(one, files):
            if checksum is not None:
                checksums[rel] = checksum
            else:
                unreadable[rel] = reason or "unreadable"
    return checksums, unreadable


def _inspect(
    files: Sequence[DeliveredFile],
    unreadable: Mapping[str, str],
    allow: AllowList,
    jobs: int,
    progress: Progress,
) -> list[FileFacts]:
    """Media type and header facts of every file, ``jobs`` at a time, in file order."""

    def one(file: DeliveredFile) -> FileFacts:
        rel = file.relative_path
        try:
            if rel in unreadable:
                problem = Problem(
                    "file.unreadable", f"The file cannot be read: {unreadable[rel]}.", rel
                )
            elif file.size == 0:
                # scanned with allow_empty so that --quarantine can keep it; still an error
                problem = Problem("file.empty", "The file is empty (0 bytes).", rel)
            else:
                return inspect_file(file, allow)
            return FileFacts(rel, "application/octet-stream", Kind.OTHER, problems=(problem,))
        finally:
            progress.advance()

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, files))


def _plan(
    source: str,
    run: str,
    facts: Sequence[FileFacts],
    good: Sequence[DeliveredFile],
    checksums: Mapping[str, str],
    objects: Mapping[str, str],
    rules: Sequence[SubjectRule],
) -> FilesPlan:
    from .files import raw_path

    stored = {
        f.relative_path: FileBytes(
            objects.get(f.relative_path) or raw_path(source, run, f.relative_path),
            checksums[f.relative_path],
            f.size,
        )
        for f in good
    }
    return plan_from_facts(source, facts, stored, subject_from=rules)


def _merged(scan: Problems, plan: Problems) -> Problems:
    """The scan's problems and the plan's (which repeats the files' own problems) once each."""
    seen = set(scan)
    merged = Problems(scan)
    merged.extend(p for p in plan if p not in seen)
    return merged


def _stored_at(
    session: Session,
    repo: str,
    names: RunNames,
    resumed: bool,
    landed_on_source: bool,
    entries: Sequence[ManifestEntry],
) -> dict[str, str]:
    """Relative path → the object an earlier run landed with the same bytes.

    A resumed run keeps the choices its manifest recorded (its objects may be half landed); a
    new run takes every file whose path and sha256 equal those of the source's last files run
    on ``source``.
    """
    if resumed:
        ref = SOURCE_BRANCH if landed_on_source else names.ingest_branch
        raw = session.get_object(repo, ref, names.manifest_path)
        if raw is not None:
            body = json.loads(raw)
            return {
                str(f["path"]): str(f["stored_at"]) for f in body["files"] if f.get("stored_at")
            }
        return {}
    last = read_state(session, repo, SOURCE_BRANCH, names.source, Stage.LANDED, KIND)
    if last is None:
        return {}
    previous = RunNames(names.source, last.run)
    raw = session.get_object(repo, SOURCE_BRANCH, previous.manifest_path)
    if raw is None:
        return {}
    earlier = {
        str(f["path"]): (str(f["sha256"]), str(f.get("stored_at") or previous.raw_path(f["path"])))
        for f in json.loads(raw)["files"]
    }
    return {
        e.path: earlier[e.path][1]
        for e in entries
        if e.path in earlier and earlier[e.path][0] == e.sha256
    }


def _with_stored(entry: ManifestEntry, stored_at: str | None) -> ManifestEntry:
    return ManifestEntry(entry.path, entry.sha256, entry.size, entry.media_type, stored_at)


def _quarantine_report(
    names: RunNames, quarantined: Sequence[ManifestEntry], problems: Problems
) -> bytes:
    """``quarantine/<source>/<run>/_problems.json``: the kept files and every problem."""
    kept = {e.path for e in quarantined}
    body: dict[str, Any] = {
        "source": names.source,
        "run": names.run,
        "files": [e.to_json() for e in sorted(quarantined, key=lambda e: e.path)],
        "problems": [p.to_json() for p in problems.sorted() if p.file in kept],
        "not_kept": [
            p.to_json()
            for p in problems.sorted()
            if p.severity.value == "error" and p.file not in kept
        ],
    }
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def _write_tables(
    tables: Tables, source: str, plan: FilesPlan, run: str, at: dt.datetime
) -> list[TableChange]:
    """``vxp.resources`` and ``<source>.dicom_series`` at the integration branch; what changed."""
    changes: list[TableChange] = []
    change = _write_resources(tables, source, plan, run, at)
    if change.changes_anything:
        changes.append(change)
    change = _write_dicom_series(tables, f"{source}.dicom_series", plan.dicom_series)
    if change.changes_anything:
        changes.append(change)
    return changes


def _write_resources(
    tables: Tables, source: str, plan: FilesPlan, run: str, at: dt.datetime
) -> TableChange:
    """The run's file resources (SCD-2, a full delivery of its scope) and the parents that are
    missing, in one replace of ``vxp.resources``."""
    stored = tables.read(RESOURCES_IDENTIFIER)
    history = (
        RESOURCES_SCHEMA.empty_table()
        if stored is None
        else stored.select(RESOURCES_SCHEMA.names).cast(RESOURCES_SCHEMA)
    )
    scope = in_scope(history, source=source, types=FILE_RESOURCE_TYPES)
    own = plan_resources(scope, list(plan.resources), run_id=run, at=at, full=True)
    current = {
        row["id"] for row in history.select(["id", IS_CURRENT]).to_pylist() if row[IS_CURRENT]
    }
    missing = [_described(p) for p in plan.parents if p.id not in current]
    missing_ids = {p.id for p in missing}
    # closed rows of a missing parent count for its version numbers
    wanted = pa.array([row_id in missing_ids for row_id in history["id"].to_pylist()], pa.bool_())
    parents = plan_resources(
        history.filter(wanted) if history.num_rows else history,
        missing,
        run_id=run,
        at=at,
        full=False,
    )
    change = TableChange(
        RESOURCES_IDENTIFIER,
        added=own.inserted + parents.inserted,
        changed=own.updated,
        deleted=own.deleted,
    )
    if own.is_empty and parents.is_empty and stored is not None:
        return change
    updated = apply_scd2(apply_scd2(history, own, key=["id"]), parents, key=["id"])
    tables.replace(RESOURCES_IDENTIFIER, updated.to_batches(), updated.schema)
    return change


def _described(parent: Resource) -> Resource:
    """A trial or subject a files run inserts, with the attributes a study run gives it too
    (``source``; ``subject``), so a later study run of the source changes no more than it must.
    """
    if parent.type is ResourceType.TRIAL:
        attributes = {"source": parent.source}
    else:
        attributes = {"subject": decode_segment(parent.id.rsplit("/", 1)[1])}
    return Resource(parent.id, parent.type, parent.parent_id, parent.source, attributes)


def _write_dicom_series(tables: Tables, identifier: str, rows: pa.Table) -> TableChange:
    """Replace ``<source>.dicom_series`` with the run's series unless they are the same."""
    before = tables.read(identifier)
    ordered = rows.sort_by("id") if rows.num_rows else rows
    if before is not None and _same(before, ordered):
        return TableChange(identifier)
    if before is None and not rows.num_rows:
        # no DICOM in this source (yet): no empty table
        return TableChange(identifier)
    tables.replace(identifier, ordered.to_batches(), DICOM_SERIES_SCHEMA)
    return TableChange(
        identifier,
        added=rows.num_rows,
        deleted=0 if before is None else before.num_rows,
        replaced=True,
    )


def _same(before: pa.Table, after: pa.Table) -> bool:
    if before.num_rows != after.num_rows or set(before.column_names) != set(after.column_names):
        return False
    left = before.sort_by("id").select(after.column_names).to_pylist() if before.num_rows else []
    return bool(left == after.to_pylist())


def _lineage(
    lineage: RunLineage,
    inputs: Sequence[FileInput],
    source: str,
    changes: Sequence[TableChange],
) -> bytes:
    """The run's events with COMPLETE added: the tables it wrote, with their columns."""
    schemas = {
        RESOURCES_IDENTIFIER: RESOURCES_SCHEMA,
        f"{source}.dicom_series": DICOM_SERIES_SCHEMA,
    }
    outputs = [
        TableOutput(
            c.table,
            tuple((f.name, str(f.type)) for f in schemas.get(c.table, pa.schema([]))),
            c.added,
        )
        for c in changes
    ]
    lineage.complete(inputs, outputs, None)
    return lineage.to_jsonl()
