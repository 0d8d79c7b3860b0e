"""plan_files: a real delivery folder → resources, dicom_series rows, problems, bad files."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydicom
import pytest
from nibabel.testing import data_path
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from pypdf import PdfWriter

from vxp.ingestion.delivery import scan_delivery, sha256_file
from vxp.ingestion.files import (
    DICOM_SERIES_SCHEMA,
    FILE_RESOURCE_TYPES,
    FilesPlan,
    SubjectRule,
    plan_files,
    plan_files_in,
)
from vxp.ingestion.problems import Problems, Severity
from vxp.ingestion.resources import (
    RESOURCES_SCHEMA,
    ResourceType,
    member_checksum,
    plan_resources,
)

SERIES_UID = "1.2.826.0.1.3680043.8.498.1"
STUDY_UID = "1.2.826.0.1.3680043.8.498.2"
BY_FOLDER = (SubjectRule.parse(r"path:^(?P<subject>sub-[^/]+)/"), SubjectRule.parse("dicom"))


def _dicom(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


def _instance(target: Path, number: int, *, patient: str = "P-7") -> None:
    dataset = pydicom.dcmread(_dicom("MR_small.dcm"))
    dataset.StudyInstanceUID = STUDY_UID
    dataset.SeriesInstanceUID = SERIES_UID
    dataset.SOPInstanceUID = generate_uid(entropy_srcs=[str(number)])
    dataset.InstanceNumber = number
    dataset.PatientID = patient
    target.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(target)


@pytest.fixture
def delivery(tmp_path: Path) -> Path:
    root = tmp_path / "delivery"
    for number in (3, 1, 2):
        _instance(root / "sub-01" / "mr" / f"i{number}.dcm", number)
    shutil.copy(_dicom("CT_small.dcm"), root / "loose-ct.dcm")
    shutil.copy(Path(data_path) / "example4d.nii.gz", root / "sub-01" / "func.nii.gz")
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.add_metadata({"/Title": "Consent"})
    (root / "docs").mkdir()
    with (root / "docs" / "consent form.pdf").open("wb") as stream:
        writer.write(stream)
    (root / "docs" / "readme.txt").write_text("delivery of 2025-01\n")
    (root / "sub-02").mkdir()
    (root / "sub-02" / "fake.dcm").write_text("exported by mistake\n")
    (root / "sub-02" / "cut.dcm").write_bytes(_dicom("CT_small.dcm").read_bytes()[:20000])
    return root


def _plan(root: Path, **options: Any) -> FilesPlan:
    return plan_files_in(root, "basel", run_id="run1", subject_from=BY_FOLDER, **options)


def test_resources_of_a_delivery(delivery: Path) -> None:
    plan = _plan(delivery)
    by_type: dict[ResourceType, list[str]] = {}
    for resource in plan.resources:
        by_type.setdefault(resource.type, []).append(resource.id)
    study = f"trial/basel/subject/sub-01/dicom-study/{STUDY_UID}"
    assert f"{study}/dicom-series/{SERIES_UID}" in by_type[ResourceType.DICOM_SERIES]
    assert study in by_type[ResourceType.DICOM_STUDY]
    # CT_small has no folder subject: its PatientID links it
    assert any(
        i.startswith("trial/basel/subject/1CT1/dicom-study/")
        for i in by_type[ResourceType.DICOM_STUDY]
    )
    assert by_type[ResourceType.VOLUME] == [
        "trial/basel/subject/sub-01/volume/sub-01%2Ffunc.nii.gz"
    ]
    assert by_type[ResourceType.DOCUMENT] == ["trial/basel/document/docs%2Fconsent form.pdf"]
    assert by_type[ResourceType.FILE] == ["trial/basel/file/docs%2Freadme.txt"]
    assert set(by_type) <= FILE_RESOURCE_TYPES
    assert [p.id for p in plan.parents] == [
        "trial/basel",
        "trial/basel/subject/1CT1",
        "trial/basel/subject/sub-01",
    ]


def test_series_members_checksum_and_attributes(delivery: Path) -> None:
    plan = _plan(delivery)
    series = next(
        r for r in plan.resources if r.type is ResourceType.DICOM_SERIES and SERIES_UID in r.id
    )
    members = [f"sub-01/mr/i{n}.dcm" for n in (1, 2, 3)]
    assert series.paths == tuple(f"raw/basel/run1/{m}" for m in members)
    assert series.checksum == member_checksum(sha256_file(delivery / m) for m in members)
    assert series.size_bytes == sum((delivery / m).stat().st_size for m in members)
    assert series.attributes["number_of_instances"] == 3
    assert series.attributes["modality"] == "MR"
    assert "patient_id" not in series.attributes
    study = next(r for r in plan.resources if r.id == series.parent_id)
    assert study.attributes["number_of_series"] == 1
    assert study.attributes["modalities"] == ["MR"]
    assert study.checksum == member_checksum([series.checksum or ""])


def test_volume_and_document_attributes(delivery: Path) -> None:
    plan = _plan(delivery)
    volume = next(r for r in plan.resources if r.type is ResourceType.VOLUME)
    assert volume.attributes["shape"] == [128, 96, 24, 2]
    assert volume.attributes["media_type"] == "application/x-nifti+gzip"
    assert volume.checksum == sha256_file(delivery / "sub-01" / "func.nii.gz")
    document = next(r for r in plan.resources if r.type is ResourceType.DOCUMENT)
    assert (document.attributes["page_count"], document.attributes["title"]) == (1, "Consent")
    assert plan.media_types["docs/readme.txt"] == "text/plain"


def test_bad_files_are_reported_and_get_no_resource(delivery: Path) -> None:
    plan = _plan(delivery)
    assert plan.bad_files == ("sub-02/cut.dcm", "sub-02/fake.dcm")
    errors = {(p.code, p.file) for p in plan.problems.errors}
    assert errors == {("dicom.truncated", "sub-02/cut.dcm"), ("dicom.not_dicom", "sub-02/fake.dcm")}
    paths = {p for r in plan.resources for p in r.paths}
    assert not any("sub-02" in p for p in paths)


def test_files_of_unknown_subject_are_kept_under_the_trial_with_a_warning(delivery: Path) -> None:
    plan = _plan(delivery)
    unknown = sorted(p.file or "" for p in plan.problems if p.code == "subject.unknown")
    assert unknown == ["docs/consent form.pdf", "docs/readme.txt"]
    assert all(p.severity is Severity.WARNING for p in plan.problems if p.code == "subject.unknown")


def test_patient_id_links_by_default(delivery: Path) -> None:
    plan = plan_files_in(delivery, "basel", run_id="run1")
    study = next(
        r for r in plan.resources if r.type is ResourceType.DICOM_STUDY and STUDY_UID in r.id
    )
    assert study.parent_id == "trial/basel/subject/P-7"
    volume = next(r for r in plan.resources if r.type is ResourceType.VOLUME)
    assert volume.parent_id == "trial/basel"


def test_conflicting_subjects_put_the_study_under_the_trial(tmp_path: Path) -> None:
    _instance(tmp_path / "a.dcm", 1, patient="P-1")
    _instance(tmp_path / "b.dcm", 2, patient="P-2")
    plan = plan_files_in(tmp_path, "basel", run_id="run1")
    study = next(r for r in plan.resources if r.type is ResourceType.DICOM_STUDY)
    assert study.parent_id == "trial/basel"
    conflicts = [p for p in plan.problems if p.code == "subject.conflict"]
    assert len(conflicts) == 1 and "P-1" in conflicts[0].message and "P-2" in conflicts[0].message


def test_dicom_series_rows_are_typed(delivery: Path) -> None:
    table = _plan(delivery).dicom_series
    assert table.schema == DICOM_SERIES_SCHEMA
    rows = {row["series_instance_uid"]: row for row in table.to_pylist()}
    mr = rows[SERIES_UID]
    assert mr["subject_id"] == "trial/basel/subject/sub-01"
    assert mr["number_of_instances"] == 3
    assert mr["rows"] == 64 and mr["echo_time"] == 240.0
    assert mr["pixel_spacing"] == [0.3125, 0.3125]
    assert str(mr["study_date"]) == "2004-08-26"


def test_parallel_header_parsing_gives_the_same_plan(delivery: Path) -> None:
    problems = Problems()
    files = scan_delivery(delivery, problems)
    checksums = {f.relative_path: sha256_file(f.path) for f in files}
    serial = plan_files("basel", files, checksums, run_id="run1", subject_from=BY_FOLDER)
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = plan_files(
            "basel", files, checksums, run_id="run1", subject_from=BY_FOLDER, mapper=pool.map
        )
    assert parallel.resources == serial.resources
    assert parallel.problems.to_json() == serial.problems.to_json()


def test_object_paths_override_where_bytes_are(delivery: Path) -> None:
    problems = Problems()
    files = scan_delivery(delivery, problems)
    moved = {"docs/readme.txt": "raw/basel/run0/docs/readme.txt"}
    plan = plan_files("basel", files, {}, run_id="run1", object_paths=moved)
    readme = next(r for r in plan.resources if r.type is ResourceType.FILE)
    assert readme.paths == ("raw/basel/run0/docs/readme.txt",)


def test_unchanged_redelivery_plans_no_change(delivery: Path) -> None:
    first = _plan(delivery)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    history = plan_resources(
        RESOURCES_SCHEMA.empty_table(), first.resources, run_id="run1", at=at, full=True
    ).open
    again = _plan(delivery)
    assert plan_resources(history, again.resources, run_id="run2", at=at, full=True).is_empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path:sub-\\d+", "needs a group"),
        ("path:(", "not a regular expression"),
        ("id", "expected"),
    ],
)
def test_bad_subject_rules(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SubjectRule.parse(text)


def test_subject_rule_groups() -> None:
    assert SubjectRule.parse(r"path:(\d+)/").subject("site/042/x.nii", None) == "042"
    named = SubjectRule.parse(r"path:(site)/(?P<subject>\d+)")
    assert named.subject("site/042/x.nii", None) == "042"
    assert SubjectRule.dicom().subject("x.dcm", "P1") == "P1"
