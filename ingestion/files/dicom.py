"""DICOM headers (pydicom, header only), the attribute allow-list, and DICOM study/series resources.

Reading never touches pixel data: :func:`read_instance` parses with
``stop_before_pixels=True`` and ``specific_tags`` (only the allow-listed attributes and the tags
needed to group and link instances), so pydicom skips every other value with a seek.

**Allow-list.** Only the attributes of an :class:`AllowList` are copied into resources and the
``<source>.dicom_series`` table, under snake_case names of their DICOM keywords
(``SeriesDescription`` → ``series_description``). :data:`DEFAULT_ALLOW_LIST` is the default.
Whatever the configuration, these are never copied (:func:`never_copied`): any attribute of
value representation PN (person names), every keyword of :data:`IDENTIFYING` (patient ids,
birth dates, addresses, institutions, accession numbers, … chosen from DICOM PS3.15 Annex E,
Table E.1-1, Basic Application Level Confidentiality Profile), every ``Patient…`` keyword but
``PatientPosition`` and ``PatientOrientation`` (acquisition geometry), and sequences and binary
values (only plain text, number, date and UID values are supported). ``PatientID`` is read to
link instances to subjects (:mod:`.subjects`) and is kept only in memory, never in attributes.
The raw files stay as delivered: de-identification of the bytes is not vxp's job.

**Grouping.** Instances are grouped into a ``DICOMStudy`` per StudyInstanceUID and a
``DICOMSeries`` per (StudyInstanceUID, SeriesInstanceUID). A series' members are its instances
sorted by relative path (code point order): unlike InstanceNumber (optional, may repeat) a path
is always there and unique, so the order, and with it the series checksum, is well defined. A
series' attributes are those of its first member, plus ``number_of_instances``; a study's are
``study_date`` (if allowed), ``modalities``, ``number_of_series``, ``number_of_instances``.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from ..problems import Problem, Severity
from ..resources import (
    InvalidId,
    Resource,
    ResourceType,
    canonical_json,
    check_segment,
    dicom_series_id,
    dicom_study_id,
    member_checksum,
    parse_id,
)

#: copied by default (DICOM keywords); see the module docstring and docs/reference/resources.md
DEFAULT_ALLOW_LIST: tuple[str, ...] = (
    "Modality",
    "SOPClassUID",
    "StudyDate",
    "SeriesNumber",
    "SeriesDescription",
    "ProtocolName",
    "BodyPartExamined",
    "Manufacturer",
    "ManufacturerModelName",
    "MagneticFieldStrength",
    "ImageType",
    "Rows",
    "Columns",
    "PixelSpacing",
    "SliceThickness",
    "EchoTime",
    "RepetitionTime",
    "FlipAngle",
)

#: never copied, whatever the allow-list says (PS3.15 Annex E, Table E.1-1, a selection)
IDENTIFYING: frozenset[str] = frozenset(
    {
        "AccessionNumber",
        "AdditionalPatientHistory",
        "BranchOfService",
        "ContentCreatorName",
        "CountryOfResidence",
        "CurrentPatientLocation",
        "DeviceSerialNumber",
        "EthnicGroup",
        "FillerOrderNumberImagingServiceRequest",
        "ImageComments",
        "InstitutionAddress",
        "InstitutionName",
        "InstitutionalDepartmentName",
        "IssuerOfPatientID",
        "MedicalRecordLocator",
        "MilitaryRank",
        "Occupation",
        "OtherPatientIDs",
        "PerformedProcedureStepID",
        "PlacerOrderNumberImagingServiceRequest",
        "PregnancyStatus",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "RegionOfResidence",
        "RequestedProcedureID",
        "ResponsibleOrganization",
        "ScheduledProcedureStepID",
        "SmokingStatus",
        "StationName",
        "StudyComments",
        "StudyID",
    }
)
# geometry of the acquisition, not of the person
_PATIENT_KEYWORDS_ALLOWED = frozenset({"PatientPosition", "PatientOrientation"})
# text, numbers, dates and UIDs; no sequences or binary values
_COPYABLE_VRS = frozenset(
    [
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "LT",
        "SH",
        "SL",
        "SS",
        "ST",
        "SV",
        "TM",
        "UC",
        "UI",
        "UL",
        "US",
        "UT",
        "UV",
    ]
)

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_TAG = {
    keyword: int(Tag(keyword))
    for keyword in (
        "SpecificCharacterSet",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "PatientID",
        # an image (it has Rows) must have pixel data: its absence means a cut file
        "Rows",
    )
}


def attribute_name(keyword: str) -> str:
    """The snake_case attribute name of a DICOM keyword (``SOPClassUID`` → ``sop_class_uid``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", keyword).lower()


def never_copied(keyword: str) -> str | None:
    """Why ``keyword`` may never be copied into attributes, or None if it may be.

    Rules (module docstring): unknown keyword; VR PN; in :data:`IDENTIFYING`; a ``Patient…``
    keyword other than PatientPosition/PatientOrientation; a VR that is not plain text, number,
    date or UID.
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        return "is not a DICOM keyword"
    vrs = set(dictionary_VR(tag).split(" or "))
    if "PN" in vrs:
        return "is a person name (VR PN)"
    if keyword in IDENTIFYING or (
        keyword.startswith("Patient") and keyword not in _PATIENT_KEYWORDS_ALLOWED
    ):
        return "identifies a person (DICOM PS3.15 Annex E)"
    if not vrs <= _COPYABLE_VRS:
        return f"has VR {dictionary_VR(tag)}, which is not copied (sequences and binary values)"
    return None


@dataclass(frozen=True)
class AllowList:
    """The DICOM attributes copied into resources (keywords, in the order given).

    Raises:
        ValueError: naming every keyword that may never be copied and why (:func:`never_copied`).
    """

    keywords: tuple[str, ...] = DEFAULT_ALLOW_LIST
    # (keyword, tag, attribute name) per keyword, resolved once: looking keywords up per file
    # through pydicom's attribute access costs more than parsing the header
    fields: tuple[tuple[str, int, str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keywords = tuple(dict.fromkeys(self.keywords))
        object.__setattr__(self, "keywords", keywords)
        refused = [f"{k} {why}" for k in keywords if (why := never_copied(k)) is not None]
        if refused:
            raise ValueError("DICOM allow-list refused: " + "; ".join(refused))
        fields = tuple((k, int(Tag(k)), attribute_name(k), dictionary_VR(Tag(k))) for k in keywords)
        object.__setattr__(self, "fields", fields)

    @property
    def tags(self) -> list[int]:
        """The tags to read: the allowed ones plus those needed to group and link."""
        return [*_TAG.values(), *(tag for _, tag, _, _ in self.fields)]


@dataclass(frozen=True)
class DicomInstance:
    """The header facts of one DICOM instance (file).

    ``patient_id`` is kept for subject linking only and never written anywhere;
    ``attributes`` holds only allow-listed attributes (snake_case names, JSON values).
    """

    relative_path: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str | None
    instance_number: int | None
    patient_id: str | None
    attributes: Mapping[str, Any]


def _json_value(vr: str, value: Any) -> Any:
    if isinstance(value, MultiValue | list | tuple):
        return [_json_value(vr, v) for v in value]
    if value is None or value == "":
        return None
    if vr == "DA":
        text = str(value)
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])).isoformat()
    if vr in ("DS", "FD", "FL"):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    if vr in ("IS", "SL", "SS", "UL", "US", "SV", "UV"):
        return int(value)
    if isinstance(value, bytes):
        raise ValueError("binary value")
    return str(value).strip()


# value representations decoded here without pydicom's element conversion (which costs more than
# parsing the header): PS3.5 §6.2 ASCII-only strings, and fixed-size binary numbers
_ASCII_VRS = frozenset({"AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
_BINARY = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
# Specific Character Set values (PS3.3 C.12.1.1.2) whose text decodes with one Python codec
_CODECS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf_8"}


def _charset(dataset: Dataset) -> str | None:
    tag = 0x00080005
    if tag not in dataset:
        return "ascii"
    raw = dataset.get_item(tag)
    value = raw.value if raw is not None else b""
    if isinstance(value, bytes):
        name = value.decode("ascii", "replace").strip(" \0")
    else:
        name = str(value or "").strip()
    return _CODECS.get(name)


def _raw_value(dataset: Dataset, tag: int, vr: str, codec: str | None) -> Any:
    """The value of element ``tag`` as str / list[str] / number / list[number], or raise KeyError.

    Falls back to pydicom's conversion for what the fast path does not cover (other character
    sets, ambiguous VRs, already converted elements).
    """
    raw = dataset.get_item(tag)
    if raw is None:
        raise KeyError(tag)
    value = getattr(raw, "value", None)
    raw_vr = getattr(raw, "VR", None) or vr
    if isinstance(value, bytes):
        if raw_vr in _ASCII_VRS or (raw_vr in _TEXT_VRS and codec is not None):
            try:
                text = value.decode("ascii" if raw_vr in _ASCII_VRS else (codec or "ascii"))
            except UnicodeDecodeError:
                return dataset[tag].value
            text = text.rstrip(" \0")
            if raw_vr in ("LT", "ST", "UT"):  # single-valued: backslash is a character here
                return text.strip()
            parts = [part.strip(" \0") for part in text.split("\\")]
            return parts[0] if len(parts) == 1 else parts
        if raw_vr in _BINARY:
            little = getattr(raw, "is_little_endian", True)
            code = _BINARY[raw_vr]
            count = len(value) // struct.calcsize(code)
            numbers = struct.unpack(
                ("<" if little else ">") + code * count, value[: count * struct.calcsize(code)]
            )
            return numbers[0] if count == 1 else list(numbers)
    return dataset[tag].value


def _copy_attributes(
    dataset: Dataset,
    allow_list: AllowList,
    relative_path: str,
    problems: list[Problem],
    codec: str | None,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for keyword, tag, name, vr in allow_list.fields:
        if tag not in dataset:
            continue
        try:
            value = _json_value(vr, _raw_value(dataset, tag, vr, codec))
        except (ValueError, TypeError, OverflowError, struct.error) as error:
            problems.append(
                Problem(
                    "dicom.attribute",
                    f"{keyword} has an invalid value ({error}); it is left out.",
                    relative_path,
                    severity=Severity.WARNING,
                )
            )
            continue
        if value is not None and value != [] and value != "":
            attributes[name] = value
    return attributes


def _text(dataset: Dataset, keyword: str, codec: str | None) -> str | None:
    tag = _TAG[keyword]
    if tag not in dataset:
        return None
    value = _raw_value(dataset, tag, dictionary_VR(tag), codec)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip() or None


def _pixel_data_complete(stream: Any, dataset: Dataset, size: int) -> bool:
    """Whether the Pixel Data element the reader stopped before fits in the file.

    ``stop_before_pixels`` leaves the stream at the element's header; its length (or, for
    encapsulated pixel data of undefined length, the closing sequence delimiter) says whether
    the file was cut. PS3.5 §7.1 (element encoding), §A.4 (encapsulation). An image (it has
    Rows) that ends where its pixel data should start was cut too (PS3.3 C.7.6.3: Pixel Data
    is required in the Image Pixel module).
    """
    position = stream.tell()
    header = stream.read(12)
    if len(header) < 8:
        return len(header) == 0 and _TAG["Rows"] not in dataset
    implicit, little = dataset.original_encoding
    order = "<" if little is not False else ">"
    if implicit:
        (length,) = struct.unpack(order + "I", header[4:8])
        start = position + 8
    else:
        if len(header) < 12:
            return False
        (length,) = struct.unpack(order + "I", header[8:12])
        start = position + 12
    if length == 0xFFFFFFFF:
        stream.seek(max(size - 8, 0))
        delimiter = struct.pack(order + "HHI", 0xFFFE, 0xE0DD, 0)
        return bool(stream.read(8) == delimiter)
    return bool(start + length <= size)


class _Guarded:
    """A binary file that remembers a short read: pydicom ends quietly at EOF, even mid-element.

    A read that returns some but fewer bytes than asked means the file was cut inside a data
    element (a clean end of the dataset reads 0 bytes of the next element's header).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.name = getattr(raw, "name", None)
        self.short_read = False
        self.seek = raw.seek
        self.tell = raw.tell

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if size > 0 and 0 < len(data) < size:
            self.short_read = True
        return data


def read_instance(
    path: Path, relative_path: str, allow_list: AllowList, *, certain: bool = True
) -> tuple[DicomInstance | None, list[Problem]]:
    """Read one DICOM file's header (never its pixel data).

    Args:
        path: the file; relative_path: its delivered name (for problems and grouping).
        allow_list: the attributes to copy.
        certain: False when the content only looked like preamble-less DICOM
            (:class:`~vxp.ingestion.files.media.MediaInfo`); the caller then decides what a
            failure means.

    Returns:
        ``(instance, problems)``; instance is None when the file has an error: ``dicom.unreadable``
        (pydicom cannot parse it), ``dicom.truncated`` (the file ends before its header or pixel
        data does), ``dicom.missing_uid`` (no StudyInstanceUID or SeriesInstanceUID, so it cannot
        be grouped), ``dicom.bad_uid`` (a UID that cannot be an id segment). Warnings:
        ``dicom.attribute`` (an allowed attribute with an invalid value, left out),
        ``dicom.uid_syntax`` (a UID that is not digits and dots, PS3.5 §9.1).
    """
    problems: list[Problem] = []

    def error(code: str, message: str) -> tuple[None, list[Problem]]:
        problems.append(Problem(code, message, relative_path))
        return None, problems

    try:
        with path.open("rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            stream = _Guarded(raw)
            dataset = pydicom.dcmread(
                stream, stop_before_pixels=True, specific_tags=allow_list.tags, force=True
            )
            if stream.short_read or stream.tell() > size:
                return error("dicom.truncated", "The file ends inside its DICOM header.")
            if not _pixel_data_complete(raw, dataset, size):
                return error("dicom.truncated", "The file ends inside its pixel data.")
    # pydicom raises many types on corrupt input (struct.error, EOFError, ValueError, …)
    except Exception as exc:
        what = "is not readable as DICOM" if certain else "looks like DICOM but is not readable"
        return error("dicom.unreadable", f"The file {what}: {exc}.")
    if len(dataset) == 0:
        return error("dicom.unreadable", "The file has no readable DICOM data elements.")
    codec = _charset(dataset)
    uids: dict[str, str] = {}
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
        value = _text(dataset, keyword, codec) or ""
        if not value:
            problems.append(
                Problem(
                    "dicom.missing_uid",
                    f"The instance has no {keyword}, so it cannot be grouped into a "
                    f"{'study' if keyword.startswith('Study') else 'series'}.",
                    relative_path,
                )
            )
            continue
        # a conforming UID is a valid id segment; only others need the slower checks
        if len(value) > 64 or not _UID.fullmatch(value):
            try:
                check_segment(value, what=keyword)
            except InvalidId as exc:
                problems.append(Problem("dicom.bad_uid", f"{exc}.", relative_path))
                continue
            problems.append(
                Problem(
                    "dicom.uid_syntax",
                    f"{keyword} {value!r} is not a DICOM UID (digits and dots, at most 64).",
                    relative_path,
                    severity=Severity.WARNING,
                )
            )
        uids[keyword] = value
    if len(uids) < 2:
        return None, problems
    attributes = _copy_attributes(dataset, allow_list, relative_path, problems, codec)
    try:
        text = _text(dataset, "InstanceNumber", codec)
        number = int(text) if text else None
    except (ValueError, TypeError):
        number = None
    sop = _text(dataset, "SOPInstanceUID", codec)
    patient = _text(dataset, "PatientID", codec)
    instance = DicomInstance(
        relative_path=relative_path,
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        sop_instance_uid=sop,
        instance_number=number,
        patient_id=patient,
        attributes=attributes,
    )
    return instance, problems


@dataclass(frozen=True)
class FileBytes:
    """Where a delivered file's bytes are and what they are: object path, SHA-256, size."""

    path: str
    checksum: str
    size: int


def group_instances(
    instances: Iterable[DicomInstance],
) -> tuple[dict[str, dict[str, list[DicomInstance]]], list[Problem]]:
    """Group instances by study then series UID; members sorted by relative path.

    Returns ``(studies, problems)``: ``studies[study_uid][series_uid]`` is the sorted member
    list; a SOPInstanceUID seen twice in one series gives a ``dicom.duplicate_instance`` warning
    (both files are kept: both were delivered).
    """
    studies: dict[str, dict[str, list[DicomInstance]]] = {}
    for instance in sorted(instances, key=lambda i: i.relative_path):
        series = studies.setdefault(instance.study_instance_uid, {})
        series.setdefault(instance.series_instance_uid, []).append(instance)
    problems: list[Problem] = []
    for series_map in studies.values():
        for members in series_map.values():
            first_path: dict[str, str] = {}
            for member in members:
                if member.sop_instance_uid is None:
                    continue
                if member.sop_instance_uid in first_path:
                    problems.append(
                        Problem(
                            "dicom.duplicate_instance",
                            f"SOPInstanceUID {member.sop_instance_uid} is also in "
                            f"{first_path[member.sop_instance_uid]}.",
                            member.relative_path,
                            severity=Severity.WARNING,
                        )
                    )
                else:
                    first_path[member.sop_instance_uid] = member.relative_path
    return studies, problems


def series_resource(
    source: str,
    study_id: str,
    members: Sequence[DicomInstance],
    files: Mapping[str, FileBytes],
) -> Resource:
    """The ``DICOMSeries`` of ``members`` (sorted by relative path) under ``study_id``.

    checksum = :func:`~vxp.ingestion.resources.member_checksum` of the members' SHA-256 in
    member order; size_bytes = their sum; paths = their object paths in member order.

    Raises:
        KeyError: a member has no entry in ``files``.
    """
    first = members[0]
    attributes = {
        **first.attributes,
        "study_instance_uid": first.study_instance_uid,
        "series_instance_uid": first.series_instance_uid,
        "number_of_instances": len(members),
    }
    stored = [files[m.relative_path] for m in members]
    return Resource(
        id=dicom_series_id(study_id, first.series_instance_uid),
        type=ResourceType.DICOM_SERIES,
        parent_id=study_id,
        source=source,
        attributes=attributes,
        paths=tuple(f.path for f in stored),
        checksum=member_checksum(f.checksum for f in stored),
        size_bytes=sum(f.size for f in stored),
    )


def study_resource(
    source: str, parent_id: str, study_uid: str, series: Sequence[Resource]
) -> Resource:
    """The ``DICOMStudy`` under ``parent_id`` holding ``series`` (any order).

    checksum = member checksum of the series checksums ordered by series id; paths = all
    instance paths, sorted.
    """
    ordered = sorted(series, key=lambda r: r.id)
    attributes: dict[str, Any] = {
        "study_instance_uid": study_uid,
        "modalities": sorted(
            {str(r.attributes["modality"]) for r in ordered if "modality" in r.attributes}
        ),
        "number_of_series": len(ordered),
        "number_of_instances": sum(int(r.attributes["number_of_instances"]) for r in ordered),
    }
    dates = sorted(
        {str(r.attributes["study_date"]) for r in ordered if "study_date" in r.attributes}
    )
    if dates:
        attributes["study_date"] = dates[0]
    return Resource(
        id=dicom_study_id(parent_id, study_uid),
        type=ResourceType.DICOM_STUDY,
        parent_id=parent_id,
        source=source,
        attributes=attributes,
        paths=tuple(sorted(p for r in ordered for p in r.paths)),
        checksum=member_checksum(r.checksum or "" for r in ordered),
        size_bytes=sum(r.size_bytes or 0 for r in ordered),
    )


# typed columns of <source>.dicom_series: (column, arrow type, attribute it comes from)
_TYPED: tuple[tuple[str, pa.DataType], ...] = (
    ("modality", pa.string()),
    ("sop_class_uid", pa.string()),
    ("study_date", pa.date32()),
    ("series_number", pa.int32()),
    ("series_description", pa.string()),
    ("protocol_name", pa.string()),
    ("body_part_examined", pa.string()),
    ("manufacturer", pa.string()),
    ("manufacturer_model_name", pa.string()),
    ("magnetic_field_strength", pa.float64()),
    ("image_type", pa.list_(pa.string())),
    ("rows", pa.int32()),
    ("columns", pa.int32()),
    ("pixel_spacing", pa.list_(pa.float64())),
    ("slice_thickness", pa.float64()),
    ("echo_time", pa.float64()),
    ("repetition_time", pa.float64()),
    ("flip_angle", pa.float64()),
)

#: ``<source>.dicom_series``: one row per series (docs/reference/resources.md)
DICOM_SERIES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("study_id", pa.string(), nullable=False),
        pa.field("subject_id", pa.string(), nullable=True),
        pa.field("source", pa.string(), nullable=False),
        pa.field("study_instance_uid", pa.string(), nullable=False),
        pa.field("series_instance_uid", pa.string(), nullable=False),
        *(pa.field(name, arrow_type) for name, arrow_type in _TYPED),
        pa.field("number_of_instances", pa.int32(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("checksum", pa.string(), nullable=False),
        # every allow-listed attribute as canonical JSON, also those without a typed column
        pa.field("attributes", pa.string(), nullable=False),
    ]
)
DICOM_SERIES_KEY = ("id",)


def _typed(value: Any, arrow_type: pa.DataType) -> Any:
    # a value of unexpected shape (e.g. a multi-valued Modality) stays in the JSON column only
    if value is None:
        return None
    if pa.types.is_list(arrow_type):
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        return None
    if pa.types.is_date(arrow_type):
        return date.fromisoformat(value)
    if pa.types.is_integer(arrow_type):
        return int(value)
    if pa.types.is_floating(arrow_type):
        return float(value)
    return str(value)


def dicom_series_rows(
    series: Iterable[Resource], subject_of: Callable[[str], str | None]
) -> pa.Table:
    """The ``<source>.dicom_series`` rows of ``DICOMSeries`` resources, sorted by id.

    ``subject_of(resource_id)`` gives the subject resource id a series hangs under, or None.
    """
    rows: list[dict[str, Any]] = []
    for resource in sorted(series, key=lambda r: r.id):
        attributes = resource.attributes
        row: dict[str, Any] = {
            "id": resource.id,
            "study_id": resource.parent_id,
            "subject_id": subject_of(resource.id),
            "source": resource.source,
            "study_instance_uid": attributes["study_instance_uid"],
            "series_instance_uid": attributes["series_instance_uid"],
            "number_of_instances": attributes["number_of_instances"],
            "size_bytes": resource.size_bytes,
            "checksum": resource.checksum,
            "attributes": canonical_json(dict(attributes)),
        }
        for name, arrow_type in _TYPED:
            try:
                row[name] = _typed(attributes.get(name), arrow_type)
            except (ValueError, TypeError):
                row[name] = None
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=DICOM_SERIES_SCHEMA)


def subject_of_id(resource_id: str) -> str | None:
    """The subject id a resource id lies under, or None (under the trial)."""
    pairs = parse_id(resource_id)
    for i, (kind, _) in enumerate(pairs):
        if kind == "subject":
            return "/".join(f"{k}/{v}" for k, v in pairs[: i + 1])
    return None
