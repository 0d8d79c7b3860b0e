"""The pure parts of materialization: reading lockfiles, the object cache, the BIDS map."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from vxp.core.errors import InvalidInput
from vxp.datasets.cache import ChecksumMismatch, ObjectCache, Placed, remove_partial
from vxp.datasets.materialize.bids import DEFAULT_RULES, BidsMap, _gzip, bids_label
from vxp.datasets.materialize.lockfile import read_lockfiles, split_of, unique_resources
from vxp.ingestion.resources import ResourceType

COMMIT = "c" * 64
SERIES = "trial/basel/subject/BASEL-001/dicom-study/1.2/dicom-series/1.2.3"


def _line(**changes: object) -> str:
    data = b"instance"
    row: dict[str, object] = {
        "id": SERIES,
        "type": "DICOMSeries",
        "version": 1,
        "repository": "clinical",
        "commit": COMMIT,
        "attributes": {"series_description": "T1w"},
        "files": [
            {
                "path": "raw/basel/r1/BASEL-001/T1w/0001.dcm",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
        ],
    }
    row.update(changes)
    return json.dumps(row, sort_keys=True, separators=(",", ":"))


def test_a_lockfile_reads_with_its_split_subject_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "resources.train.jsonl"
    path.write_text(_line() + "\n")
    (lock,) = read_lockfiles([path])
    (resource,) = lock.resources
    assert lock.split == "train" == resource.split
    assert lock.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert resource.type is ResourceType.DICOM_SERIES
    assert resource.subject == "BASEL-001"
    assert resource.ancestor(ResourceType.SUBJECT) == "trial/basel/subject/BASEL-001"
    assert resource.visit is None
    assert resource.files[0].relative_path == "BASEL-001/T1w/0001.dcm"
    assert split_of(Path("renamed.jsonl")) == "renamed"


def test_every_problem_of_every_lockfile_is_reported_with_file_line_and_column(
    tmp_path: Path,
) -> None:
    first = tmp_path / "resources.train.jsonl"
    first.write_text(
        "\n".join(
            [
                _line(),
                "{not json",
                _line(commit="main"),
                _line(type="Volume"),
                _line(files=[{"path": "../x", "sha256": "00", "size": -1}]),
                _line(),
            ]
        )
        + "\n"
    )
    second = tmp_path / "resources.test.jsonl"
    second.write_text(json.dumps({"id": SERIES}) + "\n")
    with pytest.raises(InvalidInput) as caught:
        read_lockfiles([first, second])
    message = caught.value.message
    assert f"{first}:2:2: not JSON" in message
    assert f"{first}:3:" in message and "commit must be a lakeFS commit ID" in message
    assert f"{first}:4:" in message and "names a dicom-series, not a Volume" in message
    assert "files[0].path '../x'" in message
    assert "files[0].sha256 must be 64" in message
    assert "files[0].size must be a non-negative integer" in message
    assert f"{first}:6:" in message and "locked twice (first on line 1)" in message
    assert f"{second}:1:1: missing key(s): type, version, repository, commit" in message


def test_a_lockfile_edited_after_locking_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "resources.train.jsonl"
    path.write_text(_line() + "\n")
    (tmp_path / "dataset.lock.json").write_text(
        json.dumps({"splits": {"train": {"file": path.name, "count": 1, "sha256": "0" * 64}}})
    )
    with pytest.raises(InvalidInput, match="changed after it was locked"):
        read_lockfiles([path])


def test_one_id_pinned_at_two_commits_is_refused_and_equal_lines_are_merged(
    tmp_path: Path,
) -> None:
    a, b, c = (tmp_path / f"resources.{n}.jsonl" for n in ("a", "b", "c"))
    a.write_text(_line() + "\n")
    b.write_text(_line() + "\n")
    c.write_text(_line(commit="d" * 64) + "\n")
    assert len(unique_resources(read_lockfiles([a, b]))) == 1
    with pytest.raises(InvalidInput, match="different versions"):
        unique_resources(read_lockfiles([a, c]))


def test_the_cache_verifies_before_keeping_and_hardlinks_read_only(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "objects")
    data = b"some bytes"
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(ChecksumMismatch, match="the lockfile pins sha256"):
        cache.fill(sha, len(data), lambda f: f.write(b"other bytes"), what="x")
    assert not cache.has(sha, len(data))
    assert not list((tmp_path / "objects" / "tmp").iterdir())
    seen: list[int] = []
    path = cache.fill(sha, len(data), lambda f: f.write(data), what="x", on_bytes=seen.append)
    assert path == tmp_path / "objects" / sha[:2] / sha
    assert seen == [len(data)] and cache.has(sha, len(data))
    assert path.stat().st_mode & 0o777 == 0o444
    out = tmp_path / "out" / "a" / "b.bin"
    assert cache.place(sha, out) is Placed.LINKED
    assert out.read_bytes() == data and out.stat().st_ino == path.stat().st_ino
    assert cache.place(sha, out) is Placed.PRESENT
    copied = tmp_path / "out" / "c.bin"
    assert cache.place(sha, copied, link=False) is Placed.COPIED
    assert cache.place(sha, copied) is Placed.PRESENT
    copied.write_bytes(b"edited")
    assert cache.place(sha, copied) is Placed.LINKED
    assert copied.read_bytes() == data


def test_the_default_bids_rules_read_series_descriptions() -> None:
    rules = BidsMap()

    def suffix(description: str, modality: str = "MR") -> str | None:
        rule = rules.rule_for({"name": description, "modality": modality})
        return rule.suffix if rule else None

    assert suffix("T1w_MPRAGE") == "T1w"
    assert suffix("t2_space") == "T2w"
    assert suffix("T2 FLAIR") == "FLAIR"
    assert suffix("ep2d_diff_dti") == "dwi"
    assert suffix("localizer") is None
    assert suffix("T1w", modality="CT") is None
    volume = BidsMap().rule_for({"relative_path": "sub-01/anat/sub-01_T2w.nii.gz"})
    assert volume is not None and volume.suffix == "T2w"
    assert len(DEFAULT_RULES) > 5


def test_a_bids_map_puts_its_rules_first_and_reports_every_mistake(tmp_path: Path) -> None:
    good = tmp_path / "map.yaml"
    good.write_text(
        "defaults: false\n"
        "rules:\n"
        "  - match: {series_description: '(?i)scout'}\n"
        "    skip: true\n"
        "  - match: {series_description: '(?i)mprage'}\n"
        "    suffix: T1w\n"
        "    acq: mprage\n"
    )
    rules = BidsMap.load(good)
    assert len(rules.rules) == 2
    scout = rules.rule_for({"series_description": "Scout"})
    assert scout is not None and scout.skip
    mprage = rules.rule_for({"series_description": "MPRAGE"})
    assert mprage is not None and mprage.entities == {"acq": "mprage"}
    assert rules.rule_for({"series_description": "T2w", "name": "T2w", "modality": "MR"}) is None

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n"
        "  - match: {series_description: '(unclosed'}\n"
        "    suffix: T1w\n"
        "  - match: {name: x}\n"
        "    suffix: T3w\n"
        "  - match: {name: x}\n"
        "    suffix: bold\n"
        "  - match: {name: x}\n"
        "    suffix: T1w\n"
        "    acq: a-b\n"
        "    colour: red\n"
        "surprise: 1\n"
    )
    with pytest.raises(InvalidInput) as caught:
        BidsMap.load(bad)
    message = caught.value.message
    assert f"{bad}:2:" in message and "not a regular expression" in message
    assert f"{bad}:5:13: suffix 'T3w'" in message
    assert "a bold rule needs a task label" in message
    assert "acq label 'a-b' must be letters and digits only" in message
    assert "unknown key 'colour'" in message
    assert f"{bad}:12:1: unknown key 'surprise'" in message


def test_bids_labels_and_deterministic_gzip() -> None:
    assert bids_label("BASEL-001") == "BASEL001"
    with pytest.raises(InvalidInput):
        bids_label("--")
    data = b"\x00" * 1000 + b"nifti"
    packed = _gzip(data)
    assert packed == _gzip(data)
    assert packed[4:8] == b"\x00\x00\x00\x00"  # mtime 0 (RFC 1952)
    assert packed[3] & 0x08 == 0  # no FNAME
    import gzip

    assert gzip.GzipFile(fileobj=io.BytesIO(packed)).read() == data


def test_leftovers_of_an_interrupted_run_are_removed_and_nothing_else(tmp_path: Path) -> None:
    import os

    stray = tmp_path / "bids" / "sub-1" / f".x.nii.gz.{'a' * 32}.part"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half")
    mine = [tmp_path / "bids" / "x.part", tmp_path / "notes" / ".draft.part"]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("user")
    record = tmp_path / ".vxp" / f".state.{'b' * 32}.part"
    record.parent.mkdir()
    record.write_text("kept: skipped folder")
    assert remove_partial(tmp_path, skip=(".vxp",)) == 1
    assert not stray.exists() and record.exists() and all(p.exists() for p in mine)

    cache = ObjectCache(tmp_path / "objects")
    (cache.root / "tmp").mkdir(parents=True)
    old = cache.root / "tmp" / f".{'c' * 64}.{'d' * 32}.part"
    live = cache.root / "tmp" / f".{'e' * 64}.{'f' * 32}.part"
    old.write_bytes(b"old")
    live.write_bytes(b"being written")
    os.utime(old, (1, 1))
    assert cache.sweep() == 1
    assert not old.exists() and live.exists()
