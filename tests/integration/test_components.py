"""Each component of the full stack answers on its real protocol."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest

from tests.support import Stack, s3_client
from vxp.domain.engines import duckdb as duck

pytestmark = pytest.mark.integration


def test_minio_put_get(full: Stack) -> None:
    s3 = s3_client(full)
    key = f"tests/{uuid.uuid4().hex}.txt"
    s3.put_object(Bucket="vxp-warehouse", Key=key, Body=b"hello minio")
    assert s3.get_object(Bucket="vxp-warehouse", Key=key)["Body"].read() == b"hello minio"


def test_trino_answers_a_query(full: Stack) -> None:
    import trino

    # a plain Trino client, given nothing but the URL `vxp env` prints (VXP_TRINO_URL)
    assert full.settings.trino_url is not None
    url = urlsplit(full.settings.trino_url)
    assert url.scheme == "http" and url.hostname and url.port
    conn = trino.dbapi.connect(host=url.hostname, port=url.port, user="vxp-tests")
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM system.runtime.nodes WHERE state = 'active'")
    assert cur.fetchall() == [[1]]
    cur.execute("SELECT 6 * 7")
    assert cur.fetchall() == [[42]]


def test_postgres_answers(full: Stack) -> None:
    import psycopg

    assert full.settings.postgres_dsn is not None
    with psycopg.connect(full.settings.postgres_dsn.reveal()) as conn:
        row = conn.execute("SELECT current_database(), version()").fetchone()
    assert row is not None and row[0] == "lakefs" and "PostgreSQL" in row[1]


def test_duckdb_loads_extensions_offline(embedded: Stack) -> None:
    conn = duck.connect(embedded.home.cache)
    loaded = dict(
        conn.execute(
            "SELECT extension_name, install_path FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    )
    for name in duck.EXTENSIONS:
        assert loaded[name].startswith(str(embedded.home.cache)), loaded[name]
    assert conn.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone() == (
        False,
    )


def test_duckdb_reads_minio_with_the_env_secret(full: Stack) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"x": list(range(10))})
    path = f"/tmp/{uuid.uuid4().hex}.parquet"
    pq.write_table(table, path)
    s3 = s3_client(full)
    key = f"tests/{uuid.uuid4().hex}.parquet"
    s3.upload_file(path, "vxp-warehouse", key)
    conn = duck.connect(full.home.cache)
    access = full.settings.s3
    assert access is not None
    conn.execute(
        duck.s3_secret_sql(
            "minio",
            key_id=access.access_key_id,
            secret=access.secret_access_key.reveal(),
            endpoint=access.endpoint,
        )
    )
    total = conn.execute("SELECT sum(x) FROM read_parquet($p)", {"p": f"s3://vxp-warehouse/{key}"})
    assert total.fetchone() == (45,)
