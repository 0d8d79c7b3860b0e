"""Engine plumbing without a stack: names, generated SQL, Trino types, result files."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vxp.cli.sql import SqlFormat, _format
from vxp.core.errors import VxpError
from vxp.domain.engines import duckdb as duck
from vxp.domain.engines import trino
from vxp.domain.engines.common import repository_catalog
from vxp.domain.engines.sql import FileFormat, export, export_bytes


def test_catalog_names() -> None:
    assert repository_catalog("clinical-trials") == "clinical_trials"
    # Trino lower-cases catalog names; branch names are case-sensitive
    names = {trino.ref_catalog("clinical", ref) for ref in ("exp", "Exp", "EXP", "exp.1")}
    assert len(names) == 4
    assert all(n.startswith("vxp_ref_clinical_") and n == n.lower() for n in names)
    commit = "a" * 64
    assert len(trino.ref_catalog("clinical", commit)) < 64


def test_trino_catalog_properties_hold_no_secret() -> None:
    repo_scoped = trino.catalog_properties("clinical")
    assert repo_scoped["iceberg.rest-catalog.nested-namespace-enabled"] == "true"
    ref_scoped = trino.catalog_properties("clinical.v1.0")
    assert ref_scoped["iceberg.rest-catalog.nested-namespace-enabled"] == "false"
    assert ref_scoped["iceberg.rest-catalog.warehouse"] == "clinical.v1.0"
    for key in ("uri", "oauth2.credential"):
        assert repo_scoped[f"iceberg.rest-catalog.{key}"].startswith("${ENV:")
    for key in ("endpoint", "aws-access-key", "aws-secret-key", "region"):
        assert repo_scoped[f"s3.{key}"].startswith("${ENV:")


def test_create_catalog_sql_quotes() -> None:
    statement = trino.create_catalog_sql('we"ird', "it's")
    assert statement.startswith('CREATE CATALOG IF NOT EXISTS "we""ird" USING iceberg WITH (')
    assert "\"iceberg.rest-catalog.warehouse\" = 'it''s'" in statement


def test_duckdb_attach_sql() -> None:
    ref_scoped = duck.attach_warehouse_sql("http://c:1", "clinical.v1", "lake")
    assert ref_scoped == (
        "ATTACH 'clinical.v1' AS lake (TYPE iceberg, SECRET vxp_catalog, ENDPOINT 'http://c:1')"
    )
    repo_scoped = duck.attach_warehouse_sql("http://c:1", "clinical", "clinical")
    assert repo_scoped.endswith(", SUPPORT_NESTED_NAMESPACES true)")


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("bigint", pa.int64()),
        ("varchar(5)", pa.string()),
        ("decimal(10, 2)", pa.decimal128(10, 2)),
        ("timestamp(6)", pa.timestamp("us")),
        ("timestamp(3) with time zone", pa.timestamp("us", tz="UTC")),
        ("array(map(varchar, double))", pa.list_(pa.map_(pa.string(), pa.float64()))),
        (
            'row(a integer, "b c" array(date), integer)',
            pa.struct([("a", pa.int32()), ("b c", pa.list_(pa.date32())), ("field3", pa.int32())]),
        ),
        ("row(at timestamp(3) with time zone)", pa.struct([("at", pa.timestamp("us", "UTC"))])),
        ("interval day to second", None),
        ("array(ipaddress)", None),
    ],
)
def test_trino_types(signature: str, expected: pa.DataType | None) -> None:
    assert trino.arrow_type(signature) == expected


def test_format_choice(tmp_path: Path) -> None:
    assert _format(None, None) is SqlFormat.table
    assert _format(None, tmp_path / "x.Parquet") is SqlFormat.parquet
    with pytest.raises(VxpError, match="suffix"):
        _format(None, tmp_path / "x.txt")
    with pytest.raises(VxpError, match="binary"):
        _format(SqlFormat.parquet, None)
    with pytest.raises(VxpError, match="terminal"):
        _format(SqlFormat.table, tmp_path / "x.csv")


RESULT = pa.table(
    {
        "id": pa.array([1, 2], pa.int64()),
        "amount": pa.array([Decimal("1.50"), None], pa.decimal128(10, 2)),
        "seen": pa.array(
            [dt.datetime(2024, 2, 29, 12, 0, tzinfo=dt.UTC), None], pa.timestamp("us", "UTC")
        ),
        "tags": pa.array([{"a": 1}, {"a": 2}], pa.struct([("a", pa.int32())])),
    }
)


def test_export_formats(tmp_path: Path) -> None:
    assert export_bytes(RESULT, FileFormat.csv).decode().splitlines() == [
        "id,amount,seen,tags",
        "1,1.50,2024-02-29 12:00:00+00,{'a': 1}",
        "2,,,{'a': 2}",
    ]
    assert json.loads(export_bytes(RESULT, FileFormat.json)) == [
        {"id": 1, "amount": 1.5, "seen": "2024-02-29 12:00:00+00", "tags": {"a": 1}},
        {"id": 2, "amount": None, "seen": None, "tags": {"a": 2}},
    ]
    export(RESULT, FileFormat.parquet, tmp_path / "r.parquet")
    assert pq.read_table(tmp_path / "r.parquet").to_pylist() == RESULT.to_pylist()
    with pytest.raises(VxpError, match="no columns"):
        export(pa.table({}), FileFormat.csv, tmp_path / "empty.csv")
