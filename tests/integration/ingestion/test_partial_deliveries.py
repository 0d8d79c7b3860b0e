"""Deliveries that hold less than before never delete what they do not carry (found by a new
user: a delivery of `sites` alone closed every Subject and Visit resource, an empty folder
closed everything), and an earlier delivery sent again reverts to it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.integration.ingestion.ingest_support import heads, ingest, new_repository, rows
from tests.support import Stack
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.report import Outcome

SOURCE = "basel"


def _current(stack: Stack, repo: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows(stack, repo, "integration", "vxp.resources"):
        if row["is_current"]:
            counts[row["type"]] = counts.get(row["type"], 0) + 1
    return counts


def test_a_delivery_without_the_subject_datasets_keeps_subjects_and_visits(
    embedded: Stack, tmp_path: Path
) -> None:
    repo = new_repository(embedded)
    (first,) = write_example_study(tmp_path / "study", subjects=4, deliveries=1, seed=3)
    assert ingest(embedded, repo, SOURCE, first).outcome is Outcome.LANDED
    before = _current(embedded, repo)
    sites_only = tmp_path / "sites-only"
    sites_only.mkdir()
    shutil.copy(first / "sites.csv", sites_only / "sites.csv")
    lines = (first / "contents.csv").read_text().splitlines(keepends=True)
    (sites_only / "contents.csv").write_text(
        "".join([lines[0], *(line for line in lines[1:] if line.startswith("sites,"))])
    )

    report = ingest(embedded, repo, SOURCE, sites_only)

    assert report.outcome is Outcome.LANDED
    assert {p.code for p in report.problems.warnings} >= {"dataset.not_delivered"}
    assert _current(embedded, repo) == before
    assert "vxp.resources" not in {c.table for c in report.changes}


def test_an_empty_delivery_is_refused_and_writes_nothing(embedded: Stack, tmp_path: Path) -> None:
    repo = new_repository(embedded)
    (first,) = write_example_study(tmp_path / "study", subjects=3, deliveries=1, seed=4)
    ingest(embedded, repo, SOURCE, first)
    before = heads(embedded, repo)
    empty = tmp_path / "empty"
    empty.mkdir()

    report = ingest(embedded, repo, SOURCE, empty)

    assert report.outcome is Outcome.INVALID
    assert "delivery.empty" in {p.code for p in report.problems.errors}
    assert heads(embedded, repo) == before


def test_an_earlier_delivery_sent_again_reverts_to_it(embedded: Stack, tmp_path: Path) -> None:
    repo = new_repository(embedded)
    first, second = write_example_study(tmp_path / "study", subjects=3, deliveries=2, seed=5)
    ingest(embedded, repo, SOURCE, first)
    dm_first = sorted(r["usubjid"] for r in rows(embedded, repo, "integration", f"{SOURCE}.dm"))
    ingest(embedded, repo, SOURCE, second)
    assert ingest(embedded, repo, SOURCE, second).outcome is Outcome.UNCHANGED

    again = ingest(embedded, repo, SOURCE, first)

    assert again.outcome is Outcome.LANDED
    dm_now = sorted(r["usubjid"] for r in rows(embedded, repo, "integration", f"{SOURCE}.dm"))
    assert dm_now == dm_first


def _subjects(stack: Stack, repo: str) -> dict[str, dict[str, object]]:
    """The current Subject resources: id -> attributes."""
    return {
        str(row["id"]): json.loads(row["attributes"])
        for row in rows(stack, repo, "integration", "vxp.resources")
        if row["type"] == "Subject" and row["is_current"]
    }


def test_a_partial_delivery_never_reduces_subject_attributes(
    embedded: Stack, tmp_path: Path
) -> None:
    repo = new_repository(embedded)
    (first,) = write_example_study(tmp_path / "study", subjects=3, deliveries=1, seed=6)
    assert ingest(embedded, repo, SOURCE, first).outcome is Outcome.LANDED
    before = _subjects(embedded, repo)
    assert all(any(k.startswith("dm.") for k in a) for a in before.values()), before
    # the vital signs alone, as an incremental delivery: every subject is in it, dm is not
    vs_only = tmp_path / "vs-only"
    vs_only.mkdir()
    shutil.copy(first / "vs.csv", vs_only / "vs.csv")
    lines = (first / "contents.csv").read_text().splitlines(keepends=True)
    (vs_only / "contents.csv").write_text(
        "".join([lines[0], *(line for line in lines[1:] if line.startswith("vs,"))])
    )

    report = ingest(embedded, repo, SOURCE, vs_only, partial=True)

    assert report.outcome is Outcome.LANDED
    assert _subjects(embedded, repo) == before
    assert "vxp.resources" not in {c.table for c in report.changes}
