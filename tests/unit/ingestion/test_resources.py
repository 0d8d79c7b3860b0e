"""The resource model: ids, member checksums, rows, and SCD-2 planning of vxp.resources."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from vxp.ingestion.resources import (
    RESOURCE_SCHEMA,
    RESOURCES_SCHEMA,
    InvalidId,
    Resource,
    ResourceType,
    decode_segment,
    dicom_series_id,
    dicom_study_id,
    document_id,
    encode_segment,
    file_id,
    in_scope,
    member_checksum,
    parent_of_id,
    parse_id,
    plan_resources,
    subject_id,
    trial_id,
    type_of_id,
    visit_id,
    volume_id,
)
from vxp.ingestion.scd2 import SCD2_COLUMNS, apply_scd2, plan_scd2, with_scd2

T1 = datetime(2025, 1, 1, tzinfo=UTC)
T2 = datetime(2025, 2, 1, tzinfo=UTC)
T3 = datetime(2025, 3, 1, tzinfo=UTC)
SHA_A = hashlib.sha256(b"a").hexdigest()
SHA_B = hashlib.sha256(b"b").hexdigest()


def test_id_builders_follow_the_design_paths() -> None:
    subject = subject_id("basel", "001")
    study = dicom_study_id(subject, "1.2.3")
    assert trial_id("basel") == "trial/basel"
    assert subject == "trial/basel/subject/001"
    assert visit_id(subject, 2) == "trial/basel/subject/001/visit/2"
    assert study == "trial/basel/subject/001/dicom-study/1.2.3"
    assert dicom_series_id(study, "1.2.3.4") == f"{study}/dicom-series/1.2.3.4"
    assert volume_id(subject, "anat/T1w.nii.gz") == f"{subject}/volume/anat%2FT1w.nii.gz"
    assert document_id("trial/basel", "r.pdf") == "trial/basel/document/r.pdf"
    assert file_id("trial/basel", "a%b/c") == "trial/basel/file/a%25b%2Fc"


@pytest.mark.parametrize("name", ["a/b%2F/c%", "%2F", "plain", "ünïcode/ok"])
def test_encoded_segments_read_back(name: str) -> None:
    segment = encode_segment(name)
    assert "/" not in segment
    assert decode_segment(segment) == name


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "tab\there", "nul\x00", "c1\x85"])
def test_bad_segments_are_refused(bad: str) -> None:
    with pytest.raises(InvalidId):
        subject_id("basel", bad)


@pytest.mark.parametrize(
    "bad",
    [
        "subject/1",
        "trial",
        "trial/a/subject",
        "trial/a/trial/b",
        "trial/a/dicom-series/1",
        "trial/a/volume/x/subject/1",
        "trial/a/bogus/1",
        "trial/a/subject/..",
    ],
)
def test_ids_out_of_grammar_are_refused(bad: str) -> None:
    with pytest.raises(InvalidId):
        parse_id(bad)


def test_parse_type_and_parent_of_an_id() -> None:
    series = "trial/s/subject/1/dicom-study/1.2/dicom-series/1.2.3"
    assert parse_id(series)[-1] == ("dicom-series", "1.2.3")
    assert type_of_id(series) is ResourceType.DICOM_SERIES
    assert parent_of_id(series) == "trial/s/subject/1/dicom-study/1.2"
    assert parent_of_id("trial/s") is None


def test_member_checksum_encoding_is_hex_lines() -> None:
    expected = hashlib.sha256(f"{SHA_A}\n{SHA_B}\n".encode()).hexdigest()
    assert member_checksum([SHA_A, SHA_B]) == expected
    assert member_checksum([SHA_B, SHA_A]) != expected  # order is part of the contract
    assert member_checksum([]) == hashlib.sha256(b"").hexdigest()
    with pytest.raises(ValueError, match="not a lowercase hex"):
        member_checksum([SHA_A.upper()])


def _file(name: str, checksum: str = SHA_A, **attributes: object) -> Resource:
    return Resource(
        id=file_id("trial/s", name),
        type=ResourceType.FILE,
        parent_id="trial/s",
        source="s",
        attributes=attributes,
        paths=(f"raw/s/r1/{name}",),
        checksum=checksum,
        size_bytes=1,
    )


def test_resource_row_round_trip_and_canonical_attributes() -> None:
    resource = _file("x.bin", b=[1, 2], a={"z": "ü"})
    row = resource.to_row()
    assert row["attributes"] == '{"a":{"z":"ü"},"b":[1,2]}'
    assert row["type"] == "File"
    assert Resource.from_row(row) == resource
    table = pa.Table.from_pylist([row], schema=RESOURCE_SCHEMA)
    assert Resource.from_row(table.to_pylist()[0]) == resource


def test_resource_checks_type_parent_source_and_values() -> None:
    with pytest.raises(InvalidId, match="not of type"):
        Resource("trial/s/file/x", ResourceType.VOLUME, "trial/s", "s")
    with pytest.raises(InvalidId, match="has parent"):
        Resource("trial/s/file/x", ResourceType.FILE, None, "s")
    with pytest.raises(InvalidId, match="not of source"):
        Resource("trial/s/file/x", ResourceType.FILE, "trial/s", "t")
    with pytest.raises(ValueError, match="checksum"):
        Resource("trial/s/file/x", ResourceType.FILE, "trial/s", "s", checksum="abc")
    with pytest.raises(ValueError):
        Resource("trial/s/file/x", ResourceType.FILE, "trial/s", "s", {"v": float("nan")})


def test_resources_schema_has_the_scd2_columns() -> None:
    assert RESOURCES_SCHEMA.names == [*RESOURCE_SCHEMA.names, *SCD2_COLUMNS]
    assert RESOURCES_SCHEMA.field("paths").type == pa.list_(
        pa.field("element", pa.string(), nullable=False)
    )
    assert RESOURCES_SCHEMA.field("valid_to").nullable
    with pytest.raises(ValueError, match="reserved"):
        with_scd2(RESOURCES_SCHEMA)


def _empty() -> pa.Table:
    return RESOURCES_SCHEMA.empty_table()


def test_first_run_opens_version_one_and_rerun_changes_nothing() -> None:
    resources = [_file("a"), _file("b")]
    plan = plan_resources(_empty(), resources, run_id="r1", at=T1, full=True)
    assert (plan.inserted, plan.updated, plan.deleted) == (2, 0, 0)
    assert plan.close.num_rows == 0
    opened = plan.open.to_pylist()
    assert [r["version"] for r in opened] == [1, 1]
    assert all(r["is_current"] and not r["is_deleted"] and r["valid_to"] is None for r in opened)
    assert {r["run_id"] for r in opened} == {"r1"}
    history = apply_scd2(_empty(), plan, key=["id"])

    again = plan_resources(history, resources, run_id="r2", at=T2, full=True)
    assert again.is_empty
    assert again.unchanged == 2


def test_changed_resource_closes_old_and_opens_next_version() -> None:
    history = apply_scd2(
        _empty(), plan_resources(_empty(), [_file("a")], run_id="r1", at=T1, full=True), key=["id"]
    )
    plan = plan_resources(history, [_file("a", SHA_B)], run_id="r2", at=T2, full=True)
    assert (plan.updated, plan.close.num_rows, plan.open.num_rows) == (1, 1, 1)
    closed = plan.close.to_pylist()[0]
    assert closed["version"] == 1 and closed["valid_to"] == T2
    assert not closed["is_current"] and not closed["is_deleted"]
    assert plan.open.to_pylist()[0]["version"] == 2
    after = apply_scd2(history, plan, key=["id"])
    assert after.num_rows == 2
    assert [r["checksum"] for r in after.to_pylist() if r["is_current"]] == [SHA_B]


def test_missing_resource_deleted_only_in_a_full_delivery_and_may_come_back() -> None:
    history = apply_scd2(
        _empty(),
        plan_resources(_empty(), [_file("a"), _file("b")], run_id="r1", at=T1, full=True),
        key=["id"],
    )
    partial = plan_resources(history, [_file("a")], run_id="r2", at=T2, full=False)
    assert partial.is_empty
    full = plan_resources(history, [_file("a")], run_id="r2", at=T2, full=True)
    assert full.deleted == 1
    gone = full.close.to_pylist()[0]
    assert gone["id"] == "trial/s/file/b" and gone["is_deleted"] and not gone["is_current"]
    history = apply_scd2(history, full, key=["id"])
    assert sum(r["is_current"] for r in history.to_pylist()) == 1

    back = plan_resources(history, [_file("a"), _file("b")], run_id="r3", at=T3, full=True)
    assert back.inserted == 1
    assert back.open.to_pylist()[0]["version"] == 2  # (id, version) is never reused


def test_scd2_planner_is_generic_over_key_columns() -> None:
    history = with_scd2(pa.schema([("site", pa.string()), ("n", pa.int64()), ("v", pa.float64())]))
    incoming = pa.table({"site": ["a", "a"], "n": [1, 2], "v": [float("nan"), 1.0]})
    first = plan_scd2(
        history.empty_table(), incoming, key=["site", "n"], run_id="r1", at=T1, full=True
    )
    table = apply_scd2(history.empty_table(), first, key=["site", "n"])
    # NaN compares equal to NaN: no spurious new version
    assert plan_scd2(table, incoming, key=["site", "n"], run_id="r2", at=T2, full=True).is_empty


def test_scd2_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="timezone"):
        plan_resources(_empty(), [], run_id="r", at=datetime(2025, 1, 1), full=True)
    with pytest.raises(ValueError, match="two resources"):
        plan_resources(_empty(), [_file("a"), _file("a")], run_id="r", at=T1, full=True)
    history = RESOURCES_SCHEMA.empty_table()
    with pytest.raises(ValueError, match="SCD-2 columns"):
        plan_scd2(history, history, key=["id"], run_id="r", at=T1, full=True)


def test_in_scope_keeps_one_source_and_the_given_types() -> None:
    rows = apply_scd2(
        _empty(),
        plan_resources(
            _empty(),
            [_file("a"), Resource("trial/s/subject/1", ResourceType.SUBJECT, "trial/s", "s")],
            run_id="r1",
            at=T1,
            full=True,
        ),
        key=["id"],
    )
    assert in_scope(rows, source="s").num_rows == 2
    assert in_scope(rows, source="s", types=[ResourceType.FILE]).column("id").to_pylist() == [
        "trial/s/file/a"
    ]
    assert in_scope(rows, source="other").num_rows == 0
