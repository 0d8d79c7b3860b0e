"""Plan a files delivery: read every file's header, link subjects, build resources.

Two steps, so header parsing can run in a pool:

1. :func:`inspect_file` — one delivered file → :class:`FileFacts` (media type from content,
   the DICOM/NIfTI/PDF header facts, problems). A module-level function of picklable arguments:
   map it with ``concurrent.futures.ThreadPoolExecutor.map`` or ``ProcessPoolExecutor.map``
   (``functools.partial(inspect_file, allow_list=...)``).
2. :func:`plan_from_facts` — pure: facts + where the bytes landed → :class:`FilesPlan`.

:func:`plan_files` does both (``mapper`` picks the pool). Nothing here talks to lakeFS: the
caller uploads the bytes to ``raw/<source>/<run>/<relative path>`` (:func:`raw_path`), writes
``plan.media_types`` into ``_manifest.json``, SCD-2-plans ``plan.resources`` into
``vxp.resources`` scoped to :data:`FILE_RESOURCE_TYPES` of the source
(:func:`~vxp.ingestion.resources.in_scope`, :func:`~vxp.ingestion.resources.plan_resources`),
inserts ``plan.parents`` that are not there yet, and writes ``plan.dicom_series``. Files in
``plan.bad_files`` have an error; with ``--quarantine`` they go to ``quarantine/<source>/<run>/``
and no resource points at them.

Resources per file kind (docs/reference/resources.md): DICOM instances → ``DICOMStudy`` and
``DICOMSeries`` (:mod:`.dicom`); NIfTI → ``Volume`` (:mod:`.nifti`); PDF → ``Document``
(:mod:`.pdf`); anything else → ``File``. Every ``Volume``, ``Document`` and ``File`` has the
attributes ``media_type`` and ``relative_path`` (the delivered path); its name in the id is the
relative path (:func:`~vxp.ingestion.resources.encode_segment`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..delivery import DeliveredFile, scan_delivery, sha256_file
from ..problems import Problem, Problems, Severity
from ..resources import (
    InvalidId,
    Resource,
    ResourceType,
    check_segment,
    dicom_study_id,
    document_id,
    encode_segment,
    file_id,
    resources_table,
    subject_id,
    trial_id,
    volume_id,
)
from .dicom import (
    AllowList,
    DicomInstance,
    FileBytes,
    dicom_series_rows,
    group_instances,
    read_instance,
    series_resource,
    study_resource,
    subject_of_id,
)
from .media import Kind, detect, expected_kind
from .nifti import read_volume
from .pdf import read_document
from .subjects import DEFAULT_RULES, SubjectRule, link_subject

#: the resource types a files run produces: the scope of its SCD-2 plan in ``vxp.resources``
FILE_RESOURCE_TYPES: frozenset[ResourceType] = frozenset(
    {
        ResourceType.DICOM_STUDY,
        ResourceType.DICOM_SERIES,
        ResourceType.VOLUME,
        ResourceType.DOCUMENT,
        ResourceType.FILE,
    }
)

_KIND_NAMES = {Kind.DICOM: "DICOM", Kind.NIFTI: "NIfTI", Kind.PDF: "PDF"}


def raw_path(source: str, run_id: str, relative_path: str) -> str:
    """``raw/<source>/<run>/<relative path>``: where a delivered file lands (DESIGN, "What a
    ref holds").

    Raises:
        InvalidId: ``source`` or ``run_id`` is not a valid segment.
    """
    check_segment(source, what="source")
    check_segment(run_id, what="run id")
    return f"raw/{source}/{run_id}/{relative_path}"


@dataclass(frozen=True)
class FileFacts:
    """What :func:`inspect_file` learnt about one file.

    ``kind`` is the reader used (OTHER for plain files); at most one of ``dicom``, ``volume``,
    ``document`` is set, and none when the file has an error.
    """

    relative_path: str
    media_type: str
    kind: Kind
    dicom: DicomInstance | None = None
    volume: Mapping[str, Any] | None = None
    document: Mapping[str, Any] | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def bad(self) -> bool:
        """True when the file has an error problem (it gets no resource)."""
        return any(p.severity is Severity.ERROR for p in self.problems)


def inspect_file(file: DeliveredFile, allow_list: AllowList | None = None) -> FileFacts:
    """Detect the media type of one delivered file and read its header.

    A file whose name promises a kind (``.dcm``/``.dicom``, ``.nii``/``.nii.gz``, ``.pdf``) but
    whose content is not of it is an error (``dicom.not_dicom``, ``nifti.not_nifti``,
    ``pdf.not_pdf``); a file that cannot be opened is ``file.unreadable``. Reader problems are
    those of :func:`~.dicom.read_instance`, :func:`~.nifti.read_volume`,
    :func:`~.pdf.read_document`. Never raises for bad content.
    """
    rel = file.relative_path
    allow = allow_list if allow_list is not None else AllowList()
    try:
        info = detect(file.path, rel)
    except OSError as exc:
        problem = Problem(
            "file.unreadable", f"The file cannot be read: {exc.strerror or exc}.", rel
        )
        return FileFacts(rel, "application/octet-stream", Kind.OTHER, problems=(problem,))
    expected = expected_kind(rel)
    if info.kind is Kind.DICOM:
        instance, problems = read_instance(file.path, rel, allow, certain=info.certain)
        if instance is None and not info.certain and expected is not Kind.DICOM:
            # only looked like preamble-less DICOM: an ordinary file after all
            return FileFacts(rel, info.fallback, Kind.OTHER)
        return FileFacts(rel, info.media_type, Kind.DICOM, dicom=instance, problems=tuple(problems))
    kind = info.kind
    if expected is not None and expected is not kind:
        name = _KIND_NAMES[expected]
        problem = Problem(
            f"{expected.value}.not_{expected.value}",
            f"The file is named like {name} but its content is not {name} "
            f"(detected {info.media_type}).",
            rel,
        )
        return FileFacts(rel, info.media_type, kind, problems=(problem,))
    if kind is Kind.NIFTI:
        volume, problems = read_volume(file.path, rel)
        return FileFacts(rel, info.media_type, kind, volume=volume, problems=tuple(problems))
    if kind is Kind.PDF:
        document, problems = read_document(file.path, rel)
        return FileFacts(rel, info.media_type, kind, document=document, problems=tuple(problems))
    return FileFacts(rel, info.media_type, kind)


@dataclass(frozen=True)
class FilesPlan:
    """The outcome of planning one files delivery.

    Attributes:
        resources: the run's resources of :data:`FILE_RESOURCE_TYPES`, sorted by id.
        parents: the trial and the subjects those hang under; insert the ones ``vxp.resources``
            does not hold yet (a study ingestion may own them with richer attributes).
        dicom_series: rows of ``<source>.dicom_series`` (:data:`~.dicom.DICOM_SERIES_SCHEMA`).
        problems: every problem of every file (errors and warnings).
        bad_files: relative paths of files with an error, sorted; no resource points at them.
        media_types: relative path → media type, for every inspected file (the manifest's).
    """

    resources: tuple[Resource, ...]
    parents: tuple[Resource, ...]
    dicom_series: pa.Table
    problems: Problems
    bad_files: tuple[str, ...]
    media_types: Mapping[str, str] = field(default_factory=dict)

    def resources_table(self) -> pa.Table:
        """``resources`` as a :data:`~vxp.ingestion.resources.RESOURCE_SCHEMA` table."""
        return resources_table(self.resources)


class _Linker:
    """Subject ids of files and studies, with the warnings of unknown or conflicting subjects."""

    def __init__(self, source: str, rules: Sequence[SubjectRule], problems: Problems) -> None:
        self.source = source
        self.trial = trial_id(source)
        self.rules = rules
        self.problems = problems
        self.subjects: dict[str, str] = {}

    def value(self, relative_path: str, patient_id: str | None) -> str | None:
        value = link_subject(self.rules, relative_path, patient_id)
        if value is None:
            return None
        try:
            return subject_id(self.source, encode_segment(value))
        except InvalidId as exc:
            self.problems.warning(
                "subject.invalid",
                f"The subject {value!r} cannot be an id segment ({exc}); "
                f"the file is placed under {self.trial}.",
                file=relative_path,
            )
            return None

    def parent(self, subject: str | None, relative_paths: Iterable[str]) -> str:
        if subject is None:
            for rel in relative_paths:
                self.problems.warning(
                    "subject.unknown",
                    f"No --subject-from rule links this file to a subject; "
                    f"it is placed under {self.trial}.",
                    file=rel,
                )
            return self.trial
        self.subjects[subject] = subject
        return subject


def _single_file_resource(
    source: str, parent: str, facts: FileFacts, stored: FileBytes
) -> Resource:
    attributes: dict[str, Any] = {
        "media_type": facts.media_type,
        "relative_path": facts.relative_path,
    }
    if facts.kind is Kind.NIFTI and facts.volume is not None:
        type_, id_ = ResourceType.VOLUME, volume_id(parent, facts.relative_path)
        attributes.update(facts.volume)
    elif facts.kind is Kind.PDF and facts.document is not None:
        type_, id_ = ResourceType.DOCUMENT, document_id(parent, facts.relative_path)
        attributes.update(facts.document)
    else:
        type_, id_ = ResourceType.FILE, file_id(parent, facts.relative_path)
    return Resource(
        id=id_,
        type=type_,
        parent_id=parent,
        source=source,
        attributes=attributes,
        paths=(stored.path,),
        checksum=stored.checksum,
        size_bytes=stored.size,
    )


def plan_from_facts(
    source: str,
    facts: Sequence[FileFacts],
    files: Mapping[str, FileBytes],
    *,
    subject_from: Sequence[SubjectRule] = DEFAULT_RULES,
) -> FilesPlan:
    """Build the resources of a delivery from its files' facts. Pure.

    Args:
        source: the source name (``trial/<source>``).
        facts: one per delivered file (:func:`inspect_file`), any order.
        files: relative path → where its bytes landed, their SHA-256 and size, for every good
            file (bad files may be absent).
        subject_from: subject rules, tried in order (:mod:`.subjects`).

    Returns:
        The :class:`FilesPlan`. A DICOM study is linked to the one subject its instances give;
        instances giving different subjects put the study under the trial with a
        ``subject.conflict`` warning; a study or file with no subject gives ``subject.unknown``
        warnings (one per file) and sits under the trial.

    Raises:
        InvalidId: ``source`` is not a valid id segment.
        KeyError: a good file has no entry in ``files``.
    """
    problems = Problems()
    for fact in facts:
        problems.extend(fact.problems)
    linker = _Linker(source, subject_from, problems)
    good = [fact for fact in facts if not fact.bad]
    resources: list[Resource] = []
    instances: list[DicomInstance] = []
    for fact in sorted(good, key=lambda f: f.relative_path):
        if fact.kind is Kind.DICOM:
            if fact.dicom is not None:
                instances.append(fact.dicom)
            continue
        subject = linker.value(fact.relative_path, None)
        parent = linker.parent(subject, [fact.relative_path])
        resources.append(_single_file_resource(source, parent, fact, files[fact.relative_path]))

    studies, grouping_problems = group_instances(instances)
    problems.extend(grouping_problems)
    series_resources: list[Resource] = []
    for study_uid, series_map in sorted(studies.items()):
        members = [m for series in series_map.values() for m in series]
        found = {linker.value(m.relative_path, m.patient_id) for m in members}
        subjects = sorted(s for s in found if s is not None)
        if len(subjects) > 1:
            first = min(m.relative_path for m in members)
            problems.warning(
                "subject.conflict",
                f"The instances of DICOM study {study_uid} link to several subjects "
                f"({', '.join(subjects)}); the study is placed under {linker.trial}.",
                file=first,
            )
            parent = linker.trial
        else:
            subject = subjects[0] if subjects else None
            parent = linker.parent(subject, sorted(m.relative_path for m in members))
        study_id = dicom_study_id(parent, study_uid)
        in_study = [
            series_resource(source, study_id, series_members, files)
            for _, series_members in sorted(series_map.items())
        ]
        series_resources.extend(in_study)
        resources.append(study_resource(source, parent, study_uid, in_study))
    resources.extend(series_resources)

    parents = [Resource(linker.trial, ResourceType.TRIAL, None, source)]
    parents.extend(
        Resource(s, ResourceType.SUBJECT, linker.trial, source) for s in sorted(linker.subjects)
    )
    return FilesPlan(
        resources=tuple(sorted(resources, key=lambda r: r.id)),
        parents=tuple(parents),
        dicom_series=dicom_series_rows(series_resources, subject_of_id),
        problems=problems,
        bad_files=tuple(sorted(f.relative_path for f in facts if f.bad)),
        media_types={f.relative_path: f.media_type for f in facts},
    )


Mapper = Callable[
    [Callable[[DeliveredFile], FileFacts], Iterable[DeliveredFile]], Iterable[FileFacts]
]


def plan_files(
    source: str,
    files: Sequence[DeliveredFile],
    checksums: Mapping[str, str],
    *,
    run_id: str,
    subject_from: Sequence[SubjectRule] = DEFAULT_RULES,
    allow_list: AllowList | None = None,
    object_paths: Mapping[str, str] | None = None,
    mapper: Mapper = map,
) -> FilesPlan:
    """Inspect every delivered file and plan its resources.

    Args:
        source: the source name; run_id: the run (``raw/<source>/<run>/…``).
        files: the good files of :func:`~vxp.ingestion.delivery.scan_delivery`.
        checksums: relative path → SHA-256 hex, as computed while uploading; a file missing here
            is hashed with :func:`~vxp.ingestion.delivery.sha256_file`.
        subject_from: subject rules (default: DICOM PatientID).
        allow_list: DICOM attributes to copy (default :data:`~.dicom.DEFAULT_ALLOW_LIST`).
        object_paths: relative path → object path, for files whose bytes are kept at another
            path (e.g. unchanged files that landed in an earlier run); default :func:`raw_path`.
        mapper: ``map``-like callable running :func:`inspect_file` over the files, e.g. a
            ``ThreadPoolExecutor(...).map``; results must come back in input order.

    Returns:
        :class:`FilesPlan`.

    Raises:
        InvalidId: ``source`` or ``run_id`` is not a valid segment.
        OSError: a file missing from ``checksums`` cannot be read.
    """
    paths = dict(object_paths or {})
    stored = {
        f.relative_path: FileBytes(
            path=paths.get(f.relative_path) or raw_path(source, run_id, f.relative_path),
            checksum=checksums.get(f.relative_path) or sha256_file(f.path),
            size=f.size,
        )
        for f in files
    }
    facts = list(mapper(partial(inspect_file, allow_list=allow_list), files))
    return plan_from_facts(source, facts, stored, subject_from=subject_from)


def plan_files_in(root: Path, source: str, *, run_id: str, **options: Any) -> FilesPlan:
    """Convenience for tests and tools: scan ``root`` and plan it (checksums computed here).

    Problems of the scan (bad names, symlinks leaving ``root``, empty files, …) come first in
    ``plan.problems``; their files are in neither ``resources`` nor ``bad_files``.
    """
    scan_problems = Problems()
    files = scan_delivery(root, scan_problems)
    plan = plan_files(source, files, {}, run_id=run_id, **options)
    scan_problems.extend(plan.problems)
    return FilesPlan(
        resources=plan.resources,
        parents=plan.parents,
        dicom_series=plan.dicom_series,
        problems=scan_problems,
        bad_files=plan.bad_files,
        media_types=plan.media_types,
    )
