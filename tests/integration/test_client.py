"""``vxp_client``, the import name recipes use, against the real embedded stack."""

from __future__ import annotations

import pyarrow as pa
import pytest

import vxp_client
from tests.support import Stack, catalog
from vxp.domain.repositories import create_repository

pytestmark = pytest.mark.integration


def test_platform_client_queries_a_table_at_a_ref(embedded: Stack, repo_name: str) -> None:
    session = embedded.session()
    create_repository(session, repo_name, embedded.settings.storage_namespace_prefix)
    cat = catalog(embedded, f"{repo_name}.integration")
    cat.create_namespace("basel")
    rows = pa.table({"patient_id": ["P1", "P2", "P3"], "age": [34, 51, 67]})
    cat.create_table("basel.patients", schema=rows.schema).append(rows)

    with vxp_client.PlatformClient(
        repo_name, ref="integration", settings=embedded.settings
    ) as client:
        assert client.commit == session.branch_head(repo_name, "integration")
        result = client.query("SELECT count(*) AS n, max(age) AS oldest FROM basel.patients")
    assert result.to_pylist() == [{"n": 3, "oldest": 67}]


def test_platform_client_reads_one_commit_while_the_branch_moves_on(
    embedded: Stack, repo_name: str
) -> None:
    session = embedded.session()
    create_repository(session, repo_name, embedded.settings.storage_namespace_prefix)
    session.create_branch(repo_name, "work", "integration")
    cat = catalog(embedded, f"{repo_name}.work")
    cat.create_namespace("basel")
    first = pa.table({"patient_id": ["P1", "P2"], "age": [34, 51]})
    writer = cat.create_table("basel.patients", schema=first.schema)
    writer.append(first)
    session.create_tag(repo_name, "v1", "work")
    pinned = session.branch_head(repo_name, "work")

    count = "SELECT count(*) AS n FROM basel.patients"
    with embedded.client(repo_name, "work") as client:
        assert client.commit == pinned
        assert client.query(count).to_pylist() == [{"n": 2}]
        writer.append(pa.table({"patient_id": ["P3"], "age": [67]}, schema=first.schema))
        moved = session.branch_head(repo_name, "work")
        assert moved != pinned
        # the same client, the same commit: neither SQL nor the table sees the new rows
        assert client.query(count).to_pylist() == [{"n": 2}]
        assert client.table("basel.patients").scan().to_arrow().num_rows == 2
        assert client.branches()["work"] == moved
        assert client.tags() == {"v1": pinned}
        with client.at("work") as later:
            assert later.commit == moved
            assert later.query(count).to_pylist() == [{"n": 3}]
        with client.at("v1") as tagged:
            assert tagged.commit == pinned
        with pytest.raises(vxp_client.NotFound, match=r"table 'basel\.nope' does not exist"):
            client.table("basel.nope")
        with pytest.raises(vxp_client.InvalidInput, match="DuckDB"):
            client.query("SELECT * FROM basel.nope")
    with pytest.raises(vxp_client.VxpError, match="closed"):
        client.query(count)

    with pytest.raises(vxp_client.NotFound, match="ref 'nope' does not exist in repository"):
        embedded.client(repo_name, "nope")
    with pytest.raises(vxp_client.NotFound, match="repository 'no-such-repo' does not exist"):
        embedded.client("no-such-repo")
