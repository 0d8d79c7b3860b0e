"""What ``vxp ingest`` prints to people (user-found defects of issue 9): an empty run list says
so, "unchanged" is said once, hints name the real repository, and ``--engine trino`` on a stack
without Trino is refused with a clear error before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ingestion.ingest_support import heads, new_repository
from tests.integration.ingestion.test_cli_runs import Vxp
from tests.support import Stack
from vxp.ingestion.example_study import write_example_study

pytestmark = pytest.mark.integration

SOURCE = "basel"


def test_messages_of_a_run_from_staged_to_unchanged(
    embedded: Stack, cli_env: dict[str, str], tmp_path: Path
) -> None:
    repo = new_repository(embedded)
    vxp = Vxp(embedded, cli_env, repo)
    (first,) = write_example_study(tmp_path / "study", subjects=2, deliveries=1, seed=8)

    listed = vxp.run("ingest", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"no unfinished runs in '{repo}'" in listed.stdout
    assert vxp.ok("ingest", "list", "--format", "json").strip() == "[]"

    staged = vxp.run("ingest", "study", str(first), "--source", SOURCE, "--no-merge")
    assert staged.returncode == 0, staged.stderr
    text = " ".join((staged.stdout + staged.stderr).split())
    assert "--repo REPO" not in text
    run = next(word for word in text.split() if word.startswith("ingest-basel-"))
    run = run.removeprefix("ingest-basel-").rstrip(",;")
    assert f"vxp ingest merge {run} --repo {repo}" in text
    assert f"vxp ingest discard {run} --repo {repo}" in text
    assert run in vxp.ok("ingest", "list")
    vxp.ok("ingest", "merge", run)

    again = vxp.run("ingest", "study", str(first), "--source", SOURCE)
    assert again.returncode == 0, again.stderr
    assert (again.stdout + again.stderr).count("unchanged") == 1, again.stdout + again.stderr


def test_engine_trino_without_trino_is_refused(
    embedded: Stack, cli_env: dict[str, str], tmp_path: Path
) -> None:
    repo = new_repository(embedded)
    vxp = Vxp(embedded, cli_env, repo)
    (first,) = write_example_study(tmp_path / "study", subjects=2, deliveries=1, seed=9)
    before = heads(embedded, repo)

    refused = vxp.run("ingest", "study", str(first), "--source", SOURCE, "--engine", "trino")

    assert refused.returncode != 0
    message = " ".join(refused.stderr.split())
    assert "--engine trino needs Trino, and this stack has none" in message
    assert "vxp up --stack full" in message
    assert "Traceback" not in refused.stderr
    assert heads(embedded, repo) == before
    body = vxp.ci("ingest", "study", str(first), "--source", SOURCE, "--engine", "trino", code=1)
    assert body["outcome"] == "error"
    assert "needs Trino" in body["errors"][0]["message"]
