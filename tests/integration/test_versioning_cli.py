"""``vxp branch | commit | merge | log | diff | snapshot | tables`` as a user runs them.

Each test gets its own repository on the session's embedded stack; tables are written through
the catalog with pyiceberg, exactly as an engine would, and inspected with the CLI.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import Table

from tests.support import Stack, catalog
from vxp.core.settings import Key
from vxp.domain.repositories import create_repository

pytestmark = pytest.mark.integration

VISITS = pa.schema([("id", pa.int64()), ("site", pa.string())])


def visits(*ids: int) -> pa.Table:
    return pa.table({"id": list(ids), "site": ["basel"] * len(ids)}, schema=VISITS)


class Cli:
    """``vxp`` as a subprocess on the session stack, with VXP_REPO set to the test's repository."""

    def __init__(self, stack: Stack, repo: str) -> None:
        # the stack's own settings (its client file), never a platform or branch from the
        # caller's shell
        self.env = {k: v for k, v in os.environ.items() if k not in set(Key) and k != "VXP_BRANCH"}
        self.env.update({"VXP_HOME": str(stack.home.root), "VXP_REPO": repo, "COLUMNS": "250"})
        self.repo = repo

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vxp", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--format", "json"))

    def fails(self, *args: str, text: str, code: int = 1) -> str:
        """The output of a command that must fail with exit ``code`` (3: conflict), saying
        ``text``, without a traceback."""
        result = self.run(*args)
        output = result.stdout + result.stderr
        assert result.returncode == code, output
        assert text in output
        assert "Traceback" not in output
        return output

    def head(self, branch: str) -> str:
        heads = {b["name"]: b["commit_id"] for b in self.json("branch", "list")}
        return str(heads[branch])


@pytest.fixture
def repo(embedded: Stack, repo_name: str) -> str:
    create_repository(embedded.session(), repo_name, embedded.settings.storage_namespace_prefix)
    return repo_name


@pytest.fixture
def cli(embedded: Stack, repo: str) -> Cli:
    return Cli(embedded, repo)


def snapshot_id(table: Table) -> int:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def table_rows(tables: dict[str, Any], name: str) -> int:
    by_name = {".".join([*t["namespace"], t["name"]]): t for t in tables["tables"]}
    return int(by_name[name]["rows"])


def test_branch_create_list_delete(cli: Cli) -> None:
    created = cli.ok("branch", "create", "exp-1")
    head = cli.head("integration")
    assert f"branch exp-1 from integration at commit {head}" in created
    cli.ok("branch", "create", "exp-2", "--from", "source")

    branches = {b["name"]: b for b in cli.json("branch", "list")}
    assert set(branches) == {"source", "integration", "exp-1", "exp-2"}
    assert branches["integration"]["layer"] and branches["source"]["layer"]
    assert not branches["exp-1"]["layer"]
    assert branches["exp-1"]["commit_id"] == head
    assert "layer" in cli.ok("branch", "list")

    for layer in ("source", "integration"):
        cli.fails("branch", "delete", layer, text=f"{layer!r} is a layer branch")
    cli.ok("branch", "delete", "exp-1")
    assert {b["name"] for b in cli.json("branch", "list")} == {"source", "integration", "exp-2"}

    cli.fails("branch", "create", "a/b", text="invalid branch name 'a/b'")
    cli.fails("branch", "create", "exp-2", text=f"branch 'exp-2' exists already in {cli.repo!r}")
    cli.fails(
        "branch", "delete", "nope", text=f"branch 'nope' does not exist in repository {cli.repo!r}"
    )
    result = cli.run("branch", "list", env={"VXP_REPO": ""})
    assert result.returncode == 1 and "no repository given" in result.stderr


def test_commit_staged_changes(embedded: Stack, cli: Cli, repo: str) -> None:
    cli.ok("branch", "create", "upload-1")
    cli.fails("commit", "-m", "nothing", "--branch", "upload-1", text="nothing to commit")
    cli.fails("commit", "-m", "where", text="no branch given")

    embedded.session().upload_object(repo, "upload-1", "raw/visits.csv", b"id,site\n1,basel\n")
    cli.fails(
        "commit", "-m", "x", "-b", "upload-1", "--meta", "vxp.catalog.tables=t", text="reserved"
    )
    cli.fails("commit", "-m", "x", "-b", "upload-1", "--meta", "novalue", text="not key=value")
    out = cli.ok(
        "commit", "-m", "add visits export", "-b", "upload-1", "--meta", "source=site-export"
    )
    newest = cli.json("log", "upload-1", "-n", "1")[0]
    assert newest["id"] in out
    assert newest["message"] == "add visits export"
    assert newest["metadata"] == {"source": "site-export"}
    assert newest["catalog"] is None
    # the change is committed: nothing is staged any more
    cli.fails("commit", "-m", "again", "-b", "upload-1", text="nothing to commit")


def test_merge_and_log_show_catalog_commits(embedded: Stack, cli: Cli, repo: str) -> None:
    cli.ok("branch", "create", "work")
    work = catalog(embedded, f"{repo}.work")
    work.create_namespace("trial")
    table = work.create_table("trial.visits", schema=VISITS)
    table.append(visits(1, 2, 3))
    appended = snapshot_id(table)

    # nothing on integration until the merge
    assert cli.json("tables", "list")["tables"] == []
    # how each table was merged is vxp's to record, never the user's
    cli.fails("merge", "work", "integration", "--meta", "vxp.merge.tables=[]", text="reserved")
    merged = cli.ok("merge", "work", "integration", "--meta", "ticket=DATA-7")
    assert cli.head("integration") in merged
    assert table_rows(cli.json("tables", "list"), "trial.visits") == 3
    cli.fails("merge", "work", "integration", text="nothing to merge")

    # by default integration's own line: the merge is one commit, work's commits are not listed
    own = cli.json("log", "integration", "-n", "10")
    assert own[0]["message"] == "merge work into integration"
    assert not [c for c in own if c["catalog"]]
    history = cli.json("log", "integration", "-n", "10", "--all")
    assert history[0]["message"] == "merge work into integration"
    assert history[0]["metadata"]["ticket"] == "DATA-7"
    catalog_commits = [c["catalog"] for c in history if c["catalog"]]
    actions = [c["action"] for c in catalog_commits]
    assert actions == ["commit-table", "create-table", "create-namespace"]
    append = catalog_commits[0]
    assert append["tables"] == [
        {
            "table": "trial.visits",
            "snapshot_id": appended,
            "operation": "append",
            # read from the table's metadata: every snapshot the commit added, what else changed
            "what": {
                "snapshots": [{"snapshot_id": appended, "operation": "append"}],
                "columns": [],
                "partition_spec": False,
                "sort_order": False,
                "properties": [],
                "rolled_back": False,
            },
        }
    ]
    assert append["caller"]  # the lakeFS user the catalog wrote as
    assert len(cli.json("log", "integration", "-n", "2")) == 2

    text = cli.ok("log", "integration", "--all")
    assert f"commit-table: trial.visits append {appended}" in text
    assert "create-namespace: namespace trial" in text


def test_merge_conflict_names_the_table_and_changes_nothing(
    embedded: Stack, cli: Cli, repo: str
) -> None:
    base = catalog(embedded, f"{repo}.integration")
    base.create_namespace("trial")
    base.create_table("trial.visits", schema=VISITS).append(visits(0))
    base.create_table("trial.sites", schema=VISITS)
    cli.ok("branch", "create", "left")
    cli.ok("branch", "create", "right")
    # both replace the same rows: a real conflict
    catalog(embedded, f"{repo}.left").load_table("trial.visits").overwrite(visits(1))
    right = catalog(embedded, f"{repo}.right")
    right.load_table("trial.visits").overwrite(visits(2, 3))
    right.load_table("trial.sites").append(visits(4))  # no conflict: only one side changed it

    cli.ok("merge", "left", "integration")
    before = cli.head("integration")
    # exit 3: a conflict, as every command that refuses colliding changes
    output = cli.fails("merge", "right", "integration", text="nothing was changed", code=3)
    assert "conflicts: both sides changed\n  table trial.visits\n" in output
    assert "destination: 2 snapshot(s): delete " in output, output
    assert "both sides removed or rewrote the same 1 file(s)" in output
    assert "--strategy trial.visits=ours|theirs" in output
    assert "trial.sites" not in output
    # --format json: the conflict as JSON on stdout, still exit 3
    result = cli.run("merge", "right", "integration", "--format", "json")
    assert result.returncode == 3, result.stdout + result.stderr
    conflict = json.loads(result.stdout)
    assert conflict["conflict"] is True
    assert [c["table"] for c in conflict["conflicts"]] == ["trial.visits"]
    (visits_conflict,) = conflict["conflicts"]
    assert visits_conflict["destination"].startswith("2 snapshot(s): delete ")
    assert visits_conflict["source"].startswith("2 snapshot(s): delete ")
    assert any("same 1 file(s)" in r for r in visits_conflict["reasons"])

    assert cli.head("integration") == before
    tables = cli.json("tables", "list")
    assert table_rows(tables, "trial.visits") == 1
    assert table_rows(tables, "trial.sites") == 0

    cli.fails("merge", "right", "integration", "--strategy", "mine", text="expected ours, theirs")
    # a strategy for a table not in conflict (a typo, or one only one side changed) is refused
    typo = cli.fails(
        "merge", "right", "integration", "--strategy", "trial.visitz=ours", text="trial.visitz"
    )
    assert "tables both sides changed: trial.visits; nothing was merged" in typo
    cli.fails("merge", "right", "integration", "--strategy", "trial.sites=ours", text="trial.sites")
    assert cli.head("integration") == before
    merged = cli.json("merge", "right", "integration", "--strategy", "trial.visits=theirs")
    assert merged["tables"][0]["table"] == "trial.visits"
    assert merged["tables"][0]["how"] == "theirs"
    # the merge's temporary-branch commits only with --all
    history = cli.ok("log", "integration")
    assert "merge: trial.visits theirs" in history
    assert "temporary branch" not in history and "tables merged by vxp" not in history
    everything = cli.ok("log", "integration", "--all", "-n", "50")
    assert "(prepared on a temporary branch)" in everything
    assert "tables merged by vxp" in everything
    tables = cli.json("tables", "list")
    assert table_rows(tables, "trial.visits") == 2
    assert table_rows(tables, "trial.sites") == 1


def test_appends_on_both_sides_merge(embedded: Stack, cli: Cli, repo: str) -> None:
    base = catalog(embedded, f"{repo}.integration")
    base.create_namespace("trial")
    base.create_table("trial.visits", schema=VISITS)
    cli.ok("branch", "create", "left")
    cli.ok("branch", "create", "right")
    catalog(embedded, f"{repo}.left").load_table("trial.visits").append(visits(1))
    catalog(embedded, f"{repo}.right").load_table("trial.visits").append(visits(2, 3))
    cli.ok("merge", "left", "integration")
    output = cli.ok("merge", "right", "integration")
    assert "trial.visits: merged" in output
    assert table_rows(cli.json("tables", "list"), "trial.visits") == 3


def test_diff_tables_added_dropped_changed(embedded: Stack, cli: Cli, repo: str) -> None:
    base = catalog(embedded, f"{repo}.integration")
    base.create_namespace("trial")
    for name, ids in (("kept", (1,)), ("grown", (1, 2)), ("gone", (1, 2, 3))):
        base.create_table(f"trial.{name}", schema=VISITS).append(visits(*ids))
    cli.ok("snapshot", "create", "before")
    cli.ok("branch", "create", "work", "--from", "before")

    work = catalog(embedded, f"{repo}.work")
    grown = work.load_table("trial.grown")
    grown_before = snapshot_id(grown)
    grown.append(visits(3, 4, 5))
    work.drop_table("trial.gone")
    work.create_namespace("extra")
    work.create_table("extra.fresh", schema=VISITS).append(visits(7, 8))
    embedded.session().upload_object(repo, "work", "raw/notes.txt", b"site visit notes\n")
    cli.ok("commit", "-m", "notes", "-b", "work")

    result = cli.json("diff", "before", "work")
    changes = {t["table"]: t for t in result["tables"]}
    assert set(changes) == {"trial.grown", "trial.gone", "extra.fresh"}
    assert changes["extra.fresh"]["change"] == "added"
    assert changes["extra.fresh"]["before"] is None
    assert changes["extra.fresh"]["after"]["rows"] == 2
    assert changes["trial.gone"]["change"] == "dropped"
    assert changes["trial.gone"]["before"]["rows"] == 3
    assert changes["trial.gone"]["after"] is None
    grew = changes["trial.grown"]
    assert grew["change"] == "changed"
    assert (grew["before"]["rows"], grew["after"]["rows"]) == (2, 5)
    assert grew["before"]["snapshot_id"] == grown_before
    assert grew["after"]["snapshot_id"] == snapshot_id(grown)
    assert result["namespaces"] == {"added": ["extra"], "dropped": []}
    assert result["objects"] == {"added": 1, "removed": 0, "changed": 0}

    text = cli.ok("diff", "before", "work")
    assert "trial.grown" in text and "2 → 5" in text
    assert "tables: 1 added, 1 changed, 1 dropped" in text
    assert "other objects: 1 (1 added, 0 removed, 0 modified)" in text
    one = cli.ok("diff", "before", "work", "--table", "trial.grown", "--rows", "1")
    assert "+3 -0" in one and "append " in one
    assert "+ id=3, site=basel" in one
    assert "trial.gone" not in one and "tables: 0 added, 1 changed, 0 dropped" in one
    # a typo is an error naming the tables at either ref, not "no change"
    typo = cli.fails("diff", "before", "work", "--table", "trial.nope", text="no table trial.nope")
    assert "extra.fresh, trial.gone, trial.grown, trial.kept" in typo
    # a table unchanged between the refs is no error
    assert "tables: 0 added, 0 changed" in cli.ok("diff", "before", "work", "-t", "trial.kept")
    # the same refs the other way round
    reverse = {t["table"]: t["change"] for t in cli.json("diff", "work", "before")["tables"]}
    assert reverse == {"trial.grown": "changed", "trial.gone": "added", "extra.fresh": "dropped"}


def test_diff_rows_print_dates_and_decimals_as_text(embedded: Stack, cli: Cli, repo: str) -> None:
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("visit", pa.date32()),
            ("at", pa.timestamp("us")),
            ("score", pa.decimal128(5, 1)),
            ("note", pa.string()),
        ]
    )

    def scores(*ids: int) -> pa.Table:
        return pa.table(
            {
                "id": list(ids),
                "visit": [datetime.date(2024, 1, 15)] * len(ids),
                "at": [datetime.datetime(2024, 1, 15, 10, 30)] * len(ids),
                "score": [decimal.Decimal("91.2")] * len(ids),
                "note": [None] * len(ids),
            },
            schema=schema,
        )

    base = catalog(embedded, f"{repo}.integration")
    base.create_namespace("trial")
    base.create_table("trial.scores", schema=schema).append(scores(1))
    cli.ok("branch", "create", "work")
    catalog(embedded, f"{repo}.work").load_table("trial.scores").append(scores(2))

    text = cli.ok("diff", "integration", "work", "--rows", "1")
    assert "+ id=2, visit=2024-01-15, at=2024-01-15T10:30:00, score=91.2, note=null" in text, text
    assert "Decimal(" not in text and "datetime." not in text
    (changed,) = cli.json("diff", "integration", "work", "--rows", "1")["tables"]
    assert changed["rows"]["sample"]["added"] == [
        {"id": 2, "visit": "2024-01-15", "at": "2024-01-15T10:30:00", "score": "91.2", "note": None}
    ]


def test_snapshot_pins_a_commit(embedded: Stack, cli: Cli, repo: str) -> None:
    base = catalog(embedded, f"{repo}.integration")
    base.create_namespace("trial")
    table = base.create_table("trial.visits", schema=VISITS)
    table.append(visits(1, 2))
    head = cli.head("integration")
    created = cli.ok("snapshot", "create", "trial-v1")
    assert f"pins commit {head}" in created

    table.append(visits(3))
    assert table_rows(cli.json("tables", "list"), "trial.visits") == 3
    assert table_rows(cli.json("tables", "list", "--ref", "trial-v1"), "trial.visits") == 2
    snapshots = {s["name"]: s for s in cli.json("snapshot", "list")}
    assert snapshots["trial-v1"]["commit_id"] == head
    assert "trial-v1" in cli.ok("snapshot", "list")
    cli.fails(
        "snapshot", "create", "trial-v1", text=f"snapshot 'trial-v1' exists already in {repo!r}"
    )
    cli.fails(
        "snapshot",
        "create",
        "x1",
        "--ref",
        "nope",
        text=f"ref 'nope' does not exist in repository {repo!r}",
    )
    assert "x1" not in {s["name"] for s in cli.json("snapshot", "list")}


def test_tables_list(embedded: Stack, cli: Cli, repo: str) -> None:
    base = catalog(embedded, f"{repo}.integration")
    base.create_namespace("trial")
    base.create_namespace("imaging")
    base.create_namespace(("imaging", "mri"))
    base.create_namespace("empty")
    visits_table = base.create_table("trial.visits", schema=VISITS)
    visits_table.append(visits(1, 2, 3, 4))
    base.create_table(("imaging", "mri", "scans"), schema=VISITS)

    listed = cli.json("tables", "list")
    assert listed["ref"] == "integration"
    assert listed["commit_id"] == cli.head("integration")
    assert listed["namespaces"] == [["empty"], ["imaging"], ["imaging", "mri"], ["trial"]]
    by_name = {".".join([*t["namespace"], t["name"]]): t for t in listed["tables"]}
    assert list(by_name) == ["imaging.mri.scans", "trial.visits"]
    assert by_name["trial.visits"]["rows"] == 4
    assert by_name["trial.visits"]["snapshot_id"] == snapshot_id(visits_table)
    # created, never written: no snapshot, no rows
    scans = by_name["imaging.mri.scans"]
    assert (scans["snapshot_id"], scans["rows"]) == (None, 0)

    text = cli.ok("tables", "list")
    assert "visits" in text and "scans" in text
    assert "2 tables in 4 namespaces; empty namespaces: empty" in text
    cli.fails(
        "tables", "list", "--ref", "nope", text=f"ref 'nope' does not exist in repository {repo!r}"
    )
