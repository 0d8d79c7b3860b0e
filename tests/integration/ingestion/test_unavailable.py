"""With the catalog down (lakeFS up), ``vxp ingest study --ci`` and ``vxp sql`` say the platform is
unavailable (exit 4, no traceback) instead of crashing (user-found defect: a requests
ConnectionError traceback). The catalog is stopped, then started again for the other tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ingestion.ingest_support import heads, new_repository
from tests.integration.ingestion.test_cli_runs import Vxp
from tests.support import Stack
from vxp.ingestion.example_study import write_example_study

pytestmark = pytest.mark.integration


def test_catalog_down_is_unavailable_for_ingest_and_sql(
    embedded: Stack, cli_env: dict[str, str], tmp_path: Path
) -> None:
    repo = new_repository(embedded)
    vxp = Vxp(embedded, cli_env, repo)
    (first,) = write_example_study(tmp_path / "study", subjects=2, deliveries=1, seed=11)
    before = heads(embedded, repo)
    catalog_uri = embedded.settings.catalog_uri
    from vxp.services import process

    manager = embedded.manager
    process.stop(manager._state().processes["catalog"])
    try:
        body = vxp.ci("ingest", "study", str(first), "--source", "basel", code=4)
        assert body["outcome"] == "unavailable"
        (error,) = body["errors"]
        assert f"cannot reach the vxp catalog at {catalog_uri}" in error["message"]
        assert "vxp status" in error["hint"]
        assert heads(embedded, repo) == before

        sql = vxp.run("sql", "SELECT 1")
        assert sql.returncode == 4, sql.stdout + sql.stderr
        assert "Traceback" not in sql.stderr
        message = " ".join(sql.stderr.split())
        assert f"cannot reach the vxp catalog at {catalog_uri}" in message
        assert "vxp up" in message
    finally:
        manager.up("embedded")
    # the catalog is back for the tests after this one
    assert vxp.run("sql", "SELECT 1").returncode == 0
