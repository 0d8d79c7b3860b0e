"""The example MRI: valid DICOM, linked to the example study's subjects, deterministic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom

from vxp.ingestion.example_imaging import COLUMNS, ROWS, SLICES, write_example_imaging
from vxp.ingestion.files import plan_files_in


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.dcm"))
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_example_imaging(tmp_path / "a", subjects=2, seed=3)
    write_example_imaging(tmp_path / "b", subjects=2, seed=3)
    write_example_imaging(tmp_path / "c", subjects=2, seed=4)
    a, b, c = (_digests(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) == 2 * 2 * SLICES
    assert a.keys() == c.keys()
    assert not set(a.values()) & set(c.values())


def test_series_have_geometry_and_the_subject_id(tmp_path: Path) -> None:
    folders = write_example_imaging(tmp_path, subjects=1, trial="basel")
    assert [f.relative_to(tmp_path).as_posix() for f in folders] == [
        "BASEL-001/T1w",
        "BASEL-001/T2w",
    ]
    first = pydicom.dcmread(folders[1] / "0001.dcm")
    last = pydicom.dcmread(folders[1] / f"{SLICES:04d}.dcm")
    assert first.PatientID == "BASEL-001"
    assert first.SeriesDescription.startswith("T2w")
    assert first.pixel_array.shape == (ROWS, COLUMNS)
    assert [float(v) for v in first.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert float(last.ImagePositionPatient[2]) - float(first.ImagePositionPatient[2]) == SLICES - 1
    assert first.StudyInstanceUID == pydicom.dcmread(folders[0] / "0001.dcm").StudyInstanceUID


def test_files_ingestion_links_every_series_to_the_study_subject(tmp_path: Path) -> None:
    write_example_imaging(tmp_path, subjects=2)
    plan = plan_files_in(tmp_path, "basel", run_id="r1")
    assert not plan.problems.has_errors
    series = [r for r in plan.resources if r.type == "DICOMSeries"]
    assert len(series) == 4
    assert {r.id.split("/dicom-study/")[0] for r in series} == {
        "trial/basel/subject/BASEL-001",
        "trial/basel/subject/BASEL-002",
    }
    assert sorted(r.attributes["series_description"] for r in series) == [
        "T1w_MPRAGE",
        "T1w_MPRAGE",
        "T2w_SPACE",
        "T2w_SPACE",
    ]
