"""lakeFS through vxp's gateway: embedded stack (local KV + disk) and full stack (PG + MinIO).

What the gateway does not offer (the repository record, protection rules, revert) is asked of
lakeFS's HTTP API directly, so those checks do not depend on the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import Stack, s3_client
from vxp.core.errors import Forbidden, InvalidInput
from vxp.domain.repositories import create_repository
from vxp.lakefs import LakeFSForbidden

pytestmark = pytest.mark.integration


def lakefs_api(stack: Stack) -> httpx.Client:
    """lakeFS's own API with the installation's keys, as any HTTP client would call it."""
    settings = stack.settings
    return httpx.Client(
        base_url=settings.lakefs_endpoint + "/api/v1",
        auth=(settings.lakefs_access_key_id, settings.lakefs_secret_access_key.reveal()),
        timeout=30,
    )


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with lakefs_api(stack) as client:
        yield client


def test_repository_has_protected_layer_branches(
    stack: Stack, repo_name: str, api: httpx.Client
) -> None:
    session = stack.session()
    repo = create_repository(session, repo_name, stack.settings.storage_namespace_prefix)
    assert repo.name == repo_name
    assert set(repo.heads) == {"source", "integration"}
    assert all(repo.heads.values())
    record = api.get(f"/repositories/{repo_name}").raise_for_status().json()
    assert record["default_branch"] == "integration"
    assert set(session.branch_heads(repo_name)) == {"source", "integration"}
    rules = api.get(f"/repositories/{repo_name}/settings/branch_protection").raise_for_status()
    assert {r["pattern"] for r in rules.json()} == {"source", "integration"}
    # merge-only: a direct write to a layer branch is refused by lakeFS itself
    with pytest.raises(LakeFSForbidden) as refused:
        session.upload_object(repo_name, "source", "raw/x.csv", b"a,b\n1,2\n")
    assert isinstance(refused.value, Forbidden) and refused.value.status == 403
    assert session.stat_object(repo_name, "source", "raw/x.csv") is None


def test_invalid_repository_name_is_refused_before_lakefs(stack: Stack) -> None:
    with pytest.raises(InvalidInput, match="invalid repository name 'Bad_Name'"):
        create_repository(stack.session(), "Bad_Name", stack.settings.storage_namespace_prefix)
    assert "Bad_Name" not in set(stack.session().list_repositories())


def test_branch_commit_merge_revert(stack: Stack, repo_name: str, api: httpx.Client) -> None:
    session = stack.session()
    create_repository(session, repo_name, stack.settings.storage_namespace_prefix)

    session.create_branch(repo_name, "ingest-a-1", "source")
    session.upload_object(repo_name, "ingest-a-1", "raw/a.csv", b"id\n1\n")
    first = session.commit_details(repo_name, "ingest-a-1", "add a", {"run": "1"})
    assert first.metadata == {"run": "1"}
    assert session.get_commit(repo_name, first.id) == first
    # not visible on source before the merge
    assert session.stat_object(repo_name, "source", "raw/a.csv") is None
    merged = session.merge(repo_name, "ingest-a-1", "source", "merge a", {})
    assert merged == session.branch_head(repo_name, "source")
    stats = session.stat_object(repo_name, "source", "raw/a.csv")
    assert stats is not None and stats.size_bytes == 5

    # revert on an unprotected branch: the file goes away, history keeps it
    session.create_branch(repo_name, "exp-1", "source")
    session.upload_object(repo_name, "exp-1", "raw/b.csv", b"id\n2\n")
    second = session.commit(repo_name, "exp-1", "add b", {})
    api.post(
        f"/repositories/{repo_name}/branches/exp-1/revert",
        json={"ref": second, "parent_number": 0},
    ).raise_for_status()
    assert session.stat_object(repo_name, "exp-1", "raw/b.csv") is None
    kept = session.stat_object(repo_name, second, "raw/b.csv")
    assert kept is not None and kept.size_bytes == 5
    assert session.get_object(repo_name, second, "raw/b.csv") == b"id\n2\n"


def test_full_stack_keeps_lakefs_state_in_postgres_and_data_in_minio(
    full: Stack, repo_name: str
) -> None:
    import psycopg

    session = full.session()
    assert full.settings.storage_namespace_prefix == "s3://vxp-lakefs/"
    create_repository(session, repo_name, full.settings.storage_namespace_prefix)
    with lakefs_api(full) as api:
        record = api.get(f"/repositories/{repo_name}").raise_for_status().json()
    assert record["storage_namespace"] == f"s3://vxp-lakefs/{repo_name}"
    session.create_branch(repo_name, "ingest-x-1", "source")
    session.upload_object(repo_name, "ingest-x-1", "raw/x.bin", b"\x00" * 1024)
    session.commit(repo_name, "ingest-x-1", "x", {})

    assert full.settings.postgres_dsn is not None
    with psycopg.connect(full.settings.postgres_dsn.reveal()) as conn:
        partitions = conn.execute(
            "SELECT count(*) FROM kv WHERE key LIKE %s", (f"%{repo_name}%",)
        ).fetchone()
    assert partitions is not None and partitions[0] > 0

    s3 = s3_client(full)
    listed = s3.list_objects_v2(Bucket="vxp-lakefs", Prefix=f"{repo_name}/")
    assert listed["KeyCount"] > 0
