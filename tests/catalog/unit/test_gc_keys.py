"""gc's file keys and durations: a reference and a listing of the same file must agree."""

from __future__ import annotations

from datetime import timedelta

import pytest

from vxp.catalog.gc import GcError, Warehouse, file_key, parse_duration


@pytest.mark.parametrize(
    "spelling",
    [
        "file:///w/r/t/data/a.parquet",
        "file:/w/r/t/data/a.parquet",
        "file://localhost/w/r/t/data/a.parquet",
        "/w/r/t/data/a.parquet",
        "file:///w//r/./t/data/a.parquet",
    ],
)
def test_local_spellings_of_one_file_share_a_key(spelling: str) -> None:
    assert file_key(spelling) == "file:///w/r/t/data/a.parquet"


@pytest.mark.parametrize("scheme", ["s3", "s3a", "s3n", "S3"])
def test_s3_scheme_aliases_share_a_key(scheme: str) -> None:
    assert file_key(f"{scheme}://bucket/r/a.parquet") == "s3://bucket/r/a.parquet"


def test_object_keys_are_taken_literally() -> None:
    # S3 keys are not paths: "a//b", "%20" and "#" are part of the key
    for key in ("r//a.parquet", "r/a%20b.parquet", "r/a#1.parquet", "r/./a"):
        assert file_key(f"s3://bucket/{key}") == f"s3://bucket/{key}"


def test_repo_prefix_does_not_cover_a_longer_repository_name() -> None:
    warehouse = Warehouse("file:///w/warehouse/")
    prefix = warehouse.repo_prefix("clinical")
    assert prefix == "file:///w/warehouse/clinical/"
    assert not file_key("file:///w/warehouse/clinical-old/a").startswith(prefix)
    assert Warehouse("s3://vxp-warehouse").repo_prefix("clinical") == "s3://vxp-warehouse/clinical/"


def test_warehouse_root_must_be_file_or_s3() -> None:
    with pytest.raises(GcError):
        Warehouse("/relative/or/bare/path")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", timedelta(0)),
        ("90m", timedelta(minutes=90)),
        ("36h", timedelta(hours=36)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1D ", timedelta(days=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "-1h", "1.5h", "1h 30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_allowed_locations_extend_what_the_warehouse_holds() -> None:
    warehouse = Warehouse("file:///w/warehouse", allowed_locations=("file:/tmp", "s3a://scratch/"))
    for inside in (
        "file:///w/warehouse/r/t/metadata/00000-a.metadata.json",
        "file:/tmp/ns/t/metadata/00000-a.metadata.json",
        "file://localhost/tmp/m.json",
        "s3://scratch/t/m.json",
    ):
        assert warehouse.holds(inside), inside
    for outside in ("file:///tmpx/m.json", "file:///w/warehousex/m.json", "s3://scratchy/m.json"):
        assert not warehouse.holds(outside), outside
    with pytest.raises(GcError, match="allowed location"):
        Warehouse("file:///w", allowed_locations=("tmp",))
