"""``vxp ingest study | list | merge | discard`` and ``vxp lineage`` as CI runs them (issue 9,
deliverables 7 and 8): a subprocess on the session's embedded stack, its JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ingestion.ingest_support import (
    heads,
    ingest,
    layer_heads,
    new_repository,
    rows,
    sha256,
    write_delivery,
)
from tests.support import Stack
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.report import Outcome

pytestmark = pytest.mark.integration

SOURCE = "basel"


class Vxp:
    """``python -m vxp`` on the session stack (its home), in one repository."""

    def __init__(self, stack: Stack, cli_env: dict[str, str], repo: str) -> None:
        self.env = {**cli_env, "VXP_HOME": str(stack.home.root), "VXP_REPO": repo}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vxp", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def ci(self, *args: str, code: int) -> dict[str, Any]:
        """Run with ``--ci``: exactly one JSON object on stdout, and exit code ``code``."""
        result = self.run(*args, "--ci")
        assert result.returncode == code, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        body = json.loads(result.stdout)  # the whole of stdout: one JSON document
        assert isinstance(body, dict)
        return body


@dataclass
class Study:
    deliveries: list[Path]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Study]:
    yield Study(write_example_study(tmp_path_factory.mktemp("cli"), subjects=4, deliveries=2))


def data_rows(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1


def test_ci_summary_and_exit_codes(
    embedded: Stack, cli_env: dict[str, str], study: Study, tmp_path: Path
) -> None:
    repo = new_repository(embedded)
    vxp = Vxp(embedded, cli_env, repo)
    first = study.deliveries[0]

    landed = vxp.ci("ingest", "study", str(first), "--source", SOURCE, code=0)

    assert landed["outcome"] == "landed"
    run = landed["run"]
    assert landed["branches"] == {
        "ingest": f"ingest-{SOURCE}-{run}",
        "integrate": f"integrate-{SOURCE}-{run}",
    }
    # commit ids: the landing commit, and the merge commits the layers now point at
    assert landed["commits"]["source"] == heads(embedded, repo)["source"]
    assert landed["commits"]["integration"] == heads(embedded, repo)["integration"]
    assert embedded.session().get_commit(repo, landed["commits"]["landed"]) is not None
    tables = {t["table"]: t for t in landed["tables"]}
    for dataset in ("sites", "dm", "vs", "ae"):
        delivered = data_rows(first / f"{dataset}.csv")
        assert tables[f"{SOURCE}.{dataset}"]["rows_added"] == delivered
        assert tables[f"{SOURCE}.{dataset}"]["rows_changed"] == 0
        assert tables[f"{SOURCE}.{dataset}"]["rows_deleted"] == 0
        assert tables[f"raw_{SOURCE}.{dataset}"]["rows_added"] == delivered
    assert set(landed) >= {"warnings", "errors"} and landed["errors"] == []

    again = vxp.ci("ingest", "study", str(first), "--source", SOURCE, code=0)
    assert again["outcome"] == "unchanged"
    assert again["run"] == run
    assert again["commits"] == {} and again["tables"] == []

    bad = write_delivery(tmp_path / "bad", {"contents.csv": (first / "contents.csv").read_text()})
    for dataset in ("sites", "dm", "vs", "ae"):
        (bad / f"{dataset}.csv").write_bytes((first / f"{dataset}.csv").read_bytes())
    with (bad / "dm.csv").open("a") as handle:
        handle.write("BASEL-999,01,not-an-age,F,PLACEBO,70.0,2024-01-01\n")
    before = heads(embedded, repo)

    invalid = vxp.ci("ingest", "study", str(bad), "--source", SOURCE, code=1)

    assert invalid["outcome"] == "invalid"
    lines = data_rows(first / "dm.csv") + 2
    assert [(e["code"], e["file"], e["line"], e["column"]) for e in invalid["errors"]] == [
        ("value.type", "dm.csv", lines, "AGE")
    ]
    assert heads(embedded, repo) == before


def test_no_merge_then_list_merge_and_discard(
    embedded: Stack, cli_env: dict[str, str], study: Study
) -> None:
    repo = new_repository(embedded)
    vxp = Vxp(embedded, cli_env, repo)
    first, second = study.deliveries
    before = layer_heads(embedded, repo)

    staged = vxp.ci("ingest", "study", str(first), "--source", SOURCE, "--no-merge", code=0)

    assert staged["outcome"] == "staged"
    run = staged["run"]
    branches = heads(embedded, repo)
    assert layer_heads(embedded, repo) == before, "--no-merge moved a layer"
    assert {staged["branches"]["ingest"], staged["branches"]["integrate"]} <= branches.keys()
    # what would change
    assert {t["table"]: t["rows_added"] for t in staged["tables"]}[f"{SOURCE}.dm"] == data_rows(
        first / "dm.csv"
    )
    listed = json.loads(vxp.ok("ingest", "list", "--format", "json"))
    assert listed == [
        {
            "source": SOURCE,
            "run": run,
            "ingest_branch": staged["branches"]["ingest"],
            "integrate_branch": staged["branches"]["integrate"],
        }
    ]

    vxp.ok("ingest", "merge", run)

    merged = heads(embedded, repo)
    assert merged.keys() == {"source", "integration"}
    assert merged["source"] != before["source"]
    assert merged["integration"] != before["integration"]
    dm = rows(embedded, repo, "integration", f"{SOURCE}.dm")
    assert len(dm) == data_rows(first / "dm.csv")
    assert json.loads(vxp.ok("ingest", "list", "--format", "json")) == []
    # the merged run is the delivery's: sent again it is unchanged
    assert ingest(embedded, repo, SOURCE, first).outcome is Outcome.UNCHANGED

    dropped = vxp.ci("ingest", "study", str(second), "--source", SOURCE, "--no-merge", code=0)
    assert dropped["outcome"] == "staged"
    vxp.ok("ingest", "discard", dropped["run"])

    assert heads(embedded, repo) == merged
    assert json.loads(vxp.ok("ingest", "list", "--format", "json")) == []
    gone = vxp.run("ingest", "merge", dropped["run"])
    assert gone.returncode == 1 and "no branches" in gone.stderr + gone.stdout


def lineage_events(stack: Stack, repo: str, run: str) -> list[dict[str, Any]]:
    raw = stack.session().get_object(repo, "integration", f"_vxp/lineage/{run}.jsonl")
    assert raw is not None, f"_vxp/lineage/{run}.jsonl is not at integration"
    return [json.loads(line) for line in raw.decode().splitlines()]


@dataclass
class Landed:
    repo: str
    runs: list[str]
    deliveries: list[Path]


@pytest.fixture(scope="module")
def landed(embedded: Stack, study: Study) -> Iterator[Landed]:
    repo = new_repository(embedded)
    reports = [ingest(embedded, repo, SOURCE, d) for d in study.deliveries]
    assert [r.outcome for r in reports] == [Outcome.LANDED] * 2
    yield Landed(repo, [str(r.run) for r in reports], study.deliveries)


def test_lineage_events_are_committed_with_the_run(embedded: Stack, landed: Landed) -> None:
    for run, folder in zip(landed.runs, landed.deliveries, strict=True):
        events = lineage_events(embedded, landed.repo, run)
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
        assert len({e["run"]["runId"] for e in events}) == 1
        complete = events[-1]
        checksums = {
            i["name"]: i["facets"]["version"]["datasetVersion"] for i in complete["inputs"]
        }
        delivered = {
            f"raw/{SOURCE}/{run}/{p.name}": sha256(p) for p in folder.iterdir() if p.is_file()
        }
        assert checksums == delivered
        outputs = {o["name"]: o for o in complete["outputs"]}
        datasets = [p.stem for p in folder.glob("*.csv") if p.name != "contents.csv"]
        for dataset in datasets:
            assert f"raw_{SOURCE}.{dataset}" in outputs
        assert f"{SOURCE}.dm" in outputs
        columns = {f["name"] for f in outputs[f"{SOURCE}.dm"]["facets"]["schema"]["fields"]}
        assert {"usubjid", "weight", "subject_sk", "site_sk"} <= columns
    # the second delivery: a new dataset and its table
    second = lineage_events(embedded, landed.repo, landed.runs[1])[-1]
    assert f"{SOURCE}.lb" in {o["name"] for o in second["outputs"]}


def test_lineage_outputs_name_the_history_tables(embedded: Stack, landed: Landed) -> None:
    complete = lineage_events(embedded, landed.repo, landed.runs[0])[-1]
    outputs = {o["name"] for o in complete["outputs"]}
    assert {f"{SOURCE}.dm_history", f"{SOURCE}.vs_history"} <= outputs


def test_vxp_lineage_shows_the_runs_and_files_upstream_of_a_table(
    embedded: Stack, cli_env: dict[str, str], landed: Landed
) -> None:
    vxp = Vxp(embedded, cli_env, landed.repo)
    graph = json.loads(vxp.ok("lineage", f"{SOURCE}.dm", "--format", "json"))
    assert graph["table"] == f"{SOURCE}.dm"
    assert graph["commit"] == heads(embedded, landed.repo)["integration"]
    kinds = {n["id"]: n["kind"] for n in graph["nodes"]}
    runs = {n for n, k in kinds.items() if k == "run"}
    assert len(runs) == 2
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert {(r, f"{SOURCE}.dm") for r in runs} <= edges
    for run in landed.runs:
        dm_file = f"raw/{SOURCE}/{run}/dm.csv"
        assert kinds[dm_file] == "file"
        assert any((dm_file, r) in edges for r in runs)


def test_vxp_lineage_names_the_run_by_its_id(
    embedded: Stack, cli_env: dict[str, str], landed: Landed
) -> None:
    vxp = Vxp(embedded, cli_env, landed.repo)
    graph = json.loads(vxp.ok("lineage", f"{SOURCE}.dm", "--format", "json"))
    runs = [n["id"] for n in graph["nodes"] if n["kind"] == "run"]
    for run in landed.runs:
        assert any(run in node for node in runs), runs
