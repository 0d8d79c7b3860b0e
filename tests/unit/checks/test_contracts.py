"""Contracts: parsing (every mistake with file, line and column) and the compiled SQL, run on an
in-memory DuckDB table that stands in for ``lake.<namespace>.<table>``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import pytest

from vxp.checks.contracts import compile_scan, parse_contract, run_contract

PATH = "_vxp/contracts/basel.patients.yaml"

GOOD = """
rows: {min: 1, max: 10}
freshness: {column: visit_date, max_age: 30d}
unique_key: [subject_id]
columns:
  subject_id: {not_null: true, regex: '^S[0-9]{3}$'}
  sex: {accepted_values: [F, M]}
  age: {min: 0, max: 120}
  site_id: {references: basel.sites.site_id}
  name: {phi: true}
"""


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    db = duckdb.connect()
    db.execute("ATTACH ':memory:' AS lake")
    db.execute("CREATE SCHEMA lake.basel")
    db.execute("CREATE TABLE lake.basel.sites (site_id INTEGER)")
    db.execute("INSERT INTO lake.basel.sites VALUES (1), (2)")
    db.execute(
        "CREATE TABLE lake.basel.patients (subject_id VARCHAR, sex VARCHAR, age INTEGER, "
        "site_id INTEGER, name VARCHAR, visit_date DATE)"
    )
    yield db
    db.close()


def _insert(conn: duckdb.DuckDBPyConnection, rows: list[tuple[object, ...]]) -> None:
    conn.executemany("INSERT INTO lake.basel.patients VALUES (?, ?, ?, ?, ?, ?)", rows)


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_good_contract_parses_with_every_rule() -> None:
    contract, problems = parse_contract(PATH, GOOD)
    assert problems == []
    assert contract is not None
    assert contract.table == "basel.patients"
    assert contract.unique_key == ("subject_id",)
    assert (contract.min_rows, contract.max_rows) == (1, 10)
    assert contract.phi == ("name",)
    assert contract.references == ("basel.sites",)
    assert [r.kind for r in contract.rules] == [
        "not_null",
        "regex",
        "accepted_values",
        "min",
        "max",
        "references",
    ]


def test_every_mistake_is_reported_at_once_with_line_and_column() -> None:
    text = "rows: {min: -1}\nbogus: 1\ncolumns:\n  age: {min: x, frobnicate: true}\n"
    contract, problems = parse_contract(PATH, text)
    assert contract is None
    where = [p.subject for p in problems]
    assert where == [f"{PATH}:1:7", f"{PATH}:2:1", f"{PATH}:4:14", f"{PATH}:4:17"]
    assert "unknown rule 'frobnicate'" in problems[3].message


def test_broken_yaml_names_its_line() -> None:
    _, problems = parse_contract(PATH, "columns: [\n")
    assert len(problems) == 1
    assert problems[0].subject.startswith(f"{PATH}:2:")


def test_one_scan_counts_every_rule() -> None:
    contract, _ = parse_contract(PATH, GOOD)
    assert contract is not None
    sql, params, labels = compile_scan(contract)
    assert sql.count("FROM") == 1
    assert params == ["^S[0-9]{3}$", "F", "M", 0, 120]
    assert labels == ["0", "1", "2", "3", "4", "unique_key"]


def test_a_table_that_keeps_the_contract_passes(conn: duckdb.DuckDBPyConnection) -> None:
    _insert(
        conn,
        [
            ("S001", "F", 30, 1, "Ann", datetime(2026, 11, 20).date()),
            ("S002", "M", 41, 2, "Bob", datetime(2026, 11, 25).date()),
        ],
    )
    contract, _ = parse_contract(PATH, GOOD)
    assert contract is not None
    assert run_contract(conn, contract, now=NOW) == []


def test_each_broken_rule_is_one_problem_with_offending_rows(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    old = datetime(2026, 1, 1).date()
    _insert(
        conn,
        [
            ("S001", "F", 30, 1, "Ann", old),
            ("S001", "X", 130, 9, "Bob", old),
            (None, "M", -1, 2, "Cy", old),
            ("bad", "M", 50, 2, "Di", old),
        ],
    )
    contract, _ = parse_contract(PATH, GOOD)
    assert contract is not None
    problems = run_contract(conn, contract, now=NOW)
    messages = sorted(p.message for p in problems)
    assert messages == sorted(
        [
            "1 of 4 rows break subject_id is not null",
            "1 of 4 rows break subject_id matches '^S[0-9]{3}$'",
            "1 of 4 rows break sex in ('F', 'M')",
            "1 of 4 rows break age >= 0",
            "1 of 4 rows break age <= 120",
            "2 rows break the unique key (subject_id): duplicated or null",
            "stale: the newest visit_date is 2026-01-01T00:00:00+00:00, older than 30 days, "
            "0:00:00 before 2026-12-01T00:00:00+00:00",
            "1 rows break site_id references basel.sites.site_id: no such key in basel.sites",
        ]
    )
    by_message = {p.message: p for p in problems}
    assert by_message["1 of 4 rows break sex in ('F', 'M')"].rows == (
        {"subject_id": "S001", "sex": "X"},
    )
    duplicates = by_message["2 rows break the unique key (subject_id): duplicated or null"]
    assert {"subject_id": "S001", "copies": 2} in duplicates.rows


def test_row_count_bounds(conn: duckdb.DuckDBPyConnection) -> None:
    contract, _ = parse_contract(PATH, "rows: {min: 1}\n")
    assert contract is not None
    problems = run_contract(conn, contract, now=NOW)
    assert [p.message for p in problems] == ["0 rows, fewer than the contract's minimum 1"]


def test_a_missing_column_is_a_problem_not_a_crash(conn: duckdb.DuckDBPyConnection) -> None:
    contract, _ = parse_contract(PATH, "columns:\n  weight: {not_null: true}\n")
    assert contract is not None
    (problem,) = run_contract(conn, contract, now=NOW)
    assert "lacks: weight" in problem.message
