"""Schema compatibility by Iceberg field ID: drops, renames, narrowing; widening is fine."""

from __future__ import annotations

from pyiceberg.schema import Schema
from pyiceberg.types import DecimalType, IntegerType, LongType, NestedField, StringType

from vxp.checks.schema import breaks

BEFORE = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "age", IntegerType(), required=False),
    NestedField(3, "name", StringType(), required=False),
    NestedField(4, "dose", DecimalType(8, 2), required=False),
)


def test_adding_a_column_and_widening_types_break_nothing() -> None:
    after = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "age", LongType(), required=False),
        NestedField(3, "name", StringType(), required=False),
        NestedField(4, "dose", DecimalType(10, 2), required=False),
        NestedField(5, "site", StringType(), required=False),
    )
    assert breaks(BEFORE, after) == []


def test_drop_rename_narrow_and_required_are_each_named() -> None:
    after = Schema(
        NestedField(1, "id", IntegerType(), required=True),
        NestedField(2, "age_years", IntegerType(), required=False),
        NestedField(4, "dose", DecimalType(8, 2), required=True),
        NestedField(5, "name", StringType(), required=False),
    )
    assert breaks(BEFORE, after) == [
        "column id narrows from long to int",
        "column age is renamed to age_years",
        "column name (string) is dropped",
        "column dose becomes required (it was optional)",
    ]
