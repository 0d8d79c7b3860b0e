"""The lockfile format (DESIGN.md "Lockfiles"): canonical lines, split files, a resource's files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from vxp.core.errors import NotFound
from vxp.datasets.lock import (
    LOCK_FILE,
    _check_destination,
    _files_column,
    _lines,
    _place,
    _write,
    canonical_line,
)
from vxp.datasets.recipe import Selection
from vxp.domain.lineage import FileInput
from vxp.ingestion.resources import canonical_json, member_checksum

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
    lines = [canonical_line(_record(id=i, type="Visit")) for i in ids]
    splits = {s.name: s for s in _write(tmp_path, selection, pa.array(ids), lines)}
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

    commit = COMMIT

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


def _files_of(
    client: _FakeClient, rows: list[tuple[str, str, list[str] | None, str | None, int | None]]
) -> tuple[list[list[dict[str, Any]]], list[str], dict[str, FileInput]]:
    """The ``files`` of each row (id, type, paths, checksum, size_bytes), the problems, and the
    manifests read."""
    table = pa.table(
        {
            "id": [r[0] for r in rows],
            "type": [r[1] for r in rows],
            "paths": pa.array([r[2] for r in rows], pa.list_(pa.string())),
            "checksum": pa.array([r[3] for r in rows], pa.string()),
            "size_bytes": pa.array([r[4] for r in rows], pa.int64()),
        }
    )
    problems: list[str] = []
    inputs: dict[str, FileInput] = {}
    column = _files_column(client, table, problems, inputs)  # type: ignore[arg-type]
    files = [] if problems else [json.loads(x) for x in column]
    return files, problems, inputs


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_series_is_its_instances_with_sha256_and_size_from_the_manifest() -> None:
    members = {"sub/mr/1.dcm": b"one", "sub/mr/2.dcm": b"instance two"}
    client = _FakeClient({"raw/basel/r1/_manifest.json": _manifest(members)})
    paths = [f"raw/basel/r1/{p}" for p in members]
    checksum = member_checksum(_sha(b) for b in members.values())
    files, problems, inputs = _files_of(
        client,
        [
            ("s", "DICOMSeries", paths, checksum, 15),
            ("t", "DICOMStudy", paths, "f" * 64, 15),
        ],
    )
    assert problems == []
    expected = [
        {"path": paths[0], "sha256": _sha(b"one"), "size": 3},
        {"path": paths[1], "sha256": _sha(b"instance two"), "size": 12},
    ]
    assert files == [expected, expected]
    # a manifest is read once, and is an input of the lock's lineage
    assert client.reads == ["raw/basel/r1/_manifest.json"]
    assert list(inputs) == ["raw/basel/r1/_manifest.json"]


def test_a_single_file_is_its_path_checksum_and_size_and_a_subject_has_none() -> None:
    client = _FakeClient({})
    path = 'raw/basel/r1/sub "1"/anat\\x.nii'
    files, problems, _ = _files_of(
        client,
        [
            ("v", "Volume", [path], "a" * 64, 9),
            (S1, "Subject", [], None, None),
            (f"{S1}/visit/1", "Visit", None, None, None),
        ],
    )
    assert files == [[{"path": path, "sha256": "a" * 64, "size": 9}], [], []]
    assert problems == [] and client.reads == []


def test_files_that_do_not_match_their_resource_are_problems() -> None:
    members = {"a.dcm": b"a", "b.dcm": b"b"}
    client = _FakeClient({"raw/basel/r1/_manifest.json": _manifest(members)})
    paths = ["raw/basel/r1/a.dcm", "raw/basel/r1/b.dcm"]
    _, problems, _ = _files_of(
        client,
        [
            ("x", "DICOMSeries", paths, "0" * 64, 3),
            ("y", "DICOMSeries", ["raw/basel/r1/c.dcm"], None, 1),
            ("z", "DICOMSeries", ["raw/basel/r2/a.dcm"], None, 1),
            ("w", "DICOMSeries", ["elsewhere/a.dcm"], None, 1),
        ],
    )
    assert sorted(problems) == sorted(
        [
            "resource w: elsewhere/a.dcm is not under raw/<source>/<run>/",
            "raw/basel/r2/_manifest.json does not exist at the commit",
            "resource y: raw/basel/r1/_manifest.json does not list c.dcm",
        ]
    )
    _, problems, _ = _files_of(client, [("x", "DICOMSeries", paths, "0" * 64, 3)])
    assert problems == [
        "resource x: its size_bytes 3 is not the sum of its files' sizes in the manifests",
        "resource x: its checksum is not that of its instances in the manifests",
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


def test_lines_are_assembled_as_canonical_json_would_write_them() -> None:
    members = {'sub "1"/mr/1.dcm': b"one", "sub/mr/2\\x.dcm": b"two"}
    client = _FakeClient({"raw/basel/r1/_manifest.json": _manifest(members)})
    paths = [f"raw/basel/r1/{p}" for p in members]
    sums = [hashlib.sha256(b).hexdigest() for b in members.values()]
    attributes = [
        {"subject": "BASEL-001", "dm.age": 71, "name": 'Zoë "Z"', "weight": 70.5},
        {"modality": "MR", "pixel_spacing": [1.0, 0.5], "echo_time": 1e-07, "n": None},
        {},
        {"relative_path": "docs/a\tb.txt"},
    ]
    rows = pa.table(
        {
            "id": [
                S1,
                f"{S1}/dicom-study/1.2/dicom-series/1.2.3",
                f"{S1}/visit/1",
                "trial/b/file/x",
            ],
            "type": ["Subject", "DICOMSeries", "Visit", "File"],
            "version": [2, 1, 3, 1],
            "attributes": [canonical_json(a) for a in attributes[:2]]
            + [None, canonical_json(attributes[3])],
            "paths": [[], paths, None, ["raw/b/r/x"]],
            "checksum": [None, member_checksum(sums), None, "e" * 64],
            "size_bytes": [None, 6, None, 5],
        }
    )
    problems: list[str] = []
    job = {"repository": "clinical"}
    lines = _lines(client, job, rows, problems, {})  # type: ignore[arg-type]
    assert problems == []
    expected_files = [
        [],
        [{"path": p, "sha256": h, "size": 3} for p, h in zip(paths, sums, strict=True)],
        [],
        [{"path": "raw/b/r/x", "sha256": "e" * 64, "size": 5}],
    ]
    for line, row, attrs, files in zip(
        lines, rows.to_pylist(), attributes, expected_files, strict=True
    ):
        record = {
            "id": row["id"],
            "type": row["type"],
            "version": row["version"],
            "repository": "clinical",
            "commit": COMMIT,
            "attributes": attrs,
            "files": files,
        }
        assert line == canonical_line(record)
