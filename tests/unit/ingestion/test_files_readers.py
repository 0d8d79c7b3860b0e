"""Media types and the DICOM, NIfTI and PDF header readers, on real files.

DICOM: the test files pydicom ships; NIfTI: nibabel's test data; PDF: written by pypdf.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pydicom
import pytest
from nibabel.testing import data_path
from pydicom.data import get_testdata_file
from pypdf import PdfWriter

from vxp.ingestion.delivery import DeliveredFile
from vxp.ingestion.files import (
    AllowList,
    Kind,
    detect,
    inspect_file,
    never_copied,
    read_document,
    read_instance,
    read_volume,
)
from vxp.ingestion.files.dicom import attribute_name

NIFTI = Path(data_path)


def dicom(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom's wheel lacks {name}"
    return Path(str(path))


def delivered(path: Path, relative_path: str | None = None) -> DeliveredFile:
    return DeliveredFile(relative_path or path.name, path, path.stat().st_size)


def write_pdf(path: Path, *, title: str | None = "Visit report", pages: int = 2) -> Path:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if title is not None:
        writer.add_metadata({"/Title": title})
    with path.open("wb") as stream:
        writer.write(stream)
    return path


@pytest.mark.parametrize(
    ("path", "media_type", "kind"),
    [
        (dicom("CT_small.dcm"), "application/dicom", Kind.DICOM),
        (dicom("ExplVR_LitEndNoMeta.dcm"), "application/dicom", Kind.DICOM),
        (NIFTI / "anatomical.nii", "application/x-nifti", Kind.NIFTI),
        (NIFTI / "example4d.nii.gz", "application/x-nifti+gzip", Kind.NIFTI),
        (NIFTI / "example_nifti2.nii.gz", "application/x-nifti+gzip", Kind.NIFTI),
    ],
)
def test_media_type_of_real_files(path: Path, media_type: str, kind: Kind) -> None:
    info = detect(path)
    assert (info.media_type, info.kind) == (media_type, kind)


def test_media_type_comes_from_content_not_the_name(tmp_path: Path) -> None:
    renamed = tmp_path / "scan.bin"
    shutil.copy(dicom("MR_small.dcm"), renamed)
    assert detect(renamed).kind is Kind.DICOM
    pdf = write_pdf(tmp_path / "report.dat")
    assert detect(pdf).media_type == "application/pdf"
    fake = tmp_path / "notes.dcm"
    fake.write_text("not an image\n")
    assert detect(fake).kind is Kind.OTHER
    assert detect(fake).media_type != "application/dicom"
    png = tmp_path / "x"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    assert detect(png).media_type == "image/png"


def test_dicom_header_copies_allow_listed_attributes() -> None:
    instance, problems = read_instance(dicom("CT_small.dcm"), "ct/1.dcm", AllowList())
    assert problems == []
    assert instance is not None
    assert instance.study_instance_uid == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    assert instance.series_instance_uid.startswith("1.3.6.1.4.1.5962.1.3.1.1")
    assert instance.attributes["modality"] == "CT"
    assert instance.attributes["study_date"] == "2004-01-19"
    assert instance.attributes["rows"] == 128
    assert instance.attributes["pixel_spacing"] == [0.661468, 0.661468]
    assert instance.attributes["image_type"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert instance.attributes["slice_thickness"] == 5.0
    assert instance.patient_id == "1CT1"  # for linking only


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm"])
def test_identifying_tags_never_reach_attributes(name: str) -> None:
    path = dicom(name)
    full = pydicom.dcmread(path, stop_before_pixels=True)
    identifying = {
        str(element.value)
        for element in full
        if element.keyword and never_copied(element.keyword) is not None and element.value
    }
    assert identifying, "the test file should have identifying values to leak"
    instance, _ = read_instance(path, name, AllowList())
    assert instance is not None
    copied: set[str] = set()
    for value in instance.attributes.values():
        copied.update(str(v) for v in (value if isinstance(value, list) else [value]))
    assert identifying.isdisjoint(copied)
    # the person's own values do not even appear inside a copied text
    personal = {
        str(element.value).strip()
        for element in full
        if (element.VR == "PN" or element.keyword.startswith("Patient")) and element.value
    }
    text = json.dumps(dict(instance.attributes))
    assert [v for v in personal if len(v) >= 3 and v in text] == []
    assert not any(key.startswith("patient") for key in instance.attributes)


def test_allow_list_refuses_identifying_keywords_all_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        AllowList(("Modality", "PatientName", "PatientBirthDate", "InstitutionName", "Nope"))
    message = str(caught.value)
    for keyword in ("PatientName", "PatientBirthDate", "InstitutionName", "Nope"):
        assert keyword in message
    assert "Modality " not in message
    assert never_copied("OperatorsName") == "is a person name (VR PN)"
    assert never_copied("PatientPosition") is None


def test_allow_list_is_configurable() -> None:
    allow = AllowList(("Modality", "InstanceNumber"))
    instance, _ = read_instance(dicom("MR_small.dcm"), "mr.dcm", allow)
    assert instance is not None
    assert dict(instance.attributes) == {"modality": "MR", "instance_number": 1}
    assert attribute_name("SOPClassUID") == "sop_class_uid"


def test_dicom_without_preamble_is_read() -> None:
    instance, problems = read_instance(
        dicom("ExplVR_LitEndNoMeta.dcm"), "x.dcm", AllowList(), certain=False
    )
    assert problems == []
    assert instance is not None and instance.series_instance_uid == "1.2.333.4444.5.6.7.8.99"


@pytest.mark.parametrize(
    ("cut", "where"), [(1000, "header"), (20000, "pixel data"), (6288, "pixel data")]
)
def test_truncated_dicom_is_reported(tmp_path: Path, cut: int, where: str) -> None:
    path = tmp_path / "cut.dcm"
    path.write_bytes(dicom("CT_small.dcm").read_bytes()[:cut])
    instance, problems = read_instance(path, "cut.dcm", AllowList())
    assert instance is None
    assert [(p.code, p.file) for p in problems] == [("dicom.truncated", "cut.dcm")]
    assert where in problems[0].message


def test_pydicoms_own_truncated_file_is_reported() -> None:
    instance, problems = read_instance(dicom("MR_truncated.dcm"), "t.dcm", AllowList())
    assert instance is None and [p.code for p in problems] == ["dicom.truncated"]


def test_dicom_without_uids_is_reported(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(dicom("MR_small.dcm"))
    del dataset.StudyInstanceUID
    del dataset.SeriesInstanceUID
    path = tmp_path / "no-uid.dcm"
    dataset.save_as(path)
    instance, problems = read_instance(path, "no-uid.dcm", AllowList())
    assert instance is None
    assert [p.code for p in problems] == ["dicom.missing_uid", "dicom.missing_uid"]
    assert "StudyInstanceUID" in problems[0].message
    assert "SeriesInstanceUID" in problems[1].message


def test_non_dicom_named_dcm_is_an_error(tmp_path: Path) -> None:
    fake = tmp_path / "scan.dcm"
    fake.write_text("hello\n")
    facts = inspect_file(delivered(fake))
    assert facts.bad
    assert [p.code for p in facts.problems] == ["dicom.not_dicom"]


@pytest.mark.filterwarnings("ignore:Unknown encoding")
def test_binary_file_that_only_looks_like_dicom_is_a_plain_file(tmp_path: Path) -> None:
    odd = tmp_path / "blob.bin"
    # group 0x0008 and a VR-like "CS", then garbage: not readable as DICOM
    odd.write_bytes(b"\x08\x00\x05\x00CS\xff\xff" + b"\xfe" * 100)
    facts = inspect_file(delivered(odd))
    assert not facts.bad and facts.kind is Kind.OTHER


@pytest.mark.parametrize(
    ("name", "shape", "voxel", "orientation", "version"),
    [
        ("anatomical.nii", [33, 41, 25], [2.0, 2.0, 2.0], "LAS", 1),
        ("example4d.nii.gz", [128, 96, 24, 2], [2.0, 2.0, 2.2], "LAS", 1),
        ("example_nifti2.nii.gz", [32, 20, 12, 2], [2.0, 2.0, 2.2], "LAS", 2),
        ("standard.nii.gz", [4, 5, 7], [1.0, 3.0, 2.0], "RAS", 1),
    ],
)
def test_nifti_header(
    name: str, shape: list[int], voxel: list[float], orientation: str, version: int
) -> None:
    attributes, problems = read_volume(NIFTI / name, name)
    assert problems == []
    assert attributes is not None
    assert attributes["shape"] == shape
    assert attributes["voxel_size_mm"] == pytest.approx(voxel, abs=1e-5)
    assert attributes["orientation"] == orientation
    assert attributes["nifti_version"] == version
    assert attributes["data_type"] in ("int16", "uint8", "float32")


def test_unreadable_and_truncated_nifti(tmp_path: Path) -> None:
    garbage = tmp_path / "bad.nii"
    garbage.write_bytes(b"\0" * 400)
    facts = inspect_file(delivered(garbage))
    assert [p.code for p in facts.problems] == ["nifti.not_nifti"]

    header = (NIFTI / "anatomical.nii").read_bytes()
    damaged = tmp_path / "damaged.nii"
    # a NIfTI magic with an unknown data type code (9999; the file is big-endian)
    damaged.write_bytes(header[:70] + b"\x27\x0f" + header[72:])
    attributes, problems = read_volume(damaged, "damaged.nii")
    assert attributes is None and [p.code for p in problems] == ["nifti.unreadable"]

    cut = tmp_path / "cut.nii"
    cut.write_bytes(header[:5000])
    attributes, problems = read_volume(cut, "cut.nii")
    assert attributes is None and [p.code for p in problems] == ["nifti.truncated"]

    cut_gz = tmp_path / "cut.nii.gz"
    cut_gz.write_bytes(gzip.compress(header[:5000]))
    attributes, problems = read_volume(cut_gz, "cut.nii.gz")
    assert attributes is None and [p.code for p in problems] == ["nifti.truncated"]


def test_pdf_page_count_and_title(tmp_path: Path) -> None:
    attributes, problems = read_document(write_pdf(tmp_path / "r.pdf", pages=3), "r.pdf")
    assert problems == []
    assert attributes == {"page_count": 3, "encrypted": False, "title": "Visit report"}
    untitled, _ = read_document(write_pdf(tmp_path / "u.pdf", title=None), "u.pdf")
    assert untitled == {"page_count": 2, "encrypted": False}


def test_unreadable_pdf(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 20)
    attributes, problems = read_document(broken, "broken.pdf")
    assert attributes is None
    assert [(p.code, p.file) for p in problems] == [("pdf.unreadable", "broken.pdf")]
    text = tmp_path / "letter.pdf"
    text.write_text("Dear ...")
    assert [p.code for p in inspect_file(delivered(text)).problems] == ["pdf.not_pdf"]
