"""Pure parts of the Trino engine of the integration step (``vxp.ingestion.trino_integration``):
types, Iceberg widening, literals, and the refusal on a stack without Trino. What Trino makes of
the SQL is tested against the full stack (tests/integration/ingestion/test_trino_engine.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa
import pytest

from vxp.core.errors import InvalidInput, NotFound
from vxp.core.settings import Secret, Settings
from vxp.ingestion.trino_integration import (
    _timestamp,
    _widens,
    natural_key_sql,
    trino_type,
    trino_url,
)


@pytest.mark.parametrize(
    ("arrow", "trino"),
    [
        (pa.string(), "varchar"),
        (pa.int32(), "integer"),
        (pa.int64(), "bigint"),
        (pa.float32(), "real"),
        (pa.float64(), "double"),
        (pa.bool_(), "boolean"),
        (pa.date32(), "date"),
        (pa.time64("us"), "time(6)"),
        (pa.timestamp("us"), "timestamp(6)"),
        (pa.timestamp("us", tz="UTC"), "timestamp(6) with time zone"),
        (pa.decimal128(6, 2), "decimal(6, 2)"),
    ],
)
def test_every_study_type_has_its_trino_type(arrow: pa.DataType, trino: str) -> None:
    assert trino_type(arrow) == trino


def test_a_type_studies_do_not_produce_is_refused() -> None:
    with pytest.raises(InvalidInput, match="cannot integrate a column of type"):
        trino_type(pa.list_(pa.int64()))


def test_widening_follows_iceberg_promotions() -> None:
    assert _widens("integer", "bigint")
    assert _widens("real", "double")
    assert _widens("decimal(6, 2)", "decimal(9, 2)")
    assert not _widens("decimal(6, 2)", "decimal(9, 3)")  # the scale never changes
    assert not _widens("bigint", "integer")
    assert not _widens("varchar", "bigint")
    assert not _widens("bigint", "bigint")


def test_the_run_time_is_a_utc_microsecond_literal() -> None:
    at = dt.datetime(2026, 11, 30, 23, 40, 35, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert _timestamp(at) == "TIMESTAMP '2026-11-30 22:40:35.123456 UTC'"


def test_a_natural_key_is_a_json_array_of_its_parts() -> None:
    schema = pa.schema([("usubjid", pa.string()), ("visitnum", pa.int32())])
    sql = natural_key_sql("i", ["usubjid", "visitnum"], schema)
    assert sql.startswith("'[' || json_format(CAST(CAST(i.\"usubjid\" AS varchar) AS JSON))")
    assert 'CAST(i."visitnum" AS varchar)' in sql
    assert sql.endswith(" || ']'")


def test_no_trino_is_refused_with_a_hint() -> None:
    settings = Settings("http://127.0.0.1:8000", "key", Secret("secret"))
    with pytest.raises(NotFound, match="--engine trino needs Trino") as raised:
        trino_url(dataclasses.replace(settings, trino_url=None))
    assert "vxp up --stack full" in (raised.value.hint or "")
    assert trino_url(dataclasses.replace(settings, trino_url="http://t:8080")) == "http://t:8080"


def test_trino_errors_become_vxp_errors() -> None:
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from trino.exceptions import Http503Error, TrinoQueryError

    from vxp.core.errors import Unavailable, VxpError
    from vxp.ingestion.trino_integration import _Trino

    session = object.__new__(_Trino)  # no connection: only the error mapping is tested
    session.url, session.catalog = "http://127.0.0.1:8080", "vxp_ingest_c_x_0123456789"
    refused = TrinoQueryError(
        {"message": "line 1:1: Table 'vxp_ingest_c_x_0123456789.basel.dm' does not exist"}
    )
    error = session._error(refused, "MERGE INTO basel.dm …")
    assert type(error) is VxpError
    assert "Table 'basel.dm' does not exist" in error.message
    assert "MERGE INTO basel.dm" in (error.hint or "")
    for gone in (Http503Error("busy"), RequestsConnectionError("refused")):
        assert isinstance(session._error(gone, "SELECT 1"), Unavailable)
