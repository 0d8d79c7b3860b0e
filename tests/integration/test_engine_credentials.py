"""Full stack: engines get MinIO keys limited to the warehouse, unable to delete, never the root
user's (issue "Catalog security", deliverable 7; docs/explainers/catalog-security.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import httpx
import pyarrow as pa
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support import Stack, catalog
from vxp.domain.repositories import create_repository
from vxp.services.lakefs import BUCKET as LAKEFS_BUCKET
from vxp.services.minio import WAREHOUSE_BUCKET, MinIO

pytestmark = [pytest.mark.integration, pytest.mark.full]

ARROW = pa.schema([("id", pa.int64())])


@pytest.fixture
def catalog_http(full: Stack) -> Iterator[httpx.Client]:
    """The catalog's REST API with a bearer token for the installation's lakeFS key pair."""
    settings = full.settings
    assert settings.catalog_uri is not None
    with httpx.Client(base_url=settings.catalog_uri, timeout=30) as client:
        token = client.post(
            "/v1/oauth/tokens",
            data={
                "grant_type": "client_credentials",
                "client_id": settings.lakefs_access_key_id,
                "client_secret": settings.lakefs_secret_access_key.reveal(),
                "scope": "catalog",
            },
        )
        token.raise_for_status()
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


def _status(error: pytest.ExceptionInfo[ClientError]) -> int:
    return int(error.value.response["ResponseMetadata"]["HTTPStatusCode"])


def test_engines_get_keys_that_write_the_warehouse_and_cannot_delete(
    full: Stack, catalog_http: httpx.Client, repo_name: str
) -> None:
    create_repository(full.session(), repo_name, full.settings.storage_namespace_prefix)
    cat = catalog(full, f"{repo_name}.integration")
    cat.create_namespace("trial")
    # pyiceberg writes its data files with the keys loadTable hands out
    table = cat.create_table("trial.t", schema=ARROW)
    table.append(pa.table({"id": [1, 2]}, schema=ARROW))

    loaded = catalog_http.get(f"/v1/{repo_name}.integration/namespaces/trial/tables/t")
    assert loaded.status_code == 200, loaded.text
    config = loaded.json()["config"]
    root = full.settings.s3
    assert root is not None
    assert config["s3.access-key-id"] != root.access_key_id
    assert config["s3.secret-access-key"] != root.secret_access_key.reveal()

    s3 = boto3.client(
        "s3",
        endpoint_url=config.get("s3.endpoint", root.endpoint),
        aws_access_key_id=config["s3.access-key-id"],
        aws_secret_access_key=config["s3.secret-access-key"],
        region_name=root.region,
        config=Config(s3={"addressing_style": "path"}),
    )
    # a put in the warehouse works, and reads back
    key = f"{repo_name}/probe-{uuid.uuid4().hex}.bin"
    s3.put_object(Bucket=WAREHOUSE_BUCKET, Key=key, Body=b"probe")
    assert s3.get_object(Bucket=WAREHOUSE_BUCKET, Key=key)["Body"].read() == b"probe"
    # the table's own files can be read and listed
    prefix = table.location().removeprefix(f"s3://{WAREHOUSE_BUCKET}/")
    listed = s3.list_objects_v2(Bucket=WAREHOUSE_BUCKET, Prefix=prefix)
    assert listed.get("KeyCount", 0) > 0

    # a delete is refused, one key or many
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=WAREHOUSE_BUCKET, Key=key)
    assert _status(refused) == 403
    answer = s3.delete_objects(Bucket=WAREHOUSE_BUCKET, Delete={"Objects": [{"Key": key}]})
    assert [e.get("Code") for e in answer.get("Errors", [])] == ["AccessDenied"]
    assert s3.get_object(Bucket=WAREHOUSE_BUCKET, Key=key)["Body"].read() == b"probe"

    # outside the warehouse bucket (lakeFS's storage) nothing can be read, listed or written
    lakefs_key = f"{repo_name}/_lakefs/probe"
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=LAKEFS_BUCKET, Key=lakefs_key)
    assert _status(refused) == 403
    with pytest.raises(ClientError) as refused:
        s3.list_objects_v2(Bucket=LAKEFS_BUCKET)
    assert _status(refused) == 403
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=LAKEFS_BUCKET, Key=lakefs_key, Body=b"x")
    assert _status(refused) == 403

    # `vxp up` again (the catalog's start) makes the user again without failing, keys unchanged
    ctx = full.manager._context("full", full.manager._state())
    MinIO().ensure_engines_user(ctx)
    assert s3.get_object(Bucket=WAREHOUSE_BUCKET, Key=key)["Body"].read() == b"probe"
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=WAREHOUSE_BUCKET, Key=key)
    assert _status(refused) == 403
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [1, 2]
