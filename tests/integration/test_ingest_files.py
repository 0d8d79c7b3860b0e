"""``vxp ingest files`` against the real embedded stack: real DICOM (pydicom's bundled test
files), real NIfTI (nibabel's test data), a real PDF (pypdf), one repository per test."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from nibabel.testing import data_path
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from pypdf import PdfWriter

import vxp_client
from tests.support import Stack
from vxp.core.settings import Key
from vxp.domain.lineage import read_events
from vxp.domain.refs import create_snapshot
from vxp.domain.repositories import create_repository
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.ingest_files import ingest_files
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.report import Outcome, RunReport
from vxp.ingestion.resources import ResourceType, member_checksum
from vxp.ingestion.runs import RunNames, merge_run
from vxp.ingestion.study.plan import validate_study
from vxp.lakefs import Session

pytestmark = pytest.mark.integration

SOURCE = "basel"
STUDY_UID = "1.2.826.0.1.3680043.8.498.2"
SERIES_UID = "1.2.826.0.1.3680043.8.498.1"
BY_FOLDER = ["path:^(sub-[^/]+)/", "dicom"]
SUB01 = f"trial/{SOURCE}/subject/sub-01"
MR_SERIES = f"{SUB01}/dicom-study/{STUDY_UID}/dicom-series/{SERIES_UID}"
MR_MEMBERS = [f"sub-01/mr/i{n}.dcm" for n in (1, 2, 3)]


def _dicom(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


def _mr_instance(target: Path, number: int, *, patient: str = "P-7", **changes: Any) -> None:
    dataset = pydicom.dcmread(_dicom("MR_small.dcm"))
    dataset.StudyInstanceUID = STUDY_UID
    dataset.SeriesInstanceUID = SERIES_UID
    dataset.SOPInstanceUID = generate_uid(entropy_srcs=[str(number)])
    dataset.InstanceNumber = number
    dataset.PatientID = patient
    for keyword, value in changes.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    target.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(target)


def _pdf(target: Path, title: str = "Consent", pages: int = 2) -> None:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=100, height=100)
    writer.add_metadata({"/Title": title})
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as stream:
        writer.write(stream)


def _delivery(root: Path) -> Path:
    """A small imaging delivery: one MR series of subject sub-01 (by folder), a CT whose
    PatientID is its only subject, NIfTI volumes, a PDF, a text file of no subject."""
    for number in (3, 1, 2):
        _mr_instance(root / "sub-01" / "mr" / f"i{number}.dcm", number)
    shutil.copy(_dicom("CT_small.dcm"), root / "loose-ct.dcm")
    shutil.copy(Path(data_path) / "example4d.nii.gz", root / "sub-01" / "func.nii.gz")
    (root / "sub-02").mkdir()
    shutil.copy(Path(data_path) / "anatomical.nii", root / "sub-02" / "anat.nii")
    _pdf(root / "docs" / "consent.pdf")
    (root / "docs" / "readme.txt").write_text("delivery of 2026-11\n")
    return root


@pytest.fixture
def repo(embedded: Stack, repo_name: str) -> str:
    create_repository(embedded.session(), repo_name, embedded.settings.storage_namespace_prefix)
    return repo_name


@pytest.fixture
def delivery(tmp_path: Path) -> Path:
    return _delivery(tmp_path / "delivery")


def _ingest(stack: Stack, repo: str, root: Path, **options: Any) -> RunReport:
    options.setdefault("subject_from", BY_FOLDER)
    return ingest_files(stack.session(), stack.settings, repo, SOURCE, root, **options)


def _heads(session: Session, repo: str) -> dict[str, str]:
    return session.branch_heads(repo)


def test_a_delivery_lands_byte_for_byte_with_its_resources(
    embedded: Stack, repo: str, delivery: Path
) -> None:
    report = _ingest(embedded, repo, delivery)
    assert report.outcome is Outcome.LANDED, report.to_json()
    assert report.problems.errors == []
    session = embedded.session()
    # merged, and the run's branches are gone
    assert set(_heads(session, repo)) == {"source", "integration"}
    assert report.run is not None
    names = RunNames(SOURCE, report.run)

    manifest = json.loads(session.get_object(repo, "integration", names.manifest_path) or b"")
    entries = {e["path"]: e for e in manifest["files"]}
    local = sorted(p.relative_to(delivery).as_posix() for p in delivery.rglob("*") if p.is_file())
    assert sorted(entries) == local
    for rel in local:
        data = (delivery / rel).read_bytes()
        assert session.get_object(repo, "source", names.raw_path(rel)) == data
        assert entries[rel]["sha256"] == hashlib.sha256(data).hexdigest()
        assert entries[rel]["size"] == len(data)
    media = {rel: e["media_type"] for rel, e in entries.items()}
    assert media["sub-01/mr/i1.dcm"] == "application/dicom"
    assert media["sub-01/func.nii.gz"] == "application/x-nifti+gzip"
    assert media["sub-02/anat.nii"] == "application/x-nifti"
    assert media["docs/consent.pdf"] == "application/pdf"

    with embedded.client(repo) as client:
        found = {r.id: r for r in client.resources()}
        series = found[MR_SERIES]
        assert series.type is ResourceType.DICOM_SERIES
        assert series.paths == tuple(names.raw_path(m) for m in MR_MEMBERS)
        assert series.checksum == member_checksum(entries[m]["sha256"] for m in MR_MEMBERS)
        assert series.attributes["modality"] == "MR"
        assert series.attributes["number_of_instances"] == 3
        assert "patient_id" not in series.attributes and "patient_name" not in series.attributes
        assert series.version == 1
        volume = found[f"{SUB01}/volume/sub-01%2Ffunc.nii.gz"]
        assert volume.attributes["shape"] == [128, 96, 24, 2]
        assert volume.attributes["data_type"] == "int16"
        anat = found[f"trial/{SOURCE}/subject/sub-02/volume/sub-02%2Fanat.nii"]
        assert anat.type is ResourceType.VOLUME
        document = found[f"trial/{SOURCE}/document/docs%2Fconsent.pdf"]
        assert (document.attributes["page_count"], document.attributes["title"]) == (2, "Consent")
        readme = found[f"trial/{SOURCE}/file/docs%2Freadme.txt"]
        assert readme.parent_id == f"trial/{SOURCE}"
        assert found[f"trial/{SOURCE}"].attributes == {"source": SOURCE}
        # linked by DICOM PatientID: the CT has no subject folder
        assert any(i.startswith(f"trial/{SOURCE}/subject/1CT1/dicom-study/") for i in found), (
            sorted(found)
        )
        series_rows = client.query(
            "SELECT id, subject_id, modality, number_of_instances, checksum "
            "FROM basel.dicom_series ORDER BY modality"
        ).to_pylist()
    assert [(r["modality"], r["number_of_instances"]) for r in series_rows] == [
        ("CT", 1),
        ("MR", 3),
    ]
    assert series_rows[1]["id"] == MR_SERIES
    assert series_rows[1]["subject_id"] == SUB01
    assert series_rows[1]["checksum"] == series.checksum
    assert series_rows[0]["subject_id"] == f"trial/{SOURCE}/subject/1CT1"

    # unknown subjects are reported, file by file, and placed under the trial
    unknown = {p.file for p in report.problems.warnings if p.code == "subject.unknown"}
    assert unknown == {"docs/consent.pdf", "docs/readme.txt"}

    # lineage is committed with the data: the manifest (every file) in, both tables out
    events = [e for e in read_events(session, repo, "integration") if e["eventType"] == "COMPLETE"]
    assert len(events) == 1
    assert {d["name"] for d in events[0]["outputs"]} == {"vxp.resources", f"{SOURCE}.dicom_series"}
    [listing] = events[0]["inputs"]
    assert listing["name"] == names.manifest_path
    raw_manifest = session.get_object(repo, "integration", names.manifest_path) or b""
    assert (
        listing["facets"]["version"]["datasetVersion"] == hashlib.sha256(raw_manifest).hexdigest()
    )


def test_an_unchanged_folder_makes_no_commit(embedded: Stack, repo: str, delivery: Path) -> None:
    first = _ingest(embedded, repo, delivery)
    assert first.outcome is Outcome.LANDED
    session = embedded.session()
    before = _heads(session, repo)
    again = _ingest(embedded, repo, delivery)
    assert again.outcome is Outcome.UNCHANGED
    assert again.run == first.run
    assert again.commits == {}
    assert _heads(session, repo) == before


def test_a_changed_file_is_the_only_one_sent_and_versioned(
    embedded: Stack, repo: str, delivery: Path
) -> None:
    first = _ingest(embedded, repo, delivery)
    session = embedded.session()
    snapshot = create_snapshot(session, repo, "before").commit_id
    (delivery / "docs" / "readme.txt").write_text("delivery of 2026-11, corrected\n")
    second = _ingest(embedded, repo, delivery)
    assert second.outcome is Outcome.LANDED
    assert second.run != first.run
    assert second.transfer["files_sent"] == 1
    assert second.transfer["files_stored_earlier"] == 7
    readme_id = f"trial/{SOURCE}/file/docs%2Freadme.txt"
    with embedded.client(repo) as client:
        readme = client.get_resource(readme_id)
        series = client.get_resource(MR_SERIES)
        assert readme.version == 2
        assert client.open(readme) == b"delivery of 2026-11, corrected\n"
        # unchanged files keep the objects the first run landed: no new version
        assert series.version == 1
        assert series.paths == tuple(
            RunNames(SOURCE, first.run or "").raw_path(m) for m in MR_MEMBERS
        )
    # a client pinned before the change still reads the old bytes
    with vxp_client.PlatformClient(repo, snapshot, settings=embedded.settings) as old:
        before = old.get_resource(readme_id)
        assert before.version == 1
        assert old.open(before) == b"delivery of 2026-11\n"
    manifest = json.loads(
        session.get_object(repo, "source", RunNames(SOURCE, second.run or "").manifest_path) or b""
    )
    stored = {e["path"]: e.get("stored_at") for e in manifest["files"]}
    assert stored["docs/readme.txt"] is None
    assert stored["sub-01/mr/i1.dcm"] == RunNames(SOURCE, first.run or "").raw_path(
        "sub-01/mr/i1.dcm"
    )
    # and still the second run's folder holds every delivered file (copied inside lakeFS)
    second_run = RunNames(SOURCE, second.run or "")
    landed = {
        e.path for e in session.list_objects(repo, "source", second_run.raw_prefix, delimiter="")
    }
    assert {second_run.raw_path(path) for path in stored} <= landed
    assert session.get_object(repo, "source", second_run.raw_path("sub-01/mr/i1.dcm")) == (
        session.get_object(repo, "source", stored["sub-01/mr/i1.dcm"])
    )


def _bad_cases() -> dict[str, tuple[Callable[[Path], None], str, str]]:
    """name → (make the bad file in a folder, the problem code, the file it names)."""

    def not_dicom(root: Path) -> None:
        (root / "scan.dcm").write_text("exported by mistake\n")

    def cut_dicom(root: Path) -> None:
        (root / "cut.dcm").write_bytes(_dicom("CT_small.dcm").read_bytes()[:20000])

    def no_uid(root: Path) -> None:
        _mr_instance(root / "no-uid.dcm", 1, SeriesInstanceUID=None)

    def bad_nifti(root: Path) -> None:
        data = gzip.decompress((Path(data_path) / "example4d.nii.gz").read_bytes())
        (root / "cut.nii.gz").write_bytes(gzip.compress(data[:200]))

    def not_pdf(root: Path) -> None:
        (root / "report.pdf").write_bytes(b"<html>not a pdf</html>\n")

    def empty(root: Path) -> None:
        (root / "empty.txt").write_bytes(b"")

    def dotdot(root: Path) -> None:
        (root / "a..b.txt").write_text("x\n")

    def control(root: Path) -> None:
        (root / "bad\x01name.txt").write_text("x\n")

    def outside(root: Path) -> None:
        target = root.parent / "elsewhere.txt"
        target.write_text("not part of the delivery\n")
        (root / "link.txt").symlink_to(target)

    def unreadable(root: Path) -> None:
        # the tests run as root, who reads any mode: a dangling link is what cannot be read
        (root / "gone.txt").symlink_to(root / "missing")

    return {
        "not_dicom": (not_dicom, "dicom.not_dicom", "scan.dcm"),
        "cut_dicom": (cut_dicom, "dicom.truncated", "cut.dcm"),
        "dicom_without_uids": (no_uid, "dicom.missing_uid", "no-uid.dcm"),
        "unreadable_nifti": (bad_nifti, "nifti.", "cut.nii.gz"),
        "not_pdf": (not_pdf, "pdf.not_pdf", "report.pdf"),
        "empty_file": (empty, "file.empty", "empty.txt"),
        "dotdot_name": (dotdot, "path.dotdot", "a..b.txt"),
        "control_character": (control, "path.control", "bad\\x01name.txt"),
        "symlink_leaving": (outside, "path.symlink_outside", "link.txt"),
        "unreadable_file": (unreadable, "file.unreadable", "gone.txt"),
    }


BAD = _bad_cases()


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_the_run_and_writes_nothing(
    embedded: Stack, repo: str, tmp_path: Path, case: str
) -> None:
    make, code, file = BAD[case]
    root = tmp_path / "delivery"
    root.mkdir()
    (root / "ok.txt").write_text("fine\n")
    make(root)
    session = embedded.session()
    before = _heads(session, repo)
    report = _ingest(embedded, repo, root)
    assert report.outcome is Outcome.INVALID
    assert report.outcome.exit_code == 1
    errors = [p for p in report.problems.errors if p.code.startswith(code)]
    assert [p.file for p in errors] == [file], report.problems.to_json()
    assert _heads(session, repo) == before
    assert not session.has_uncommitted(repo, "source")


def test_every_problem_of_a_delivery_is_reported_at_once(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    root = tmp_path / "delivery"
    root.mkdir()
    for make, _, _ in BAD.values():
        make(root)
    report = _ingest(embedded, repo, root)
    assert report.outcome is Outcome.INVALID
    found = {(p.file, p.code) for p in report.problems.errors}
    for _, code, file in BAD.values():
        assert any(f == file and c.startswith(code) for f, c in found), (code, file, found)


def test_quarantine_lands_good_files_and_keeps_bad_ones_apart(
    embedded: Stack, repo: str, delivery: Path
) -> None:
    (delivery / "sub-02" / "fake.dcm").write_text("exported by mistake\n")
    (delivery / "docs" / "empty.txt").write_bytes(b"")
    (delivery / "sub-02" / "cut.dcm").write_bytes(_dicom("CT_small.dcm").read_bytes()[:20000])
    without = _ingest(embedded, repo, delivery)
    assert without.outcome is Outcome.INVALID

    report = _ingest(embedded, repo, delivery, quarantine=True)
    assert report.outcome is Outcome.LANDED, report.to_json()
    bad = ["docs/empty.txt", "sub-02/cut.dcm", "sub-02/fake.dcm"]
    assert report.quarantined == bad
    assert {p.file for p in report.problems.errors} == set(bad)
    session = embedded.session()
    names = RunNames(SOURCE, report.run or "")
    for rel in bad:
        # kept as delivered, never among the raw files
        assert (
            session.get_object(repo, "integration", names.quarantine_prefix + rel)
            == (delivery / rel).read_bytes()
        )
        assert session.stat_object(repo, "integration", names.raw_path(rel)) is None
    problems = json.loads(
        session.get_object(repo, "integration", names.quarantine_prefix + "_problems.json") or b""
    )
    assert sorted(f["path"] for f in problems["files"]) == bad
    assert {p["file"] for p in problems["problems"] if p["severity"] == "error"} == set(bad)
    manifest = json.loads(session.get_object(repo, "integration", names.manifest_path) or b"")
    assert sorted(e["path"] for e in manifest["quarantined"]) == bad
    assert not set(bad) & {e["path"] for e in manifest["files"]}
    with embedded.client(repo) as client:
        paths = [p for r in client.resources() for p in r.paths]
        assert client.get_resource(MR_SERIES).version == 1
    assert paths and not [p for p in paths if p.startswith("quarantine/")]
    assert not [p for p in paths if any(p.endswith(rel) for rel in bad)]
    # the same folder again, also quarantined: the same delivery, nothing to do
    assert _ingest(embedded, repo, delivery, quarantine=True).outcome is Outcome.UNCHANGED


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    from vxp.core.home import Home
    from vxp.core.settings import Settings
    from vxp.ingestion.ingest_files import ingest_files
    from vxp.ingestion.report import SilentProgress
    from vxp.lakefs import open_session


    class KillAfter(SilentProgress):
        # SIGKILL, no clean-up: the process dies after `after` files have been uploaded
        def __init__(self, after):
            self.after, self.name, self.done = after, "", 0

        def phase(self, name, total=None, unit="items", items=None):
            self.name = name

        def advance(self, amount=1):
            if self.name == "upload":
                self.done += 1
                if self.done == self.after:
                    os.kill(os.getpid(), signal.SIGKILL)


    home, cache, repo, root, after = sys.argv[1:]
    settings = Settings.load(environ={}, home=Home(root=Path(home), cache=Path(cache)))
    ingest_files(
        open_session(settings), settings, repo, "basel", Path(root), jobs=1,
        progress=KillAfter(int(after)),
    )
    """
)


def test_a_killed_run_resumes_without_sending_landed_files_again(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    root = tmp_path / "delivery"
    root.mkdir()
    for n in range(30):
        (root / f"f{n:02d}.bin").write_bytes(hashlib.sha256(str(n).encode()).digest() * (n + 1))
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    killed = subprocess.run(
        [
            sys.executable,
            str(script),
            str(embedded.home.root),
            str(embedded.home.cache),
            repo,
            str(root),
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    session = embedded.session()
    runs = [b for b in _heads(session, repo) if b.startswith(f"ingest-{SOURCE}-")]
    assert len(runs) == 1  # the killed run's branch, with what it landed

    report = ingest_files(session, embedded.settings, repo, SOURCE, root, jobs=1, subject_from=None)
    assert report.outcome is Outcome.LANDED, report.to_json()
    assert report.resumed
    assert runs[0].endswith(report.run or "")
    assert report.transfer["files_already_landed"] == 5
    assert report.transfer["files_sent"] == 25
    names = RunNames(SOURCE, report.run or "")
    for path in sorted(root.iterdir()):
        assert session.get_object(repo, "source", names.raw_path(path.name)) == path.read_bytes()
    assert set(_heads(session, repo)) == {"source", "integration"}


def test_no_merge_stops_on_the_run_branches(embedded: Stack, repo: str, delivery: Path) -> None:
    session = embedded.session()
    before = _heads(session, repo)
    report = _ingest(embedded, repo, delivery, merge=False)
    assert report.outcome is Outcome.STAGED
    heads = _heads(session, repo)
    assert {k: heads[k] for k in ("source", "integration")} == before
    assert set(report.branches.values()) <= set(heads)
    with vxp_client.PlatformClient(
        repo, report.branches["integrate"], settings=embedded.settings
    ) as client:
        assert client.get_resource(MR_SERIES).version == 1
    merge_run(session, repo, report.run or "")
    with embedded.client(repo) as client:
        assert client.get_resource(MR_SERIES).version == 1


def test_files_hang_under_the_subjects_a_study_run_owns(
    embedded: Stack, repo: str, tmp_path: Path
) -> None:
    study = write_example_study(tmp_path / "study", subjects=3, deliveries=1)[0]
    session = embedded.session()
    clinical = ingest_study(session, embedded.settings, repo, SOURCE, validate_study(study))
    assert clinical.outcome is Outcome.LANDED
    subject = f"trial/{SOURCE}/subject/BASEL-001"
    with embedded.client(repo) as client:
        owned = client.get_resource(subject)
        trial = client.get_resource(f"trial/{SOURCE}")
    root = tmp_path / "imaging"
    _mr_instance(root / "BASEL-001" / "mr" / "i1.dcm", 1, patient="BASEL-001")
    _pdf(root / "BASEL-001" / "report.pdf", title="Radiology report", pages=1)
    report = _ingest(embedded, repo, root, subject_from=["dicom", "path:^([^/]+)/"])
    assert report.outcome is Outcome.LANDED, report.to_json()
    assert not report.problems.warnings
    with embedded.client(repo) as client:
        # the study's subject and trial are untouched; the files hang under them
        assert client.get_resource(subject) == owned
        assert client.get_resource(f"trial/{SOURCE}") == trial
        below = {r.type for r in client.children(subject)}
        assert below == {ResourceType.VISIT, ResourceType.DICOM_STUDY, ResourceType.DOCUMENT}
        series = client.resources(type="DICOMSeries", under=subject)
        assert [s.attributes["number_of_instances"] for s in series] == [1]
        assert client.resources(type=ResourceType.DOCUMENT)[0].parent_id == subject


def test_client_reads_resources_and_bytes(embedded: Stack, repo: str, delivery: Path) -> None:
    _ingest(embedded, repo, delivery)
    with embedded.client(repo) as client:
        assert [r.id for r in client.resources(type="DICOMSeries", under=SUB01)] == [MR_SERIES]
        assert {r.type for r in client.resources(under=SUB01)} == {
            ResourceType.DICOM_STUDY,
            ResourceType.DICOM_SERIES,
            ResourceType.VOLUME,
        }
        assert [c.id for c in client.children(MR_SERIES)] == []
        study = client.get_resource(MR_SERIES).parent_id
        assert [c.id for c in client.children(study or "")] == [MR_SERIES]
        volume = client.get_resource(f"{SUB01}/volume/sub-01%2Ffunc.nii.gz")
        assert client.open(volume) == (delivery / "sub-01" / "func.nii.gz").read_bytes()
        series = client.get_resource(MR_SERIES)
        with pytest.raises(vxp_client.InvalidInput, match="not one file"):
            client.open(series)
        assert client.open(series.paths[0]) == (delivery / MR_MEMBERS[0]).read_bytes()
        with pytest.raises(vxp_client.NotFound):
            client.get_resource(f"{SUB01}/volume/nope")
        with pytest.raises(vxp_client.NotFound):
            client.open("raw/nope")
        with pytest.raises(vxp_client.InvalidInput, match="not a resource type"):
            client.resources(type="Scan")
        assert isinstance(volume, vxp_client.Resource)
    # a repository without resources yet answers empty, not an error
    empty = f"{repo}-e"
    create_repository(embedded.session(), empty, embedded.settings.storage_namespace_prefix)
    with embedded.client(empty) as client:
        assert client.resources() == []


def _vxp(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    env.update({"VXP_HOME": str(stack.home.root), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "vxp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_ingest_files_and_resources(embedded: Stack, repo: str, delivery: Path) -> None:
    helped = _vxp(embedded, "ingest", "files", "--help")
    assert helped.returncode == 0
    assert "zero-copy" in helped.stdout and "--quarantine" in helped.stdout

    bad = delivery.parent / "bad"
    bad.mkdir()
    (bad / "scan.dcm").write_text("not dicom\n")
    invalid = _vxp(embedded, "ingest", "files", str(bad), "--repo", repo, "-s", SOURCE, "--ci")
    assert invalid.returncode == 1, invalid.stderr
    assert json.loads(invalid.stdout)["outcome"] == "invalid"
    assert json.loads(invalid.stdout)["errors"][0]["code"] == "dicom.not_dicom"

    args = ["ingest", "files", str(delivery), "--repo", repo, "--source", SOURCE]
    rule = ["--subject-from", BY_FOLDER[0], "--subject-from", "dicom"]
    landed = _vxp(embedded, *args, *rule, "--ci", "--jobs", "3")
    assert landed.returncode == 0, landed.stderr
    summary = json.loads(landed.stdout)
    assert summary["outcome"] == "landed"
    assert summary["transfer"]["files_sent"] == 8
    again = _vxp(embedded, *args, *rule)
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stderr

    listed = _vxp(
        embedded, "resources", "list", "--repo", repo, "--type", "DICOMSeries", "-f", "json"
    )
    assert listed.returncode == 0, listed.stderr
    assert MR_SERIES in [r["id"] for r in json.loads(listed.stdout)]
    under = _vxp(embedded, "resources", "list", "--repo", repo, "--under", SUB01)
    assert under.returncode == 0, under.stderr
    assert "3 resources at integration" in under.stdout
    shown = _vxp(embedded, "resources", "show", MR_SERIES, "--repo", repo, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert (body["type"], body["version"], body["attributes"]["modality"]) == (
        "DICOMSeries",
        1,
        "MR",
    )
    assert len(body["paths"]) == 3 and body["children"] == []
    table = _vxp(embedded, "resources", "show", MR_SERIES, "--repo", repo)
    assert table.returncode == 0 and "number_of_instances" in table.stdout
    missing = _vxp(embedded, "resources", "show", "trial/basel/file/nope", "--repo", repo)
    assert missing.returncode == 1 and "no resource" in missing.stderr
    assert "Traceback" not in missing.stderr
