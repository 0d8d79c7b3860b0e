"""Deliveries over time and surrogate keys (issue 9, deliverables 4 and 5) on the embedded stack.

The example study's deliveries are the input; what each test expects is read from the delivered
CSV files themselves, never from the implementation.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.types import LongType

from tests.integration.ingestion.ingest_support import (
    ENTITY_COLUMNS,
    SCD2_COLUMNS,
    assert_history_sound,
    assert_keys_one_to_one,
    dictionary,
    ingest,
    key_map,
    layer_heads,
    natural_key,
    new_repository,
    rows,
    table_names,
    write_delivery,
)
from tests.support import Stack, catalog
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.report import Outcome, RunReport

pytestmark = pytest.mark.integration

SOURCE = "basel"
#: the example study's datasets and their key columns (ingestion/example_study.py)
KEYS = {
    "sites": ("siteid",),
    "dm": ("usubjid",),
    "vs": ("usubjid", "visitnum", "vstestcd"),
    "ae": ("usubjid", "aeseq"),
    "lb": ("usubjid", "visitnum", "lbtestcd"),
}


def csv_rows(path: Path) -> list[dict[str, str]]:
    """A delivered CSV file's rows, column names lower-cased as validation does."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [{k.lower(): v for k, v in row.items()} for row in csv.DictReader(handle)]


@dataclass
class Generated:
    """Two deliveries of the example study, ingested one after the other, then the second one
    again from another folder (identical bytes)."""

    repo: str
    deliveries: list[Path]
    reports: list[RunReport] = field(default_factory=list)
    #: layer heads after each landed delivery
    after: list[dict[str, str]] = field(default_factory=list)
    #: the identical re-delivery: its report, and every branch head before and after it
    again: RunReport | None = None
    branches_before_again: dict[str, str] = field(default_factory=dict)
    branches_after_again: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def generated(embedded: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    study = tmp_path_factory.mktemp("study")
    deliveries = write_example_study(study, subjects=10, deliveries=2, seed=11)
    state = Generated(new_repository(embedded), deliveries)
    for folder in deliveries:
        report = ingest(embedded, state.repo, SOURCE, folder)
        assert report.outcome is Outcome.LANDED, report.to_json()
        state.reports.append(report)
        state.after.append(layer_heads(embedded, state.repo))
    copy = shutil.copytree(deliveries[-1], study / "same-bytes-elsewhere")
    state.branches_before_again = embedded.session().branch_heads(state.repo)
    state.again = ingest(embedded, state.repo, SOURCE, copy)
    state.branches_after_again = embedded.session().branch_heads(state.repo)
    yield state


def test_first_delivery_inserts_every_row_at_version_1(
    embedded: Stack, generated: Generated
) -> None:
    at = generated.after[0]["integration"]
    history = rows(embedded, generated.repo, at, f"{SOURCE}.dm_history")
    delivered = csv_rows(generated.deliveries[0] / "dm.csv")
    assert sorted(r["usubjid"] for r in history) == sorted(r["usubjid"] for r in delivered)
    assert {r["version"] for r in history} == {1}
    assert all(r["is_current"] and not r["is_deleted"] for r in history)
    assert all(r["valid_to"] is None for r in history)
    assert {r["run_id"] for r in history} == {generated.reports[0].run}
    change = {c.table: c for c in generated.reports[0].changes}[f"{SOURCE}.dm"]
    assert (change.added, change.changed, change.deleted) == (len(delivered), 0, 0)


def test_a_corrected_value_closes_the_old_version_and_opens_the_next(
    embedded: Stack, generated: Generated
) -> None:
    first = {r["usubjid"]: r for r in csv_rows(generated.deliveries[0] / "dm.csv")}
    second = {r["usubjid"]: r for r in csv_rows(generated.deliveries[1] / "dm.csv")}
    corrected = sorted(s for s in first if first[s]["weight"] != second[s]["weight"])
    assert corrected, "the example study corrects weights in its second delivery"
    history = rows(embedded, generated.repo, "integration", f"{SOURCE}.dm_history")
    for subject in corrected:
        versions = sorted(
            (r for r in history if r["usubjid"] == subject), key=lambda r: r["version"]
        )
        assert [r["version"] for r in versions] == [1, 2]
        old, new = versions
        assert old["weight"] == Decimal(first[subject]["weight"])
        assert new["weight"] == Decimal(second[subject]["weight"])
        assert old["valid_to"] is not None and old["valid_to"] == new["valid_from"]
        assert (old["is_current"], old["is_deleted"]) == (False, False)
        assert (new["is_current"], new["valid_to"], new["is_deleted"]) == (True, None, False)
        assert old["run_id"] == generated.reports[0].run
        assert new["run_id"] == generated.reports[1].run
    current = {r["usubjid"]: r for r in rows(embedded, generated.repo, "integration", "basel.dm")}
    assert all(current[s]["weight"] == Decimal(second[s]["weight"]) for s in corrected)


def test_new_subjects_open_at_version_1(embedded: Stack, generated: Generated) -> None:
    first = {r["usubjid"] for r in csv_rows(generated.deliveries[0] / "dm.csv")}
    second = {r["usubjid"] for r in csv_rows(generated.deliveries[1] / "dm.csv")}
    history = rows(embedded, generated.repo, "integration", f"{SOURCE}.dm_history")
    for subject in sorted(second - first):
        versions = [r for r in history if r["usubjid"] == subject]
        assert [(r["version"], r["is_current"]) for r in versions] == [(1, True)]
        assert versions[0]["run_id"] == generated.reports[1].run
    change = {c.table: c for c in generated.reports[1].changes}[f"{SOURCE}.dm"]
    assert change.added == len(second - first)
    assert change.deleted == 0


def test_a_new_column_is_null_in_older_history_rows(embedded: Stack, generated: Generated) -> None:
    assert "height" not in csv_rows(generated.deliveries[0] / "dm.csv")[0]
    delivered = {r["usubjid"]: r for r in csv_rows(generated.deliveries[1] / "dm.csv")}
    history = rows(embedded, generated.repo, "integration", f"{SOURCE}.dm_history")
    older = [r for r in history if r["run_id"] == generated.reports[0].run]
    assert older and all(r["height"] is None for r in older)
    current = [r for r in history if r["is_current"]]
    assert {r["usubjid"]: r["height"] for r in current} == {
        s: int(r["height"]) for s, r in delivered.items()
    }
    # the table the first delivery wrote had no such column; the layer's has it now
    schema_then = catalog(embedded, f"{generated.repo}.{generated.after[0]['integration']}")
    assert "height" not in schema_then.load_table(f"{SOURCE}.dm").schema().column_names
    assert (
        "height"
        in catalog(embedded, f"{generated.repo}.integration")
        .load_table(f"{SOURCE}.dm")
        .schema()
        .column_names
    )


def test_a_new_dataset_creates_new_tables(embedded: Stack, generated: Generated) -> None:
    assert not (generated.deliveries[0] / "lb.csv").exists()
    repo, (first, second) = generated.repo, generated.after
    assert f"{SOURCE}.lb" not in table_names(embedded, repo, first["integration"], SOURCE)
    assert f"raw_{SOURCE}.lb" not in table_names(embedded, repo, first["source"], f"raw_{SOURCE}")
    now = table_names(embedded, repo, second["integration"], SOURCE)
    assert {f"{SOURCE}.lb", f"{SOURCE}.lb_history"} <= now
    assert f"raw_{SOURCE}.lb" in table_names(embedded, repo, second["source"], f"raw_{SOURCE}")
    delivered = csv_rows(generated.deliveries[1] / "lb.csv")
    assert len(rows(embedded, repo, "integration", f"{SOURCE}.lb")) == len(delivered)
    assert len(rows(embedded, repo, "source", f"raw_{SOURCE}.lb")) == len(delivered)


@pytest.mark.parametrize("dataset", sorted(KEYS))
def test_current_table_is_the_current_rows_of_the_history(
    embedded: Stack, generated: Generated, dataset: str
) -> None:
    repo = generated.repo
    history = rows(embedded, repo, "integration", f"{SOURCE}.{dataset}_history")
    assert_history_sound(history, KEYS[dataset])
    current = [
        {k: v for k, v in r.items() if k not in SCD2_COLUMNS} for r in history if r["is_current"]
    ]
    table = rows(embedded, repo, "integration", f"{SOURCE}.{dataset}")

    def order(listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(listing, key=lambda r: [str(r[k]) for k in KEYS[dataset]])

    assert order(table) == order(current)
    assert len(table) == len(csv_rows(generated.deliveries[-1] / f"{dataset}.csv"))
    # the same through SQL, as a user reads it
    with embedded.client(repo) as client:
        counted = client.query(
            f"SELECT count(*) AS n FROM {SOURCE}.{dataset}_history WHERE is_current"  # noqa: S608
        ).column("n")[0]
    assert counted.as_py() == len(table)


def test_identical_redelivery_is_unchanged_and_commits_nothing(generated: Generated) -> None:
    again = generated.again
    assert again is not None
    assert again.outcome is Outcome.UNCHANGED
    assert again.run == generated.reports[1].run
    assert again.commits == {}
    assert generated.branches_after_again == generated.branches_before_again
    assert again.to_json()["outcome"] == "unchanged"


def test_surrogate_keys_are_stable_insert_only_and_one_to_one(
    embedded: Stack, generated: Generated
) -> None:
    repo = generated.repo
    before = rows(embedded, repo, generated.after[0]["integration"], f"{SOURCE}.surrogate_keys")
    after = rows(embedded, repo, "integration", f"{SOURCE}.surrogate_keys")
    assert_keys_one_to_one(before)
    assert_keys_one_to_one(after)
    # insert-only: every row of the first delivery's keys is still there, unchanged
    assert {tuple(sorted(r.items())) for r in before} <= {tuple(sorted(r.items())) for r in after}
    assert {r["first_run_id"] for r in before} == {generated.reports[0].run}
    added = [r for r in after if r["first_run_id"] == generated.reports[1].run]
    assert len(after) == len(before) + len(added)
    # every natural key the deliveries hold has a key
    keys = key_map(after)
    for dataset in KEYS:
        delivered = csv_rows(generated.deliveries[-1] / f"{dataset}.csv")
        for entity, columns in ENTITY_COLUMNS.items():
            if all(c in delivered[0] for c in columns):
                for row in delivered:
                    value = [int(row[c]) if c == "visitnum" else row[c] for c in columns]
                    assert (entity, natural_key(value)) in keys


@pytest.mark.parametrize("dataset", sorted(KEYS))
def test_tables_carry_the_keys_of_the_entities_they_hold(
    embedded: Stack, generated: Generated, dataset: str
) -> None:
    repo = generated.repo
    keys = key_map(rows(embedded, repo, "integration", f"{SOURCE}.surrogate_keys"))
    for table in (f"{SOURCE}.{dataset}", f"{SOURCE}.{dataset}_history"):
        found = rows(embedded, repo, "integration", table)
        columns = set(found[0])
        held = {e for e, cols in ENTITY_COLUMNS.items() if all(c in columns for c in cols)}
        assert {c for c in columns if c.endswith("_sk")} == {f"{e}_sk" for e in held}, table
        for row in found:
            for entity in held:
                value = [row[c] for c in ENTITY_COLUMNS[entity]]
                assert row[f"{entity}_sk"] == keys[(entity, natural_key(value))], (table, row)


def test_summary_counts_the_rows_of_raw_tables(generated: Generated) -> None:
    # the --ci summary's per-table rows: a raw table replaced by a delivery of n rows
    changes = {c.table: c for c in generated.reports[1].changes}
    delivered = len(csv_rows(generated.deliveries[1] / "dm.csv"))
    assert changes[f"raw_{SOURCE}.dm"].replaced
    assert changes[f"raw_{SOURCE}.dm"].added == delivered
    # the first delivery had nothing to replace
    first = {c.table: c for c in generated.reports[0].changes}
    assert not first[f"raw_{SOURCE}.dm"].replaced


# --- full and partial deliveries, datasets without key ---------------------------------------

DM_NOTES = dictionary(
    ("dm", "USUBJID", "string", "Y"),
    ("dm", "AGE", "int", ""),
    ("notes", "TEXT", "string", ""),
    ("notes", "N", "int", ""),
)


@dataclass
class FullAndPartial:
    repo: str
    reports: dict[str, list[RunReport]]


@pytest.fixture(scope="module")
def full_and_partial(
    embedded: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FullAndPartial]:
    """Source ``full`` and source ``part`` get the same two deliveries; the second lacks S3 and
    has other notes. ``part`` gets the second as a partial delivery."""
    folder = tmp_path_factory.mktemp("full-partial")
    first = write_delivery(
        folder / "1",
        {
            "contents.csv": DM_NOTES,
            "dm.csv": "USUBJID,AGE\nS1,30\nS2,40\nS3,50\n",
            "notes.csv": "TEXT,N\nhello,1\nworld,2\n",
        },
    )
    second = write_delivery(
        folder / "2",
        {
            "contents.csv": DM_NOTES,
            "dm.csv": "USUBJID,AGE\nS1,31\nS2,40\n",
            "notes.csv": "TEXT,N\nreplaced,3\n",
        },
    )
    repo = new_repository(embedded)
    reports: dict[str, list[RunReport]] = {}
    for source, partial in (("full", False), ("part", True)):
        reports[source] = [
            ingest(embedded, repo, source, first),
            ingest(embedded, repo, source, second, partial=partial),
        ]
        assert [r.outcome for r in reports[source]] == [Outcome.LANDED] * 2
    yield FullAndPartial(repo, reports)


def test_a_full_delivery_closes_a_missing_row_as_deleted(
    embedded: Stack, full_and_partial: FullAndPartial
) -> None:
    history = rows(embedded, full_and_partial.repo, "integration", "full.dm_history")
    assert_history_sound(history, ["usubjid"])
    s3 = [r for r in history if r["usubjid"] == "S3"]
    assert len(s3) == 1
    assert (s3[0]["is_current"], s3[0]["is_deleted"]) == (False, True)
    assert s3[0]["valid_to"] is not None
    current = rows(embedded, full_and_partial.repo, "integration", "full.dm")
    assert sorted(r["usubjid"] for r in current) == ["S1", "S2"]
    change = {c.table: c for c in full_and_partial.reports["full"][1].changes}["full.dm"]
    assert (change.added, change.changed, change.deleted) == (0, 1, 1)


def test_a_partial_delivery_leaves_missing_rows_alone(
    embedded: Stack, full_and_partial: FullAndPartial
) -> None:
    history = rows(embedded, full_and_partial.repo, "integration", "part.dm_history")
    assert_history_sound(history, ["usubjid"])
    s3 = [r for r in history if r["usubjid"] == "S3"]
    assert [(r["version"], r["is_current"], r["is_deleted"]) for r in s3] == [(1, True, False)]
    current = {
        r["usubjid"]: r["age"]
        for r in rows(embedded, full_and_partial.repo, "integration", "part.dm")
    }
    assert current == {"S1": 31, "S2": 40, "S3": 50}
    change = {c.table: c for c in full_and_partial.reports["part"][1].changes}["part.dm"]
    assert (change.added, change.changed, change.deleted) == (0, 1, 0)


@pytest.mark.parametrize("source", ["full", "part"])
def test_a_dataset_without_key_is_replaced_per_delivery(
    embedded: Stack, full_and_partial: FullAndPartial, source: str
) -> None:
    repo = full_and_partial.repo
    notes = rows(embedded, repo, "integration", f"{source}.notes")
    assert [(r["text"], r["n"]) for r in notes] == [("replaced", 3)]
    assert f"{source}.notes_history" not in table_names(embedded, repo, "integration", source)
    # its history is the lakeFS log: the first delivery's rows at the first run's commit
    first = full_and_partial.reports[source][0].commits["integration"]
    assert sorted((r["text"], r["n"]) for r in rows(embedded, repo, first, f"{source}.notes")) == [
        ("hello", 1),
        ("world", 2),
    ]
    # the report says it was replaced
    change = {c.table: c for c in full_and_partial.reports[source][1].changes}[f"{source}.notes"]
    assert change.replaced and (change.added, change.deleted) == (1, 2)


# --- schema changes between deliveries ------------------------------------------------------


@dataclass
class Evolved:
    repo: str
    reports: list[RunReport]


@pytest.fixture(scope="module")
def evolved(embedded: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evolved]:
    """Delivery 1: dm (USUBJID, AGE int, ARM) and ae. Delivery 2: dm with AGE widened to long
    (a value only a long holds) and no ARM; no ae."""
    folder = tmp_path_factory.mktemp("evolved")
    first = write_delivery(
        folder / "1",
        {
            "contents.csv": dictionary(
                ("dm", "USUBJID", "string", "Y"),
                ("dm", "AGE", "int", ""),
                ("dm", "ARM", "string", ""),
                ("ae", "USUBJID", "string", "Y"),
                ("ae", "AESEQ", "int", "Y"),
                ("ae", "AETERM", "string", ""),
            ),
            "dm.csv": "USUBJID,AGE,ARM\nS1,30,A\nS2,40,B\n",
            "ae.csv": "USUBJID,AESEQ,AETERM\nS1,1,HEADACHE\nS2,1,NAUSEA\n",
        },
    )
    second = write_delivery(
        folder / "2",
        {
            "contents.csv": dictionary(("dm", "USUBJID", "string", "Y"), ("dm", "AGE", "long", "")),
            "dm.csv": "USUBJID,AGE\nS1,5000000000\nS2,40\n",
        },
    )
    repo = new_repository(embedded)
    reports = [ingest(embedded, repo, SOURCE, first), ingest(embedded, repo, SOURCE, second)]
    assert [r.outcome for r in reports] == [Outcome.LANDED] * 2, [r.to_json() for r in reports]
    yield Evolved(repo, reports)


def test_a_column_that_disappears_is_kept_and_null_in_new_versions(
    embedded: Stack, evolved: Evolved
) -> None:
    history = rows(embedded, evolved.repo, "integration", f"{SOURCE}.dm_history")
    s1 = sorted((r for r in history if r["usubjid"] == "S1"), key=lambda r: r["version"])
    assert [(r["version"], r["arm"]) for r in s1] == [(1, "A"), (2, None)]
    current = rows(embedded, evolved.repo, "integration", f"{SOURCE}.dm")
    assert "arm" in current[0]
    assert {r["usubjid"]: r["arm"] for r in current} == {"S1": None, "S2": None}


def test_a_column_that_disappears_is_a_warning(evolved: Evolved) -> None:
    warnings = evolved.reports[1].problems.warnings
    found = [(p.file, p.column) for p in warnings if p.code == "schema.column_missing"]
    assert found == [("dm.csv", "arm")], warnings
    assert any("'arm'" in w for w in evolved.reports[1].to_json()["warnings"])
    assert not evolved.reports[0].problems.warnings


def test_a_dataset_that_disappears_is_untouched(embedded: Stack, evolved: Evolved) -> None:
    repo, first = evolved.repo, evolved.reports[0].commits["integration"]
    for table in (f"{SOURCE}.ae", f"{SOURCE}.ae_history"):
        then = catalog(embedded, f"{repo}.{first}").load_table(table).current_snapshot()
        now = catalog(embedded, f"{repo}.integration").load_table(table).current_snapshot()
        assert then is not None and now is not None
        assert now.snapshot_id == then.snapshot_id, f"{table} was rewritten"
    history = rows(embedded, repo, "integration", f"{SOURCE}.ae_history")
    assert all(r["is_current"] and not r["is_deleted"] for r in history)
    assert f"{SOURCE}.ae" not in {c.table for c in evolved.reports[1].changes}


def test_a_dataset_that_disappears_is_a_warning(evolved: Evolved) -> None:
    warnings = evolved.reports[1].problems.warnings
    missing = [p.message for p in warnings if p.code == "dataset.not_delivered"]
    assert len(missing) == 1 and "'ae'" in missing[0], warnings
    assert any("'ae'" in w for w in evolved.reports[1].to_json()["warnings"])


def test_a_widening_type_change_widens_the_column(embedded: Stack, evolved: Evolved) -> None:
    repo = evolved.repo
    for ref, table in (
        ("integration", f"{SOURCE}.dm"),
        ("integration", f"{SOURCE}.dm_history"),
        ("source", f"raw_{SOURCE}.dm"),
    ):
        schema = catalog(embedded, f"{repo}.{ref}").load_table(table).schema()
        assert isinstance(schema.find_field("age").field_type, LongType), table
    history = rows(embedded, repo, "integration", f"{SOURCE}.dm_history")
    ages = sorted((r["usubjid"], r["version"], r["age"]) for r in history)
    assert ages == [("S1", 1, 30), ("S1", 2, 5000000000), ("S2", 1, 40), ("S2", 2, 40)]


def test_a_narrowing_type_change_is_invalid_and_writes_nothing(
    embedded: Stack, tmp_path: Path
) -> None:
    repo = new_repository(embedded)
    first = write_delivery(
        tmp_path / "1",
        {
            "contents.csv": dictionary(("dm", "USUBJID", "string", "Y"), ("dm", "AGE", "long", "")),
            "dm.csv": "USUBJID,AGE\nS1,30\nS2,40\n",
        },
    )
    narrowed = write_delivery(
        tmp_path / "2",
        {
            "contents.csv": dictionary(("dm", "USUBJID", "string", "Y"), ("dm", "AGE", "int", "")),
            "dm.csv": "USUBJID,AGE\nS1,31\nS2,40\n",
        },
    )
    assert ingest(embedded, repo, SOURCE, first).outcome is Outcome.LANDED
    before = embedded.session().branch_heads(repo)
    report = ingest(embedded, repo, SOURCE, narrowed)
    assert report.outcome is Outcome.INVALID
    assert [p.code for p in report.problems.errors] == ["schema.type_change"]
    problem = report.problems.errors[0]
    assert (problem.file, (problem.column or "").lower()) == ("dm.csv", "age")
    # nothing written on any branch: no run branch, no layer moved
    assert embedded.session().branch_heads(repo) == before
    schema = catalog(embedded, f"{repo}.integration").load_table(f"{SOURCE}.dm").schema()
    assert isinstance(schema.find_field("age").field_type, LongType)
