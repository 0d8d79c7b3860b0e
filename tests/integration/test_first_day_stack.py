"""First-day fixes of the layered-core issue that need the real stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from tests.support import Stack, catalog
from vxp.domain.repositories import create_repository

pytestmark = pytest.mark.integration


def _vxp(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vxp", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_refused_write_leaves_no_files_in_the_working_directory(
    embedded: Stack, repo_name: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    session = embedded.session()
    create_repository(session, repo_name, embedded.settings.storage_namespace_prefix)
    session.create_branch(repo_name, "work", "integration")
    tables = catalog(embedded, f"{repo_name}.work")
    tables.create_namespace("basel")
    tables.create_table("basel.sites", schema=pa.schema([("site", pa.string())])).append(
        pa.table({"site": ["basel"]})
    )
    session.create_tag(repo_name, "v1", "work")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {**cli_env, "VXP_HOME": str(embedded.home.root)}

    refused = _vxp(
        env,
        cwd,
        "sql",
        "INSERT INTO basel.sites VALUES ('bern')",
        "--ref",
        "v1",
        "--repo",
        repo_name,
    )

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "read-only" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert list(cwd.iterdir()) == []


def test_every_result_names_its_commit(
    embedded: Stack, repo_name: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    import json

    import pyarrow.parquet as pq

    session = embedded.session()
    create_repository(session, repo_name, embedded.settings.storage_namespace_prefix)
    session.create_branch(repo_name, "work", "integration")
    tables = catalog(embedded, f"{repo_name}.work")
    tables.create_namespace("basel")
    tables.create_table("basel.sites", schema=pa.schema([("site", pa.string())])).append(
        pa.table({"site": ["basel"]})
    )
    head = session.branch_head(repo_name, "work")
    env = {**cli_env, "VXP_HOME": str(embedded.home.root)}
    query = ["sql", "SELECT site FROM basel.sites", "--ref", "work", "--repo", repo_name]

    wrapped = _vxp(env, tmp_path, *query, "--format", "json", "--envelope")
    written = _vxp(env, tmp_path, *query, "--output", "out.parquet")
    with embedded.client(repo_name, "work") as client:
        result = client.query("SELECT site FROM basel.sites")

    assert wrapped.returncode == 0, wrapped.stderr
    assert json.loads(wrapped.stdout)["commit"] == head
    assert json.loads(wrapped.stdout)["rows"] == [{"site": "basel"}]
    assert written.returncode == 0, written.stderr
    assert pq.read_metadata(tmp_path / "out.parquet").metadata[b"vxp.commit"] == str(head).encode()
    assert result.schema.metadata[b"vxp.commit"] == str(head).encode()
    assert client.commit == head
