"""``vxp diff``, ``vxp log`` and row counts on the real stacks, tables written by pyiceberg,
DuckDB and Trino; merges of tables those engines changed on two branches."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.types import IntegerType, LongType, NestedField, StringType

from tests.integration.materialize_support import run_vxp
from tests.support import Stack, catalog
from vxp.core.layout import Pointer, table_pointer
from vxp.domain.engines import duckdb as duck
from vxp.domain.engines import trino
from vxp.domain.history import log
from vxp.domain.merging import MergeConflict, merge
from vxp.domain.refs import create_branch, create_snapshot
from vxp.domain.repositories import create_repository
from vxp.domain.tables import diff, tables_at

pytestmark = pytest.mark.integration

PATIENTS = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "site", StringType()),
    NestedField(3, "age", IntegerType()),
    identifier_field_ids=[1],
)


def patients(ids: range, site: str = "basel") -> pa.Table:
    return pa.table(
        {
            "id": pa.array(list(ids), pa.int64()),
            "site": [site] * len(ids),
            "age": pa.array([i % 90 for i in ids], pa.int32()),
        },
        schema=pa.schema(
            [pa.field("id", pa.int64(), nullable=False), ("site", pa.string()), ("age", pa.int32())]
        ),
    )


def setup(stack: Stack, repo: str, rows: int = 1000) -> Catalog:
    create_repository(stack.session(), repo, stack.settings.storage_namespace_prefix)
    base = catalog(stack, f"{repo}.integration")
    base.create_namespace("trial")
    base.create_table("trial.patients", schema=PATIENTS).append(patients(range(rows)))
    return base


def listed_rows(stack: Stack, repo: str, ref: str) -> int | None:
    (table,) = tables_at(stack.session(), stack.settings, repo, ref).tables
    return table.rows


def duck_count(stack: Stack, repo: str, ref: str) -> int:
    answer = duck.query(
        stack.home.cache, stack.settings, "SELECT count(*) AS n FROM trial.patients", repo, ref
    )
    return int(answer.table.column("n")[0].as_py())


def test_row_counts_and_diff_after_duckdb_delete_and_update(
    embedded: Stack, repo_name: str
) -> None:
    setup(embedded, repo_name)
    session = embedded.session()
    create_snapshot(session, repo_name, "v1", "integration")
    create_branch(session, repo_name, "fix", "integration")
    duck.query(
        embedded.home.cache,
        embedded.settings,
        "DELETE FROM trial.patients WHERE id < 2; "
        "UPDATE trial.patients SET site = 'bern' WHERE id IN (5, 6); "
        "INSERT INTO trial.patients VALUES (5000, 'zurich', 50)",
        repo_name,
        "fix",
    )
    # DuckDB writes position deletes and no totals in its snapshot summaries
    assert listed_rows(embedded, repo_name, "fix") == duck_count(embedded, repo_name, "fix") == 999

    result = diff(session, embedded.settings, repo_name, "v1", "fix", rows=2)
    (table,) = result.tables
    assert table.before is not None and table.after is not None
    assert (table.before.rows, table.after.rows) == (1000, 999)
    assert table.rows is not None
    assert (table.rows.key, table.rows.added, table.rows.removed, table.rows.changed) == (
        ["id"],
        1,
        2,
        2,
    )
    assert [r["id"] for r in table.rows.sample_removed] == [0, 1]
    assert table.rows.sample_added == [{"id": 5000, "site": "zurich", "age": 50}]
    assert [(c["before"]["site"], c["after"]["site"]) for c in table.rows.sample_changed] == [
        ("basel", "bern"),
        ("basel", "bern"),
    ]
    assert table.metadata is not None
    assert [s.operation for s in table.metadata.snapshots] == ["delete", "overwrite", "append"]


def test_diff_names_column_changes_and_log_names_iceberg_operations(
    embedded: Stack, repo_name: str
) -> None:
    base = setup(embedded, repo_name, rows=10)
    session = embedded.session()
    create_snapshot(session, repo_name, "v1", "integration")
    table = base.load_table("trial.patients")
    with table.update_schema() as update:
        update.add_column("note", StringType())
        update.rename_column("site", "centre")
        update.update_column("age", field_type=LongType())
    table = base.load_table("trial.patients")
    # pyiceberg's overwrite: a delete and an append snapshot in one table commit
    table.overwrite(table.scan().to_arrow().filter(pa.compute.field("id") < 5))
    table.transaction().set_properties({"owner": "qc"}).commit_transaction()

    result = diff(
        session, embedded.settings, repo_name, "v1", "integration", table="trial.patients"
    )
    (changed,) = result.tables
    assert changed.metadata is not None
    described = changed.metadata.describe()
    for words in ("added note string", "renamed site to centre", "retyped age int to long"):
        assert words in described
    assert changed.metadata.properties == ["owner"]
    assert changed.rows is not None and (changed.rows.removed, changed.rows.added) == (5, 0)
    assert changed.rows.changed == 0

    history = log(session, embedded.settings, repo_name, "integration", 3)
    whats = [t.what.describe() for c in history for t in c.tables if t.what is not None]
    assert whats[0] == "properties: owner"
    assert whats[1].startswith("delete ") and ", append " in whats[1]
    assert whats[2] == "schema: added note string; renamed site to centre; retyped age int to long"


def test_merge_of_duckdb_deletes_and_pyiceberg_appends(embedded: Stack, repo_name: str) -> None:
    setup(embedded, repo_name, rows=100)
    session = embedded.session()
    create_branch(session, repo_name, "deletes", "integration")
    create_branch(session, repo_name, "appends", "integration")
    duck.query(
        embedded.home.cache,
        embedded.settings,
        "DELETE FROM trial.patients WHERE id >= 90",
        repo_name,
        "deletes",
    )
    catalog(embedded, f"{repo_name}.appends").load_table("trial.patients").append(
        patients(range(100, 110), site="bern")
    )
    merge(session, repo_name, "deletes", "integration", settings=embedded.settings)
    result = merge(session, repo_name, "appends", "integration", settings=embedded.settings)
    assert [t.how for t in result.tables] == ["merged"]
    merged = catalog(embedded, f"{repo_name}.integration").load_table("trial.patients")
    ids = Counter(merged.scan().to_arrow().column("id").to_pylist())
    assert ids == Counter([*range(90), *range(100, 110)])
    assert listed_rows(embedded, repo_name, "integration") == 100
    assert duck_count(embedded, repo_name, "integration") == 100


def _trino(full: Stack) -> str:
    url = full.settings.trino_url
    assert url is not None, "the full stack's settings name Trino"
    return url


def test_trino_update_counts_and_merges(full: Stack, repo_name: str) -> None:
    setup(full, repo_name)
    session = full.session()
    url = _trino(full)
    create_snapshot(session, repo_name, "v1", "integration")
    create_branch(session, repo_name, "update", "integration")
    create_branch(session, repo_name, "insert", "integration")
    trino.query(url, "UPDATE trial.patients SET age = -1 WHERE id < 100", repo_name, "update")
    trino.query(url, "DELETE FROM trial.patients WHERE id >= 990", repo_name, "update")
    trino.query(
        url,
        "INSERT INTO trial.patients VALUES (2000, 'bern', 1), (2001, 'bern', 2)",
        repo_name,
        "insert",
    )
    # total-records counts the updated rows' old and new versions: 1,100
    assert listed_rows(full, repo_name, "update") == 990
    result = diff(full.session(), full.settings, repo_name, "v1", "update", rows=1)
    (table,) = result.tables
    assert table.rows is not None
    assert (table.rows.added, table.rows.removed, table.rows.changed) == (0, 10, 100)

    merge(session, repo_name, "update", "integration", settings=full.settings)
    merged = merge(session, repo_name, "insert", "integration", settings=full.settings)
    assert [t.how for t in merged.tables] == ["merged"]
    counted = trino.query(
        url,
        "SELECT count(*) AS n, count_if(age = -1) AS updated FROM trial.patients",
        repo_name,
        "integration",
    )
    assert counted.table.to_pylist() == [{"n": 992, "updated": 100}]
    assert listed_rows(full, repo_name, "integration") == 992


def test_duckdb_inserts_on_both_sides_merge(embedded: Stack, repo_name: str) -> None:
    setup(embedded, repo_name, rows=10)
    session = embedded.session()
    for name in ("a", "b"):
        create_branch(session, repo_name, name, "integration")

    def sql(statement: str, ref: str) -> None:
        duck.query(embedded.home.cache, embedded.settings, statement, repo_name, ref)

    sql("INSERT INTO trial.patients VALUES (100, 'bern', 1), (101, 'bern', 2)", "a")
    sql("INSERT INTO trial.patients VALUES (200, 'zurich', 3)", "b")
    sql("UPDATE trial.patients SET age = 99 WHERE id = 3", "b")
    merge(session, repo_name, "a", "integration", settings=embedded.settings)
    result = merge(session, repo_name, "b", "integration", settings=embedded.settings)
    assert [t.how for t in result.tables] == ["merged"]
    answer = duck.query(
        embedded.home.cache,
        embedded.settings,
        "SELECT id, age FROM trial.patients ORDER BY id",
        repo_name,
        "integration",
    )
    expected = [(i, 99 if i == 3 else i % 90) for i in range(10)]
    expected += [(100, 1), (101, 2), (200, 3)]
    assert [(r["id"], r["age"]) for r in answer.table.to_pylist()] == expected
    assert listed_rows(embedded, repo_name, "integration") == 13


def test_duckdb_columns_added_on_both_sides_merge(embedded: Stack, repo_name: str) -> None:
    setup(embedded, repo_name, rows=3)
    session = embedded.session()
    for name in ("a", "b"):
        create_branch(session, repo_name, name, "integration")

    def sql(statement: str, ref: str) -> pa.Table:
        return duck.query(embedded.home.cache, embedded.settings, statement, repo_name, ref).table

    sql("ALTER TABLE trial.patients ADD COLUMN score BIGINT", "a")
    sql("INSERT INTO trial.patients VALUES (100, 'bern', 1, 7)", "a")
    sql("ALTER TABLE trial.patients ADD COLUMN note VARCHAR", "b")
    sql("INSERT INTO trial.patients VALUES (200, 'zurich', 2, 'late')", "b")
    merge(session, repo_name, "a", "integration", settings=embedded.settings)
    result = merge(session, repo_name, "b", "integration", settings=embedded.settings)
    assert [t.how for t in result.tables] == ["merged"]
    rows = sql("SELECT id, score, note FROM trial.patients ORDER BY id", "integration")
    assert rows.to_pylist() == [
        {"id": 0, "score": None, "note": None},
        {"id": 1, "score": None, "note": None},
        {"id": 2, "score": None, "note": None},
        {"id": 100, "score": 7, "note": None},
        {"id": 200, "score": None, "note": "late"},
    ]


def test_duckdb_updates_of_the_same_row_conflict(embedded: Stack, repo_name: str) -> None:
    setup(embedded, repo_name, rows=10)
    session = embedded.session()
    for name in ("a", "b"):
        create_branch(session, repo_name, name, "integration")
    for ref, age in (("a", 50), ("b", 60)):
        duck.query(
            embedded.home.cache,
            embedded.settings,
            f"UPDATE trial.patients SET age = {age} WHERE id = 3",  # noqa: S608 - the test's ints
            repo_name,
            ref,
        )
    merge(session, repo_name, "a", "integration", settings=embedded.settings)
    with pytest.raises(MergeConflict, match="both sides deleted or updated the same 1 row"):
        merge(session, repo_name, "b", "integration", settings=embedded.settings)
    result = merge(
        session,
        repo_name,
        "b",
        "integration",
        strategies={"*": "theirs"},
        settings=embedded.settings,
    )
    assert [t.how for t in result.tables] == ["theirs"]
    assert listed_rows(embedded, repo_name, "integration") == 10


def test_tables_list_and_diff_name_every_unreadable_table_and_show_the_rest(
    embedded: Stack, repo_name: str
) -> None:
    base = setup(embedded, repo_name, rows=10)
    session = embedded.session()
    session.create_branch(repo_name, "planted", "integration")
    # one readable change for the diff to show beside the bad ones
    planted = catalog(embedded, f"{repo_name}.planted")
    planted.load_table("trial.patients").append(patients(range(10, 12)))
    # pointers that are not JSON or not an object, and one naming a missing metadata file
    session.upload_object(repo_name, "planted", table_pointer(("trial",), "broken"), b"not json")
    session.upload_object(repo_name, "planted", table_pointer(("trial",), "odd"), b"[1, 2]")
    missing = Pointer((embedded.home.root / "nowhere" / "00001.metadata.json").as_uri())
    session.upload_object(
        repo_name, "planted", table_pointer(("trial",), "gone"), missing.to_bytes()
    )
    session.commit(repo_name, "planted", "plant three bad pointers", {})

    def vxp(*args: str) -> subprocess.CompletedProcess[str]:
        return run_vxp(embedded, *args, "--repo", repo_name)

    listed = vxp("tables", "list", "--ref", "planted", "-f", "json")
    assert listed.returncode == 1, listed.stderr
    body = json.loads(listed.stdout)
    assert [(t["name"], t["rows"]) for t in body["tables"]] == [("patients", 12)]
    problems = {p["name"]: p for p in body["problems"]}
    assert sorted(problems) == ["broken", "gone", "odd"]
    assert "is malformed" in problems["broken"]["error"]
    assert "not a JSON object but an array" in problems["odd"]["error"]
    assert "cannot read table metadata" in problems["gone"]["error"]
    assert problems["gone"]["pointer"] == table_pointer(("trial",), "gone")
    assert "3 tables at planted could not be read" in listed.stderr
    shown = vxp("tables", "list", "--ref", "planted")
    assert "1 table (and 3 unreadable) in 1 namespace" in shown.stdout
    assert "trial.broken: " in listed.stderr and "trial.gone: " in listed.stderr
    compared = vxp("diff", "integration", "planted", "-f", "json")
    assert compared.returncode == 1, compared.stderr
    body = json.loads(compared.stdout)
    assert [(t["table"], t["change"]) for t in body["tables"]] == [("trial.patients", "changed")]
    assert [(p["name"], p["change"]) for p in body["problems"]] == [
        ("broken", "added"),
        ("gone", "added"),
        ("odd", "added"),
    ]
    assert "3 tables could not be compared (integration → planted)" in compared.stderr
    summary = vxp("diff", "integration", "planted").stdout
    assert "0 added, 1 changed, 0 dropped, 3 that could not be compared" in summary
    assert base.load_table("trial.patients").scan().to_arrow().num_rows == 10
