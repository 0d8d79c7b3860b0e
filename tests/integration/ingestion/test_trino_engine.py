"""``vxp ingest study --engine trino`` (issue 9, deliverable 9) on the full stack: the integration
step as Trino SQL gives exactly the tables of the in-process engine.

Three deliveries are ingested with each engine into a repository of its own (the third
``--partial``). They carry corrections (the example study's weights, changed ECG values),
deletions (adverse events and an ECG row missing from the second, full delivery; nothing from
the partial third), new subjects, a new dataset and a new column,
a keyless dataset (replaced) and an entity of the study's own (``vxp-study.yaml``) whose natural
key holds a float, a datetime and a decimal, so both engines must spell natural keys alike.

Compared: every table of ``source`` and ``integration`` the runs wrote, row for row (as
multisets), with surrogate keys, versions, ``is_current`` and ``is_deleted``. Left out: the
columns that name the run or its time (``run_id``, ``first_run_id``, ``valid_from``,
``valid_to``): each repository's runs have their own ids and clocks. That they are consistent
within each repository is checked on their own (``valid_to`` of a closed version is
``valid_from`` of the next, ``run_id`` is the run that opened it).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ingestion.ingest_support import (
    assert_history_sound,
    assert_keys_one_to_one,
    contents,
    new_repository,
    rows,
)
from tests.support import Stack
from vxp.core.errors import NotFound
from vxp.domain.engines import Engine
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.report import Outcome, RunReport
from vxp.ingestion.study.plan import validate_study

pytestmark = pytest.mark.integration

SOURCE = "basel"

EXTRA_DICTIONARY = (
    "eg,USUBJID,Unique subject identifier,string,Y\n"
    "eg,EGTPT,Time point (h),double,Y\n"
    "eg,EGDTC,Date and time,datetime,Y\n"
    'eg,EGDOSE,Dose (mg),"decimal(6,2)",Y\n'
    "eg,EGORRES,Result,double,\n"
    "notes,SITEID,Site identifier,string,\n"
    "notes,NOTE,Note,string,\n"
)
STUDY_CONFIG = "entities:\n  timepoint: [USUBJID, EGTPT, EGDTC, EGDOSE]\n"
EG_HEADER = "USUBJID,EGTPT,EGDTC,EGDOSE,EGORRES\n"
EG_FIRST = (
    "BASEL-001,0.5,2026-01-05T10:00:00,1.50,410\n"
    "BASEL-001,2.0,2026-01-05T11:30:00.250000,1.50,405\n"
    "BASEL-002,12000000,2026-01-06T09:00:00,10.00,398\n"
    "BASEL-002,0.125,2026-01-06T09:15:00,0.05,402\n"
)
# the second delivery: one value corrected, one row gone (deleted), one new row
EG_SECOND = (
    "BASEL-001,0.5,2026-01-05T10:00:00,1.50,412\n"
    "BASEL-001,2.0,2026-01-05T11:30:00.250000,1.50,405\n"
    "BASEL-002,12000000,2026-01-06T09:00:00,10.00,398\n"
    "BASEL-003,1.25,2026-01-07T08:00:00,2.00,415\n"
)


def _edit_rows(path: Path, keep: Callable[[dict[str, str]], bool]) -> int:
    """Drop the rows of a delivered CSV file that ``keep`` refuses; how many were dropped."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        kept = list(reader)
    dropped = [row for row in kept if not keep(row)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row for row in kept if keep(row))
    return len(dropped)


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The example study's two deliveries, with the additions the module docstring lists."""
    study = tmp_path_factory.mktemp("trino-study")
    first, second = write_example_study(study, subjects=8, deliveries=2, seed=5)
    for folder, eg, notes in (
        (first, EG_FIRST, "01,first visit done\n02,closed for renovation\n"),
        (second, EG_SECOND, "01,first visit done\n03,opened\n"),
    ):
        with (folder / "contents.csv").open("a", encoding="utf-8") as handle:
            handle.write(EXTRA_DICTIONARY)
        (folder / "eg.csv").write_text(EG_HEADER + eg, encoding="utf-8")
        (folder / "notes.csv").write_text("SITEID,NOTE\n" + notes, encoding="utf-8")
        (folder / "vxp-study.yaml").write_text(STUDY_CONFIG, encoding="utf-8")
    # deletions: the first subject's adverse events are missing from the second delivery
    assert _edit_rows(second / "ae.csv", lambda row: row["USUBJID"] != "BASEL-001") > 0
    # a third, partial delivery: one ECG value corrected, the other rows absent but kept
    third = study / "partial-3"
    third.mkdir()
    (third / "contents.csv").write_text(
        "dataset,variable,label,type,key\n"
        + "".join(line + "\n" for line in EXTRA_DICTIONARY.splitlines() if line.startswith("eg,")),
        encoding="utf-8",
    )
    (third / "eg.csv").write_text(
        EG_HEADER + "BASEL-003,1.25,2026-01-07T08:00:00,2.00,417\n", encoding="utf-8"
    )
    (third / "vxp-study.yaml").write_text(STUDY_CONFIG, encoding="utf-8")
    return [first, second, third]


@dataclasses.dataclass
class Ingested:
    repo: str
    reports: list[RunReport]


def _ingest(full: Stack, folders: list[Path], engine: Engine) -> Ingested:
    repo = new_repository(full)
    reports = []
    for folder in folders:
        delivery = validate_study(folder)
        assert not delivery.problems.has_errors, delivery.problems
        partial = folder.name.startswith("partial")
        report = ingest_study(
            full.session(), full.settings, repo, SOURCE, delivery, engine=engine, partial=partial
        )
        assert report.outcome is Outcome.LANDED, report.to_json()
        reports.append(report)
    return Ingested(repo, reports)


@pytest.fixture(scope="module")
def engines(full: Stack, deliveries: list[Path]) -> dict[Engine, Ingested]:
    return {engine: _ingest(full, deliveries, engine) for engine in (Engine.duckdb, Engine.trino)}


def _changes(report: RunReport) -> list[dict[str, Any]]:
    return [c.to_json() for c in sorted(report.changes, key=lambda c: c.table)]


def test_both_engines_report_the_same_changes(engines: dict[Engine, Ingested]) -> None:
    duck, trino = engines[Engine.duckdb], engines[Engine.trino]
    for first, second in zip(duck.reports, trino.reports, strict=True):
        assert _changes(second) == _changes(first)
    # the second delivery corrected, deleted and replaced something
    second = {c["table"]: c for c in _changes(trino.reports[1])}
    assert second[f"{SOURCE}.dm"]["rows_changed"] > 0
    assert second[f"{SOURCE}.ae"]["rows_deleted"] > 0
    assert second[f"{SOURCE}.eg"] == {
        "table": f"{SOURCE}.eg",
        "rows_added": 1,
        "rows_changed": 1,
        "rows_deleted": 1,
        "replaced": False,
    }
    assert second[f"{SOURCE}.notes"]["replaced"]
    # the partial delivery changed one row and deleted nothing
    third = {c["table"]: c for c in _changes(trino.reports[2])}
    assert (third[f"{SOURCE}.eg"]["rows_changed"], third[f"{SOURCE}.eg"]["rows_deleted"]) == (1, 0)


def test_both_engines_write_the_same_tables(full: Stack, engines: dict[Engine, Ingested]) -> None:
    duck = contents(full, engines[Engine.duckdb].repo, SOURCE)
    trino = contents(full, engines[Engine.trino].repo, SOURCE)
    assert sorted(trino) == sorted(duck)
    for table in (
        f"integration:{SOURCE}.surrogate_keys",
        f"integration:{SOURCE}.eg_history",
        f"integration:{SOURCE}.notes",
        "integration:vxp.resources",
    ):
        assert duck.get(table), table
    differ = [table for table in duck if duck[table] != trino[table]]
    assert not differ, {t: (duck[t][:3], trino[t][:3]) for t in differ}


def test_trino_history_is_sound_and_names_its_runs(
    full: Stack, engines: dict[Engine, Ingested]
) -> None:
    ingested = engines[Engine.trino]
    runs = [r.run for r in ingested.reports]
    keys = rows(full, ingested.repo, "integration", f"{SOURCE}.surrogate_keys")
    assert_keys_one_to_one(keys)
    assert {r["first_run_id"] for r in keys} == set(runs[:2])  # the partial one adds no key
    history = rows(full, ingested.repo, "integration", f"{SOURCE}.eg_history")
    key = ("usubjid", "egtpt", "egdtc", "egdose")
    assert_history_sound(history, key)
    by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in history:
        by_key.setdefault(tuple(row[c] for c in key), []).append(row)
    for versions in by_key.values():
        versions.sort(key=lambda r: r["version"])
        assert versions[0]["run_id"] in runs
        for old, new in itertools.pairwise(versions):
            assert old["valid_to"] == new["valid_from"]
            assert new["run_id"] in runs[1:]
    deleted = [r for r in history if r["is_deleted"]]
    assert [(r["usubjid"], r["egtpt"]) for r in deleted] == [("BASEL-002", 0.125)]
    assert deleted[0]["valid_to"] is not None and not deleted[0]["is_current"]
    # every eg row has its timepoint's surrogate key, as the key table spells it
    current = rows(full, ingested.repo, "integration", f"{SOURCE}.eg")
    timepoints = {r["surrogate_key"] for r in keys if r["entity"] == "timepoint"}
    assert {r["timepoint_sk"] for r in current} <= timepoints
    assert all(r["timepoint_sk"] is not None for r in current)


def test_trino_engine_without_trino_is_refused_before_anything(
    full: Stack, deliveries: list[Path]
) -> None:
    repo = new_repository(full)
    before = full.session().branch_heads(repo)
    no_trino = dataclasses.replace(full.settings, trino_url=None)
    with pytest.raises(NotFound, match="--engine trino needs Trino"):
        ingest_study(
            full.session(),
            no_trino,
            repo,
            SOURCE,
            validate_study(deliveries[0]),
            engine=Engine.trino,
        )
    assert full.session().branch_heads(repo) == before
