"""lakeFS through lakefs-sdk: embedded stack (local KV + disk) and full stack (PG + MinIO)."""

from __future__ import annotations

import lakefs_sdk
import pytest
from lakefs_sdk.exceptions import ApiException

from tests.support import Stack, s3_client
from vxp.errors import VxpError
from vxp.versioning import create_repository, upload

pytestmark = pytest.mark.integration


def test_repository_has_protected_layer_branches(stack: Stack, repo_name: str) -> None:
    repo = create_repository(stack.settings, repo_name)
    assert repo.default_branch == "integration"
    client = stack.settings.lakefs()
    branches = {b.id for b in lakefs_sdk.BranchesApi(client).list_branches(repo_name).results}
    assert branches == {"source", "integration"}
    rules = lakefs_sdk.RepositoriesApi(client).get_branch_protection_rules(repo_name)
    assert {r.pattern for r in rules} == {"source", "integration"}
    # merge-only: a direct write to a layer branch is refused by lakeFS itself
    with pytest.raises(VxpError, match="could not upload"):
        upload(stack.settings, repo_name, "source", "raw/x.csv", b"a,b\n1,2\n")


def test_invalid_repository_name_is_refused_before_lakefs(stack: Stack) -> None:
    with pytest.raises(VxpError, match="invalid repository name 'Bad_Name'"):
        create_repository(stack.settings, "Bad_Name")


def test_branch_commit_merge_revert(stack: Stack, repo_name: str) -> None:
    create_repository(stack.settings, repo_name)
    client = stack.settings.lakefs()
    branches = lakefs_sdk.BranchesApi(client)
    commits = lakefs_sdk.CommitsApi(client)
    objects = lakefs_sdk.ObjectsApi(client)

    branches.create_branch(repo_name, lakefs_sdk.BranchCreation(name="ingest-a-1", source="source"))
    upload(stack.settings, repo_name, "ingest-a-1", "raw/a.csv", b"id\n1\n")
    first = commits.commit(
        repo_name, "ingest-a-1", lakefs_sdk.CommitCreation(message="add a", metadata={"run": "1"})
    )
    assert first.metadata == {"run": "1"}
    # not visible on source before the merge
    with pytest.raises(ApiException):
        objects.stat_object(repo_name, "source", "raw/a.csv")
    merge = lakefs_sdk.RefsApi(client).merge_into_branch(repo_name, "ingest-a-1", "source")
    assert merge.reference
    assert objects.stat_object(repo_name, "source", "raw/a.csv").size_bytes == 5

    # revert on an unprotected branch: the file goes away, history keeps it
    branches.create_branch(repo_name, lakefs_sdk.BranchCreation(name="exp-1", source="source"))
    upload(stack.settings, repo_name, "exp-1", "raw/b.csv", b"id\n2\n")
    second = commits.commit(repo_name, "exp-1", lakefs_sdk.CommitCreation(message="add b"))
    branches.revert_branch(
        repo_name, "exp-1", lakefs_sdk.RevertCreation(ref=second.id, parent_number=0)
    )
    with pytest.raises(ApiException):
        objects.stat_object(repo_name, "exp-1", "raw/b.csv")
    assert objects.stat_object(repo_name, second.id, "raw/b.csv").size_bytes == 5


def test_full_stack_keeps_lakefs_state_in_postgres_and_data_in_minio(
    full: Stack, repo_name: str
) -> None:
    import psycopg

    repo = create_repository(full.settings, repo_name)
    assert repo.storage_namespace == f"s3://vxp-lakefs/{repo_name}"
    branches = lakefs_sdk.BranchesApi(full.settings.lakefs())
    branches.create_branch(repo_name, lakefs_sdk.BranchCreation(name="ingest-x-1", source="source"))
    upload(full.settings, repo_name, "ingest-x-1", "raw/x.bin", b"\x00" * 1024)
    lakefs_sdk.CommitsApi(full.settings.lakefs()).commit(
        repo_name, "ingest-x-1", lakefs_sdk.CommitCreation(message="x")
    )

    with psycopg.connect(full.env["VXP_POSTGRES_DSN"]) as conn:
        partitions = conn.execute(
            "SELECT count(*) FROM kv WHERE key LIKE %s", (f"%{repo_name}%",)
        ).fetchone()
    assert partitions is not None and partitions[0] > 0

    s3 = s3_client(full)
    listed = s3.list_objects_v2(Bucket="vxp-lakefs", Prefix=f"{repo_name}/")
    assert listed["KeyCount"] > 0
