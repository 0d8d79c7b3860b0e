"""The pure parts of the run model that files runs added: identity, manifest, state paths."""

from __future__ import annotations

import hashlib
import json

from vxp.ingestion.files import SubjectRule
from vxp.ingestion.ingest_files import rule_text
from vxp.ingestion.runs import (
    DeliveryManifest,
    ManifestEntry,
    RunNames,
    Stage,
    Transfer,
    bytes_to_send,
    delivery_sha256,
    source_owned,
    state_path,
)

A = ManifestEntry("a.dcm", "a" * 64, 10, "application/dicom")
B = ManifestEntry("b/c.txt", "b" * 64, 5, "text/plain", stored_at="raw/s/run0/b/c.txt")
BAD = ManifestEntry("bad.dcm", "c" * 64, 3)


def test_identity_of_files_alone_is_unchanged_by_the_additions() -> None:
    # the formula study runs have always used: path NUL sha256 LF, in path order
    digest = hashlib.sha256()
    for entry in sorted([A, B], key=lambda e: e.path):
        digest.update(f"{entry.path}\0{entry.sha256}\n".encode())
    assert delivery_sha256([B, A]) == digest.hexdigest()
    assert DeliveryManifest("s", "r", "study", (A, B)).delivery_sha256 == digest.hexdigest()


def test_quarantined_files_and_options_are_part_of_the_identity() -> None:
    plain = delivery_sha256([A])
    assert delivery_sha256([A], quarantined=[BAD]) != plain
    # a file quarantined is not the same delivery as the file landed
    assert delivery_sha256([A], quarantined=[BAD]) != delivery_sha256([A, BAD])
    assert delivery_sha256([A], options={"subject_from": ["dicom"]}) != plain
    assert delivery_sha256([A], options={"x": [1, 2]}) == delivery_sha256(
        [A], options={"x": [1, 2]}
    )
    # stored_at and media types do not change what was delivered
    moved = ManifestEntry(A.path, A.sha256, A.size, "other/type", stored_at="raw/s/r/a.dcm")
    assert delivery_sha256([moved]) == plain


def test_manifest_lists_files_quarantined_and_options() -> None:
    manifest = DeliveryManifest(
        "s",
        "r",
        "files",
        (A, B),
        options={"quarantine": True},
        quarantined=(BAD,),
        identity_options={"subject_from": ["dicom"]},
    )
    body = json.loads(manifest.to_bytes())
    assert body["options"] == {"quarantine": True, "subject_from": ["dicom"]}
    assert [f["path"] for f in body["files"]] == ["a.dcm", "b/c.txt"]
    assert "stored_at" not in body["files"][0]
    assert body["files"][1]["stored_at"] == "raw/s/run0/b/c.txt"
    assert body["quarantined"] == [BAD.to_json()]
    assert body["delivery_sha256"] == manifest.delivery_sha256
    # only what this run uploads: A and the quarantined file, not B (stored earlier)
    assert bytes_to_send(manifest) == A.size + BAD.size


def test_state_paths_per_kind_and_what_the_source_layer_owns() -> None:
    assert state_path("basel", Stage.LANDED) == "_vxp/ingest/basel/landed.json"
    assert state_path("basel", Stage.LANDED, "files") == "_vxp/ingest/basel/files/landed.json"
    assert state_path("basel", Stage.INTEGRATED, "files").endswith("files/integrated.json")
    names = RunNames("basel", "20261130t201905z-1a2b3c")
    assert names.quarantine_prefix == "quarantine/basel/20261130t201905z-1a2b3c/"
    for path in (
        "raw/basel/r/x",
        "quarantine/basel/r/x",
        "_vxp/ingest/basel/landed.json",
        "_vxp/ingest/basel/files/landed.json",
    ):
        assert source_owned("basel", path), path
    for path in (
        "_vxp/ingest/basel/files/integrated.json",
        "quarantine/lyon/r/x",
        "_vxp/catalog/tables/vxp/resources.json",
    ):
        assert not source_owned("basel", path), path


def test_transfer_and_rule_texts() -> None:
    assert Transfer(3, 30, 1, 2).to_json() == {
        "files_sent": 3,
        "bytes_sent": 30,
        "files_already_landed": 1,
        "files_stored_earlier": 2,
    }
    assert rule_text(SubjectRule.parse("dicom")) == "dicom"
    assert rule_text(SubjectRule.parse(r"path:^sub-(\w+)/")) == r"path:^sub-(\w+)/"
