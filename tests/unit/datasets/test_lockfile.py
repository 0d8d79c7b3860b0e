"""The lockfile format (DESIGN.md "Lockfiles"): canonical lines, split files, a resource's files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from vxp.core.errors import NotFound
from vxp.datasets.lock import (
    LOCK_FILE,
    _check_destination,
    _files,
    _Manifests,
    _place,
    _write,
    canonical_line,
)
from vxp.datasets.recipe import Selection
from vxp.domain.lineage import FileInput
from vxp.ingestion.resources import ResourceType, canonical_json, member_checksum

COMMIT = "c" * 64
S1 = "trial/basel/subject/BASEL-001"


def _record(**changes: Any) -> dict[str, Any]:
    record = {
        "id": S1,
        "type": "Subject",
        "version": 2,
        "repository": "clinical",
        "commit": COMMIT,
        "attributes": {"dm.age": 71, "subject": "BASEL-001", "name": "Zoë", "weight": 70.5},
        "files": [],
    }
    return {**record, **changes}


def test_a_line_is_canonical_json() -> None:
    line = canonical_line(_record())
    assert line.endswith("}\n") and line.count("\n") == 1
    assert line == canonical_json(_record()) + "\n"
    # sorted keys at every level, no whitespace, UTF-8 rather than \u escapes
    assert line.startswith('{"attributes":{"dm.age":71,"name":"Zoë","subject":"BASEL-001",')
    assert ", " not in line and ": " not in line and "\\u" not in line
    assert list(json.loads(line)) == sorted(_record())
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_line(_record(attributes={"x": float("nan")}))


def test_split_files_hold_their_lines_in_id_order_with_counts_and_sha256(tmp_path: Path) -> None:
    ids = [f"{S1}/visit/{n}" for n in (1, 2, 3)]
    selection = Selection({"train": [ids[0], ids[2]], "test": [ids[1]], "empty": []})
    records = [(i, canonical_line(_record(id=i, type="Visit"))) for i in sorted(ids)]
    splits = {s.name: s for s in _write(tmp_path, selection, records)}
    assert sorted(splits) == ["empty", "test", "train"]
    train = (tmp_path / "resources.train.jsonl").read_bytes()
    assert [json.loads(line)["id"] for line in train.splitlines()] == [ids[0], ids[2]]
    assert splits["train"].count == 2 and splits["test"].count == 1
    assert splits["train"].sha256 == hashlib.sha256(train).hexdigest()
    assert (tmp_path / "resources.empty.jsonl").read_bytes() == b""
    assert splits["empty"].sha256 == hashlib.sha256(b"").hexdigest()
    assert splits["train"].file == "resources.train.jsonl"


class _FakeClient:
    """Stands in for PlatformClient.open: object path → bytes, counting reads."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.reads: list[str] = []

    def open(self, path: str) -> bytes:
        self.reads.append(path)
        if path not in self.objects:
            raise NotFound(path)
        return self.objects[path]


def _manifest(files: dict[str, bytes]) -> bytes:
    entries = [
        {"path": p, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
        for p, b in files.items()
    ]
    return json.dumps({"files": entries}).encode()


def test_a_series_is_its_instances_with_sha256_and_size_from_the_manifest() -> None:
    members = {"sub/mr/1.dcm": b"one", "sub/mr/2.dcm": b"instance two"}
    client = _FakeClient({"raw/basel/r1/_manifest.json": _manifest(members)})
    inputs: dict[str, FileInput] = {}
    manifests = _Manifests(client, inputs)  # type: ignore[arg-type]
    paths = [f"raw/basel/r1/{p}" for p in members]
    checksum = member_checksum(hashlib.sha256(b).hexdigest() for b in members.values())
    problems: list[str] = []
    files = _files("s", ResourceType.DICOM_SERIES, paths, checksum, 15, manifests, problems)
    assert problems == []
    assert files == [
        {"path": paths[0], "sha256": hashlib.sha256(b"one").hexdigest(), "size": 3},
        {"path": paths[1], "sha256": hashlib.sha256(b"instance two").hexdigest(), "size": 12},
    ]
    # a manifest is read once, and is an input of the lock's lineage
    _files("t", ResourceType.DICOM_STUDY, paths, None, 15, manifests, problems)
    assert client.reads == ["raw/basel/r1/_manifest.json"]
    assert list(inputs) == ["raw/basel/r1/_manifest.json"]


def test_a_single_file_is_its_path_checksum_and_size_and_a_subject_has_none() -> None:
    client = _FakeClient({})
    manifests = _Manifests(client, {})  # type: ignore[arg-type]
    problems: list[str] = []
    sha = "a" * 64
    path = "raw/basel/r1/sub/anat.nii"
    assert _files("v", ResourceType.VOLUME, [path], sha, 9, manifests, problems) == [
        {"path": path, "sha256": sha, "size": 9}
    ]
    assert _files(S1, ResourceType.SUBJECT, [], None, None, manifests, problems) == []
    assert problems == [] and client.reads == []


def test_files_that_do_not_match_their_resource_are_problems() -> None:
    members = {"a.dcm": b"a", "b.dcm": b"b"}
    client = _FakeClient({"raw/basel/r1/_manifest.json": _manifest(members)})
    manifests = _Manifests(client, {})  # type: ignore[arg-type]
    problems: list[str] = []
    paths = ["raw/basel/r1/a.dcm", "raw/basel/r1/b.dcm"]
    _files("x", ResourceType.DICOM_SERIES, paths, "0" * 64, 3, manifests, problems)
    _files("y", ResourceType.DICOM_SERIES, ["raw/basel/r1/c.dcm"], None, 1, manifests, problems)
    _files("z", ResourceType.DICOM_SERIES, ["raw/basel/r2/a.dcm"], None, 1, manifests, problems)
    _files("w", ResourceType.DICOM_SERIES, ["elsewhere/a.dcm"], None, 1, manifests, problems)
    assert problems == [
        "resource x: its size_bytes 3 is not the sum of its files' sizes in the manifests",
        "resource x: its checksum is not that of its instances in the manifests",
        "resource y: raw/basel/r1/_manifest.json does not list c.dcm",
        "resource z: raw/basel/r2/_manifest.json does not exist at the commit",
        "resource w: elsewhere/a.dcm is not under raw/<source>/<run>/",
    ]


def test_a_lock_replaces_only_a_folder_that_holds_a_lock(tmp_path: Path) -> None:
    target = tmp_path / "lock"
    first = tmp_path / ".work1"
    first.mkdir()
    (first / LOCK_FILE).write_text("{}")
    (first / "resources.old.jsonl").write_text("")
    _place(first, target)
    assert sorted(p.name for p in target.iterdir()) == [LOCK_FILE, "resources.old.jsonl"]
    second = tmp_path / ".work2"
    second.mkdir()
    (second / "resources.new.jsonl").write_text("")
    _place(second, target)
    # the earlier lock's split files do not survive
    assert [p.name for p in target.iterdir()] == ["resources.new.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]
    (target / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="holds files that are not a lock's"):
        _check_destination(target)
