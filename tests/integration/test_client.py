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
