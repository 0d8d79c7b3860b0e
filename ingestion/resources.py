"""The resource model (DESIGN "The resource model"): types, ids, checksums, the ``vxp.resources``
table and its SCD-2 planning. Pure: no lakeFS, no network.

A *resource* is anything a recipe can select. Its id is a path of ``<kind>/<segment>`` pairs
under ``trial/<source>``::

    trial/<source>
    trial/<source>/subject/<subject>
    trial/<source>/subject/<subject>/visit/<n>
    <parent>/dicom-study/<StudyInstanceUID>
    <dicom study>/dicom-series/<SeriesInstanceUID>
    <parent>/volume/<name>   <parent>/document/<name>   <parent>/file/<name>

where ``<parent>`` is the trial or a subject (files of unknown subject sit under the trial). A
*segment* is non-empty, is not ``.`` or ``..``, and has no ``/`` and no control character (Unicode
category Cc). Names made from a delivered file's relative path (``volume``, ``document``,
``file``) keep the whole path, with ``%`` written ``%25`` and ``/`` written ``%2F``
(:func:`encode_segment`, RFC 3986 percent-encoding of just those two characters), so two files of
the same base name in different folders get different ids and the path can be read back.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

import pyarrow as pa

from .scd2 import Scd2Plan, plan_scd2, with_scd2


class ResourceType(StrEnum):
    """The ``type`` column of ``vxp.resources``."""

    TRIAL = "Trial"
    SUBJECT = "Subject"
    VISIT = "Visit"
    DICOM_STUDY = "DICOMStudy"
    DICOM_SERIES = "DICOMSeries"
    VOLUME = "Volume"
    DOCUMENT = "Document"
    FILE = "File"


# the id kind of each type (the segment before its value); a trial's id starts with it
ID_KIND: dict[ResourceType, str] = {
    ResourceType.TRIAL: "trial",
    ResourceType.SUBJECT: "subject",
    ResourceType.VISIT: "visit",
    ResourceType.DICOM_STUDY: "dicom-study",
    ResourceType.DICOM_SERIES: "dicom-series",
    ResourceType.VOLUME: "volume",
    ResourceType.DOCUMENT: "document",
    ResourceType.FILE: "file",
}
_TYPE_OF_KIND = {kind: t for t, kind in ID_KIND.items()}

# which parent types each type may hang under (the hierarchy of DESIGN's id list)
PARENT_TYPES: dict[ResourceType, frozenset[ResourceType]] = {
    ResourceType.TRIAL: frozenset(),
    ResourceType.SUBJECT: frozenset({ResourceType.TRIAL}),
    ResourceType.VISIT: frozenset({ResourceType.SUBJECT}),
    ResourceType.DICOM_STUDY: frozenset(
        {ResourceType.TRIAL, ResourceType.SUBJECT, ResourceType.VISIT}
    ),
    ResourceType.DICOM_SERIES: frozenset({ResourceType.DICOM_STUDY}),
    ResourceType.VOLUME: frozenset({ResourceType.TRIAL, ResourceType.SUBJECT, ResourceType.VISIT}),
    ResourceType.DOCUMENT: frozenset(
        {ResourceType.TRIAL, ResourceType.SUBJECT, ResourceType.VISIT}
    ),
    ResourceType.FILE: frozenset({ResourceType.TRIAL, ResourceType.SUBJECT, ResourceType.VISIT}),
}

_HEX64 = re.compile(r"[0-9a-f]{64}")
# Unicode category Cc is exactly these 65 code points (C0, DEL, C1); a regex finds one ~50x
# faster than asking unicodedata character by character, which showed in runs of 10,000 files
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class InvalidId(ValueError):
    """A resource id or id segment breaks the id rules (module docstring)."""


def check_segment(segment: str, *, what: str = "id segment") -> str:
    """Return ``segment`` if it is a valid id segment.

    Raises:
        InvalidId: empty, ``.``/``..``, contains ``/`` or a control character (Unicode Cc).
    """
    if not segment:
        raise InvalidId(f"{what} is empty")
    if segment in (".", ".."):
        raise InvalidId(f"{what} {segment!r} is a relative path step")
    if "/" in segment:
        raise InvalidId(f"{what} {segment!r} contains '/'")
    control = _CONTROL.search(segment)
    if control is not None:
        char = control.group()
        raise InvalidId(f"{what} {segment!r} contains the control character {char!r}")
    return segment


def encode_segment(text: str) -> str:
    """``text`` (e.g. a relative path) as one id segment: ``%`` → ``%25``, ``/`` → ``%2F``.

    Raises:
        InvalidId: the result is not a valid segment (empty, ``.``, ``..``, control characters).
    """
    return check_segment(text.replace("%", "%25").replace("/", "%2F"), what="name")


def decode_segment(segment: str) -> str:
    """The inverse of :func:`encode_segment`."""
    return segment.replace("%2F", "/").replace("%25", "%")


def _child(parent_id: str, kind: str, segment: str) -> str:
    parse_id(parent_id)
    return f"{parent_id}/{kind}/{check_segment(segment, what=kind)}"


def trial_id(source: str) -> str:
    """``trial/<source>``. Raises :class:`InvalidId` for a bad source name."""
    return f"trial/{check_segment(source, what='source')}"


def subject_id(source: str, subject: str) -> str:
    """``trial/<source>/subject/<subject>``; ``subject`` is used as is (see encode_segment)."""
    return _child(trial_id(source), "subject", subject)


def visit_id(subject: str, visit: str | int) -> str:
    """``<subject id>/visit/<visit>`` under a subject id."""
    return _child(subject, "visit", str(visit))


def dicom_study_id(parent: str, study_instance_uid: str) -> str:
    """``<parent>/dicom-study/<StudyInstanceUID>``; parent is a trial, subject or visit id."""
    return _child(parent, "dicom-study", study_instance_uid)


def dicom_series_id(study: str, series_instance_uid: str) -> str:
    """``<dicom study id>/dicom-series/<SeriesInstanceUID>``."""
    return _child(study, "dicom-series", series_instance_uid)


def volume_id(parent: str, name: str) -> str:
    """``<parent>/volume/<name>``; ``name`` is encoded with :func:`encode_segment`."""
    return _child(parent, "volume", encode_segment(name))


def document_id(parent: str, name: str) -> str:
    """``<parent>/document/<name>``; ``name`` is encoded with :func:`encode_segment`."""
    return _child(parent, "document", encode_segment(name))


def file_id(parent: str, name: str) -> str:
    """``<parent>/file/<name>``; ``name`` is encoded with :func:`encode_segment`."""
    return _child(parent, "file", encode_segment(name))


def parse_id(resource_id: str) -> list[tuple[str, str]]:
    """Split an id into its ``(kind, segment)`` pairs, checking the id grammar.

    Raises:
        InvalidId: not ``trial/<source>`` followed by ``<kind>/<segment>`` pairs of known kinds
            in an allowed order (:data:`PARENT_TYPES`), or a bad segment.
    """
    parts = resource_id.split("/")
    if len(parts) % 2 or parts[0] != "trial":
        raise InvalidId(f"resource id {resource_id!r} must start with trial/<source>")
    pairs: list[tuple[str, str]] = []
    previous: ResourceType | None = None
    for i in range(0, len(parts), 2):
        kind, segment = parts[i], parts[i + 1]
        kind_type = _TYPE_OF_KIND.get(kind)
        if kind_type is None:
            raise InvalidId(f"resource id {resource_id!r} has unknown kind {kind!r}")
        allowed = PARENT_TYPES[kind_type]
        if (previous is None) != (not allowed) or (
            previous is not None and previous not in allowed
        ):
            raise InvalidId(f"resource id {resource_id!r}: {kind!r} cannot follow {previous}")
        try:
            check_segment(segment, what=kind)
        except InvalidId as error:
            raise InvalidId(f"resource id {resource_id!r}: {error}") from None
        pairs.append((kind, segment))
        previous = kind_type
    return pairs


def type_of_id(resource_id: str) -> ResourceType:
    """The resource type an id names (its last kind). Raises :class:`InvalidId`."""
    return _TYPE_OF_KIND[parse_id(resource_id)[-1][0]]


def parent_of_id(resource_id: str) -> str | None:
    """The id one level up, or None for a trial. Raises :class:`InvalidId`."""
    parse_id(resource_id)
    parts = resource_id.split("/")
    return "/".join(parts[:-2]) if len(parts) > 2 else None


def member_checksum(checksums: Iterable[str]) -> str:
    """The checksum of a resource made of members (a DICOM series of instances, a study of series).

    Encoding: SHA-256 over the members' checksums in the given order, each as 64 lowercase
    hexadecimal ASCII characters followed by one line feed (``b"\\n"``), i.e. the UTF-8 bytes of
    ``"".join(c + "\\n" for c in checksums)`` (``sha256sum``-style lines without names). The
    order is the caller's contract (DICOM series: instances by relative path). No members gives
    the SHA-256 of the empty string.

    Raises:
        ValueError: a member checksum is not 64 lowercase hex characters.
    """
    digest = hashlib.sha256()
    for checksum in checksums:
        if not _HEX64.fullmatch(checksum):
            raise ValueError(f"member checksum {checksum!r} is not a lowercase hex SHA-256")
        digest.update(checksum.encode("ascii") + b"\n")
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no insignificant whitespace, UTF-8 (not ``\\u`` escapes), no NaN.

    Raises:
        ValueError: ``value`` holds NaN or infinity; TypeError: a value is not JSON-serialisable.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


#: ``vxp.resources`` without its SCD-2 columns
RESOURCE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("parent_id", pa.string(), nullable=True),
        pa.field("source", pa.string(), nullable=False),
        # a JSON object (canonical_json), so new attributes never need a schema change
        pa.field("attributes", pa.string(), nullable=False),
        pa.field(
            "paths", pa.list_(pa.field("element", pa.string(), nullable=False)), nullable=False
        ),
        pa.field("checksum", pa.string(), nullable=True),
        pa.field("size_bytes", pa.int64(), nullable=True),
    ]
)
#: ``vxp.resources``: the resource columns then the SCD-2 columns (see :mod:`.scd2`)
RESOURCES_SCHEMA = with_scd2(RESOURCE_SCHEMA)
RESOURCES_TABLE = ("vxp", "resources")
RESOURCES_KEY = ("id",)


@dataclass(frozen=True)
class Resource:
    """One resource (one row of ``vxp.resources`` without the SCD-2 columns).

    ``attributes`` is a JSON object (str keys; values JSON-serialisable, no NaN); ``paths`` are
    the source-layer objects holding its bytes (``raw/<source>/<run>/<relative path>``), sorted
    for members of a series; ``checksum`` is the SHA-256 (hex) of its bytes, or
    :func:`member_checksum` of its members; ``size_bytes`` the bytes of all its paths. Both are
    None for resources without bytes of their own (trial, subject, visit).

    Raises:
        InvalidId: ``id`` or ``parent_id`` breaks the id rules, the type does not match the id,
            the parent is not the id's parent, or ``source`` is not the id's trial.
        ValueError: attributes not a JSON object, a bad checksum, negative size.
    """

    id: str
    type: ResourceType
    parent_id: str | None
    source: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    paths: tuple[str, ...] = ()
    checksum: str | None = None
    size_bytes: int | None = None
    #: the ``version`` of the row it was read from (1, 2, …); None for a resource being planned
    version: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ResourceType(self.type))
        object.__setattr__(self, "paths", tuple(self.paths))
        if type_of_id(self.id) is not self.type:
            raise InvalidId(f"resource {self.id!r} is not of type {self.type}")
        if parent_of_id(self.id) != self.parent_id:
            raise InvalidId(f"resource {self.id!r} has parent {self.parent_id!r}")
        if parse_id(self.id)[0][1] != self.source:
            raise InvalidId(f"resource {self.id!r} is not of source {self.source!r}")
        if not isinstance(self.attributes, Mapping) or not all(
            isinstance(k, str) for k in self.attributes
        ):
            raise ValueError(f"resource {self.id!r}: attributes must be a JSON object")
        canonical_json(dict(self.attributes))
        if self.checksum is not None and not _HEX64.fullmatch(self.checksum):
            raise ValueError(f"resource {self.id!r}: checksum is not a lowercase hex SHA-256")
        if self.size_bytes is not None and self.size_bytes < 0:
            raise ValueError(f"resource {self.id!r}: negative size")

    def to_row(self) -> dict[str, Any]:
        """The row of :data:`RESOURCE_SCHEMA` (attributes as canonical JSON)."""
        return {
            "id": self.id,
            "type": self.type.value,
            "parent_id": self.parent_id,
            "source": self.source,
            "attributes": canonical_json(dict(self.attributes)),
            "paths": list(self.paths),
            "checksum": self.checksum,
            "size_bytes": self.size_bytes,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Resource:
        """A resource from a row of ``vxp.resources`` (of the SCD-2 columns only ``version`` is
        kept, when present).

        Raises:
            KeyError: a resource column is missing; InvalidId/ValueError as the constructor.
        """
        attributes = json.loads(row["attributes"]) if row["attributes"] else {}
        return cls(
            id=row["id"],
            type=ResourceType(row["type"]),
            parent_id=row["parent_id"],
            source=row["source"],
            attributes=attributes,
            paths=tuple(row["paths"] or ()),
            checksum=row["checksum"],
            size_bytes=row["size_bytes"],
            version=row.get("version"),
        )


def resources_table(resources: Sequence[Resource]) -> pa.Table:
    """The resources as a :data:`RESOURCE_SCHEMA` table, sorted by id.

    Raises:
        ValueError: two resources share an id.
    """
    ordered = sorted(resources, key=lambda r: r.id)
    for a, b in pairwise(ordered):
        if a.id == b.id:
            raise ValueError(f"two resources have the id {a.id!r}")
    return pa.Table.from_pylist([r.to_row() for r in ordered], schema=RESOURCE_SCHEMA)


def in_scope(
    history: pa.Table, *, source: str, types: Iterable[ResourceType] | None = None
) -> pa.Table:
    """The rows of ``history`` (``vxp.resources``) of one source and, optionally, some types.

    This is how a run scopes its SCD-2 plan: a files run passes the types it produces
    (:data:`vxp.ingestion.files.FILE_RESOURCE_TYPES`) so it never deletes a study run's subjects.
    """
    wanted = {t.value for t in types} if types is not None else None
    mask = [
        row["source"] == source and (wanted is None or row["type"] in wanted)
        for row in history.select(["source", "type"]).to_pylist()
    ]
    return history.filter(pa.array(mask, type=pa.bool_()))


def plan_resources(
    history: pa.Table,
    resources: Sequence[Resource],
    *,
    run_id: str,
    at: datetime,
    full: bool,
) -> Scd2Plan:
    """SCD-2 plan for ``vxp.resources`` (key ``id``, every other column compared).

    Args:
        history: the ``vxp.resources`` rows of the run's scope (:func:`in_scope`), current and
            closed, in :data:`RESOURCES_SCHEMA`.
        resources: the scope's resources as this run sees them.
        run_id: the run's id; at: the run's time (timezone-aware).
        full: the run delivered the whole scope (missing resources are deleted); False for a
            partial delivery (only what was delivered is opened or changed).

    Returns:
        :class:`~vxp.ingestion.scd2.Scd2Plan` (unchanged resources appear in neither table).

    Raises:
        ValueError: duplicate ids, a naive ``at``, or ``history`` not in the resources schema.
    """
    return plan_scd2(
        history.cast(RESOURCES_SCHEMA),
        resources_table(resources),
        key=RESOURCES_KEY,
        run_id=run_id,
        at=at,
        full=full,
    )
