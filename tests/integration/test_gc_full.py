"""``vxp gc`` on the full stack: tables on MinIO, the CLI as a user runs it (invariant 4)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest

from tests.support import Stack, catalog, s3_client
from vxp.core.settings import Key
from vxp.domain.repositories import create_repository
from vxp.services.minio import WAREHOUSE_BUCKET

pytestmark = [pytest.mark.integration, pytest.mark.full]

ARROW = pa.schema([("id", pa.int64())])


def ids(values: list[int]) -> pa.Table:
    return pa.table({"id": values}, schema=ARROW)


def vxp_gc(full: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    # what a user's shell holds after `eval "$(vxp env)"`, nothing of the caller's shell
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    env.update({**full.env, "COLUMNS": "300"})
    result = subprocess.run(
        [sys.executable, "-m", "vxp", "gc", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def lakefs(full: Stack) -> Iterator[httpx.Client]:
    settings = full.settings
    with httpx.Client(
        base_url=settings.lakefs_endpoint + "/api/v1",
        auth=(settings.lakefs_access_key_id, settings.lakefs_secret_access_key.reveal()),
        timeout=30,
    ) as client:
        yield client


def test_gc_on_minio_keeps_what_retained_commits_read(
    full: Stack, lakefs: httpx.Client, repo_name: str
) -> None:
    repo, other = repo_name, f"{repo_name}-other"
    create_repository(full.session(), repo, full.settings.storage_namespace_prefix)
    create_repository(full.session(), other, full.settings.storage_namespace_prefix)
    s3 = s3_client(full)

    def keys(prefix: str) -> set[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=WAREHOUSE_BUCKET, Prefix=prefix)
        return {obj["Key"] for page in pages for obj in page.get("Contents", [])}

    def plant(key: str) -> str:
        s3.put_object(Bucket=WAREHOUSE_BUCKET, Key=key, Body=b"not referenced by anything")
        return key

    cat = catalog(full, repo)
    cat.create_namespace(("integration", "trial"))
    lakefs.post(
        f"/repositories/{repo}/branches", json={"name": "work", "source": "integration"}
    ).raise_for_status()
    table = cat.create_table(("work", "trial", "t"), schema=ARROW)
    table.append(ids([1, 2, 3]))
    lakefs.post(f"/repositories/{repo}/tags", json={"id": "v1", "ref": "work"}).raise_for_status()
    table.overwrite(ids([9]))
    prefix = f"s3://{WAREHOUSE_BUCKET}/"
    table_prefix = table.location().removeprefix(prefix) + "/"

    lakefs.post(
        f"/repositories/{repo}/branches", json={"name": "scratch", "source": "work"}
    ).raise_for_status()
    scratch = cat.create_table(("scratch", "trial", "tmp"), schema=ARROW)
    scratch.append(ids([7]))
    lakefs.delete(f"/repositories/{repo}/branches/scratch").raise_for_status()
    cat.purge_table(("work", "trial", "t"))

    orphans = {
        plant(f"{table_prefix}data/orphan.parquet"),
        plant(f"{repo}/trial/gone-{uuid.uuid4().hex}/metadata/00000-x.metadata.json"),
    }
    scratch_keys = keys(scratch.location().removeprefix(prefix) + "/")
    assert scratch_keys
    foreign = {plant(f"{other}/trial/orphan.parquet"), plant(f"{repo}x/orphan.parquet")}
    before = keys(f"{repo}/")

    dry = vxp_gc(full, "--repo", repo, "--dry-run", "--older-than", "0s")
    assert f"{len(orphans | scratch_keys)} files" in dry.stdout
    assert keys(f"{repo}/") == before

    vxp_gc(full, "--repo", repo, "--older-than", "0s")
    assert before - keys(f"{repo}/") == orphans | scratch_keys
    assert all(keys(key) for key in foreign)

    at_tag = catalog(full, f"{repo}.v1").load_table("trial.t")
    assert sorted(at_tag.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
    # files of the dropped table that retained commits read are all still there
    assert keys(table_prefix) == {k for k in before if k.startswith(table_prefix)} - orphans

    # a fresh file survives any age margin above its age
    fresh = plant(f"{repo}/trial/in-flight-{uuid.uuid4().hex}.parquet")
    vxp_gc(full, "--repo", repo, "--older-than", "1h")
    assert keys(fresh)
