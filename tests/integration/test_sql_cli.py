"""``vxp sql`` as a user runs it: a subprocess on the session stack, one repository per test."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support import Stack
from tests.versioned_tables import Versions, head, rows, versioned_repo
from vxp.core.settings import Key
from vxp.domain.engines.common import repository_catalog

pytestmark = pytest.mark.integration

SELECT = "SELECT id, site, age FROM basel.patients ORDER BY id"


def vxp_sql(
    stack: Stack, repo: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    # the stack's own settings (its client file), never a platform from the caller's shell
    env = {k: v for k, v in os.environ.items() if k not in set(Key)}
    env.update({"VXP_HOME": str(stack.home.root), "VXP_REPO": repo, "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "vxp", "sql", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], *texts: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for text in texts:
        assert text in result.stderr


def csv_rows(text: str) -> list[tuple[int, str, int]]:
    return [(int(r["id"]), r["site"], int(r["age"])) for r in csv.DictReader(io.StringIO(text))]


@pytest.fixture
def versions(embedded: Stack, repo_name: str) -> Versions:
    return versioned_repo(embedded, repo_name)


def test_formats(embedded: Stack, versions: Versions, tmp_path: Path) -> None:
    table = vxp_sql(embedded, versions.repo, SELECT)
    lines = ok(table).splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    assert lines[top + 1].split() == ["┃", "id", "┃", "site", "┃", "age", "┃"]
    # the table's title (wrapped to the table's width) and the summary name the commit the ref
    # pointed at, for the record
    commit = head(embedded, versions.repo, "integration")[:12]
    title = " ".join(line.strip() for line in lines[:top])
    assert title == f"{versions.repo} @ integration ({commit})"
    assert f"{len(versions.at_head)} rows" in table.stderr
    assert f"integration at {commit}" in table.stderr

    assert csv_rows(ok(vxp_sql(embedded, versions.repo, SELECT, "--format", "csv"))) == (
        versions.at_head
    )
    as_json = json.loads(ok(vxp_sql(embedded, versions.repo, SELECT, "-f", "json")))
    assert [(r["id"], r["site"], r["age"]) for r in as_json] == versions.at_head

    target = tmp_path / "v1.parquet"
    written = vxp_sql(embedded, versions.repo, SELECT, "--ref", "v1", "--output", str(target))
    assert ok(written) == ""
    assert rows(pq.read_table(target)) == versions.at_v1


def test_refs_and_names(embedded: Stack, versions: Versions) -> None:
    for ref in ("v1", versions.commit):
        out = ok(vxp_sql(embedded, versions.repo, SELECT, "--ref", ref, "-f", "csv"))
        assert csv_rows(out) == versions.at_v1
    # another ref, named through the repository's catalog, next to the --ref one
    catalog = repository_catalog(versions.repo)
    gone = (
        "SELECT id, site, age FROM basel.patients EXCEPT SELECT id, site, age FROM "  # noqa: S608
        f'{catalog}."integration.basel".patients ORDER BY id'
    )
    out = ok(vxp_sql(embedded, versions.repo, gone, "--ref", "v1", "-f", "csv"))
    assert csv_rows(out) == [row for row in versions.at_v1 if row not in versions.at_head]
    # the statement from standard input
    out = ok(vxp_sql(embedded, versions.repo, "-", "--ref", "v1", "-f", "csv", stdin=SELECT))
    assert csv_rows(out) == versions.at_v1


def test_a_write_says_where_the_branch_is_now(embedded: Stack, versions: Versions) -> None:
    before = head(embedded, versions.repo, "integration")
    insert = "INSERT INTO basel.patients VALUES (99999, 'bern', 40)"
    result = vxp_sql(embedded, versions.repo, insert)
    ok(result)
    after = head(embedded, versions.repo, "integration")
    assert after != before
    assert f"integration at {before[:12]}" in result.stderr
    assert f"integration is now at {after[:12]}" in result.stderr
    # the engine's answer is the count of rows written, not a result of one row
    assert result.stderr.startswith("1 row written in ")
    # a read that moved nothing names one commit
    read = json.loads(ok(vxp_sql(embedded, versions.repo, SELECT, "-f", "json", "--envelope")))
    assert read["commit"] == after and "moved_to" not in read
    two = "INSERT INTO basel.patients VALUES (99998, 'bern', 41), (99997, 'basel', 42)"
    wrote = vxp_sql(embedded, versions.repo, two)
    ok(wrote)
    assert wrote.stderr.startswith("2 rows written in ")
    # a write of no rows makes no commit, and says so
    moved = head(embedded, versions.repo, "integration")
    none = "INSERT INTO basel.patients SELECT id, site, age FROM basel.patients WHERE false"
    wrote = vxp_sql(embedded, versions.repo, none)
    ok(wrote)
    assert wrote.stderr.startswith("0 rows written in ")
    assert "nothing changed, so no commit" in wrote.stderr
    assert head(embedded, versions.repo, "integration") == moved
    # several statements: the count is the last one's, and says so
    both = f"{insert.replace('99999', '99996')}; {two.replace('9999', '9998')}"
    wrote = vxp_sql(embedded, versions.repo, both)
    ok(wrote)
    assert wrote.stderr.startswith("2 rows written by the last of 2 statements in ")
    # a read whose column happens to be named like a write's count is still a read
    counted = vxp_sql(embedded, versions.repo, "SELECT count(*) AS Count FROM basel.patients")
    ok(counted)
    assert counted.stderr.startswith("1 row in ")


def test_clear_errors(embedded: Stack, versions: Versions) -> None:
    fails(
        vxp_sql(embedded, versions.repo, SELECT, "--ref", "nope"),
        "ref 'nope' does not exist in repository",
    )
    fails(vxp_sql(embedded, "no-such-repo", SELECT), "repository 'no-such-repo' does not exist")
    fails(
        vxp_sql(embedded, versions.repo, "SELECT * FROM basel.nope"),
        "Table with name nope does not exist",
        "at ref 'integration'",
    )
    fails(vxp_sql(embedded, versions.repo, "SELEC 1"), "syntax error")
    fails(vxp_sql(embedded, versions.repo, SELECT, "-f", "parquet"), "--output")
    fails(
        vxp_sql(
            embedded, versions.repo, "INSERT INTO basel.patients VALUES (1, 'x', 1)", "--ref", "v1"
        ),
        "read-only",
    )
    fails(vxp_sql(embedded, "", SELECT), "no repository given")
    fails(vxp_sql(embedded, versions.repo, SELECT, "-e", "trino"), "TRINO_URL")


@pytest.mark.full
def test_trino_engine(full: Stack, repo_name: str) -> None:
    versions = versioned_repo(full, repo_name)
    out = ok(vxp_sql(full, repo_name, SELECT, "--engine", "trino", "--ref", "v1", "-f", "csv"))
    assert csv_rows(out) == versions.at_v1
    fails(
        vxp_sql(full, repo_name, "SELECT * FROM basel.nope", "-e", "trino"),
        "Trino: line 1:15: Table 'basel.nope' does not exist",
    )
    # Trino counts a write's rows itself (updateCount); a read with such a column is a read
    insert = "INSERT INTO basel.patients VALUES (99999, 'bern', 40), (99998, 'basel', 41)"
    wrote = vxp_sql(full, repo_name, insert, "-e", "trino")
    ok(wrote)
    assert wrote.stderr.startswith("2 rows written in ")
    assert "integration is now at " in wrote.stderr
    count = 'SELECT count(*) AS "rows" FROM basel.patients'
    counted = vxp_sql(full, repo_name, count, "-e", "trino")
    ok(counted)
    assert counted.stderr.startswith("1 row in ")
