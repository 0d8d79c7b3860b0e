"""A delivery lands whole or not at all (issue 9, deliverables 2, 5 and 6) on the embedded stack:
invalid input writes nothing, a process killed at any step boundary leaves the layers as they were
(or lets a re-run complete them), and runs that race never split or share a surrogate key."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ingestion.crash_child import POINTS
from tests.integration.ingestion.ingest_support import (
    assert_history_sound,
    assert_keys_one_to_one,
    contents,
    dictionary,
    heads,
    ingest,
    key_map,
    layer_heads,
    new_repository,
    rows,
    table_names,
    write_delivery,
)
from tests.support import Stack
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.report import Outcome, RunReport
from vxp.ingestion.runs import Stage, list_runs, read_state
from vxp.lakefs import Session

pytestmark = pytest.mark.integration

SOURCE = "basel"
CHILD = Path(__file__).with_name("crash_child.py")
#: the example study's datasets and their key columns (ingestion/example_study.py)
KEYS = {
    "sites": ("siteid",),
    "dm": ("usubjid",),
    "vs": ("usubjid", "visitnum", "vstestcd"),
    "ae": ("usubjid", "aeseq"),
    "lb": ("usubjid", "visitnum", "lbtestcd"),
}


class Recorder:
    """A Progress that keeps what the run said."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def phase(
        self, name: str, total: int | None = None, unit: str = "items", items: int | None = None
    ) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None

    def say(self, message: str) -> None:
        self.said.append(message)


def assert_integration_sound(stack: Stack, repo: str, source: str = SOURCE) -> None:
    """Keys one-to-one and every history table sound at ``integration``."""
    assert_keys_one_to_one(rows(stack, repo, "integration", f"{source}.surrogate_keys"))
    present = table_names(stack, repo, "integration", source)
    assert f"{source}.dm_history" in present
    for dataset, key in KEYS.items():
        if f"{source}.{dataset}_history" in present:
            history = rows(stack, repo, "integration", f"{source}.{dataset}_history")
            assert_history_sound(history, key)


# --- invalid input ----------------------------------------------------------------------------


def test_an_invalid_delivery_reports_every_problem_and_writes_nothing(
    embedded: Stack, tmp_path: Path
) -> None:
    repo = new_repository(embedded)
    (good,) = write_example_study(tmp_path / "study", subjects=3, deliveries=1, seed=2)
    assert ingest(embedded, repo, SOURCE, good).outcome is Outcome.LANDED
    bad = write_delivery(
        tmp_path / "bad",
        {
            "contents.csv": dictionary(
                ("dm", "USUBJID", "string", "Y"),
                ("dm", "AGE", "int", ""),
                ("vs", "USUBJID", "string", "Y"),
                ("vs", "VISITNUM", "int", "Y"),
                ("vs", "VSORRES", "float", ""),
            ),
            "dm.csv": "USUBJID,AGE\nBASEL-001,30\nBASEL-002,40,extra\nBASEL-003,50\n",
            "vs.csv": "USUBJID,VISITNUM,VSORRES\nBASEL-001,1,1.5\nBASEL-001,2,2.5\nBASEL-002,x,3\n",
        },
    )
    session = embedded.session()
    before = session.branch_heads(repo)

    report = ingest(embedded, repo, SOURCE, bad)

    assert report.outcome is Outcome.INVALID
    assert report.outcome.exit_code == 1
    errors = [(p.code, p.file, p.line, p.column) for p in report.problems.sorted()]
    assert errors == [
        ("row.ragged", "dm.csv", 3, None),
        ("value.type", "vs.csv", 4, "VISITNUM"),
    ]
    assert all(p.message for p in report.problems.errors)
    assert [e["code"] for e in report.to_json()["errors"]] == ["row.ragged", "value.type"]
    # nothing on any branch: the same branches at the same commits, nothing staged
    assert session.branch_heads(repo) == before
    assert not any(session.has_uncommitted(repo, branch) for branch in before)
    assert report.run is None and report.commits == {}


# --- a process killed at every step boundary --------------------------------------------------

#: the boundaries after which ``source`` has the run (the source merge is done)
SOURCE_MERGED = {"source_merged", "integration_merged"}


@dataclass
class CrashStudy:
    deliveries: list[Path]
    #: what two uninterrupted runs of the deliveries leave, run ids and times left out
    expected: dict[str, list[str]]


@pytest.fixture(scope="module")
def crash_study(embedded: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashStudy]:
    deliveries = write_example_study(
        tmp_path_factory.mktemp("crash"), subjects=6, deliveries=2, seed=5
    )
    repo = new_repository(embedded)
    for folder in deliveries:
        assert ingest(embedded, repo, SOURCE, folder).outcome is Outcome.LANDED
    yield CrashStudy(deliveries, contents(embedded, repo, SOURCE))


@pytest.mark.parametrize("point", list(POINTS))
def test_a_run_killed_at_a_step_boundary_changes_nothing_or_is_completed_by_a_rerun(
    embedded: Stack, crash_study: CrashStudy, point: str
) -> None:
    first, second = crash_study.deliveries
    repo = new_repository(embedded)
    assert ingest(embedded, repo, SOURCE, first).outcome is Outcome.LANDED
    before = layer_heads(embedded, repo)

    child = subprocess.run(
        [sys.executable, str(CHILD), str(embedded.home.root), repo, SOURCE, str(second), point],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == -signal.SIGKILL, f"{point} not reached: {child.stderr}"

    killed = layer_heads(embedded, repo)
    if point not in SOURCE_MERGED:
        assert killed == before, "a run killed before its source merge moved a layer"
    elif point == "source_merged":
        assert killed["integration"] == before["integration"]
        assert killed["source"] != before["source"]
    else:
        assert killed["source"] != before["source"]
        assert killed["integration"] != before["integration"]

    rerun = ingest(embedded, repo, SOURCE, second)

    if point == "integration_merged":
        assert rerun.outcome is Outcome.UNCHANGED
        assert layer_heads(embedded, repo) == killed
    else:
        assert rerun.outcome is Outcome.LANDED, rerun.to_json()
        if point == "source_merged":
            # only the integration step was left: source is not merged again
            assert rerun.resumed
            assert layer_heads(embedded, repo)["source"] == killed["source"]
    # the same tables as two uninterrupted runs: nothing lost, nothing twice
    assert contents(embedded, repo, SOURCE) == crash_study.expected
    assert_integration_sound(embedded, repo)
    session = embedded.session()
    landed = [e.path for e in session.list_objects(repo, "source", f"raw/{SOURCE}/", delimiter="/")]
    assert len(landed) == 2, f"the second delivery landed more than once: {landed}"
    lineage = [e.path for e in session.list_objects(repo, "integration", "_vxp/lineage/")]
    assert len(lineage) == 2, lineage
    # the killed run was resumed, not left behind: no unfinished run, no run branch
    assert list_runs(session, repo) == []
    assert heads(embedded, repo).keys() == {"source", "integration"}


# --- runs that race ---------------------------------------------------------------------------


def merge_barrier(
    monkeypatch: pytest.MonkeyPatch, parties: int, destination: str
) -> threading.Barrier:
    """Make every thread wait, at its first merge into ``destination``, until all ``parties``
    threads are there: each has planned its keys and tables against the same layer head."""
    barrier = threading.Barrier(parties)
    waited = threading.local()
    original = Session.merge

    def merge(self: Session, repo: str, source: str, dest: str, *args: Any, **kwargs: Any) -> str:
        if dest == destination and not getattr(waited, "done", False):
            waited.done = True
            # the other run may fail before merging: then go on alone
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=300)
        return original(self, repo, source, dest, *args, **kwargs)

    monkeypatch.setattr(Session, "merge", merge)
    return barrier


@dataclass
class Race:
    repo: str
    deliveries: list[Path]
    outcomes: dict[int, RunReport | BaseException] = field(default_factory=dict)

    @property
    def winner(self) -> int:
        (won,) = [i for i, o in self.outcomes.items() if isinstance(o, RunReport)]
        return won

    @property
    def loser(self) -> int:
        return 1 - self.winner


def race(
    stack: Stack, repo: str, runs: list[tuple[str, Path]], progress: list[Recorder] | None = None
) -> dict[int, RunReport | BaseException]:
    """Ingest ``runs`` (source, delivery) at the same time, one thread each."""
    outcomes: dict[int, RunReport | BaseException] = {}

    def one(i: int) -> None:
        source, folder = runs[i]
        try:
            outcomes[i] = ingest(
                stack, repo, source, folder, progress=progress[i] if progress else None
            )
        except BaseException as exc:  # the test asserts which
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert not any(t.is_alive() for t in threads)
    return outcomes


@pytest.fixture
def same_source_race(
    embedded: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Race]:
    """Two different deliveries of ``basel`` (3 and 6 subjects; their visits' natural keys
    sort differently) planned against the same empty layers, then merged one after the other."""
    deliveries = write_example_study(tmp_path / "study", subjects=3, deliveries=2, seed=9)
    repo = new_repository(embedded)
    with monkeypatch.context() as patched:
        merge_barrier(patched, 2, "source")
        outcomes = race(embedded, repo, [(SOURCE, d) for d in deliveries])
    yield Race(repo, deliveries, outcomes)


def test_same_source_race_never_splits_or_shares_a_key(
    embedded: Stack, same_source_race: Race
) -> None:
    """The run that loses the ``source`` merge takes the winner's commits in (its own
    delivery staying the latest), lands on top, and re-plans its integration step against
    the winner's keys: both land, and no natural key has two keys or a key two natural keys."""
    race_ = same_source_race
    reports = [o for o in race_.outcomes.values() if isinstance(o, RunReport)]
    assert len(reports) == 2, race_.outcomes
    assert [r.outcome for r in reports] == [Outcome.LANDED, Outcome.LANDED]
    assert_integration_sound(embedded, race_.repo)
    keys = rows(embedded, race_.repo, "integration", f"{SOURCE}.surrogate_keys")
    # insert-only and one-to-one (assert_integration_sound checks both directions)
    assert {r["first_run_id"] for r in keys} <= {r.run for r in reports}
    assert list_runs(embedded.session(), race_.repo) == []


def test_after_a_same_source_race_the_latest_delivery_is_unchanged(
    embedded: Stack, same_source_race: Race
) -> None:
    """The run that merged last is the latest delivery: sending it again changes nothing."""
    race_ = same_source_race
    keys_before = key_map(rows(embedded, race_.repo, "integration", f"{SOURCE}.surrogate_keys"))
    heads_before = layer_heads(embedded, race_.repo)
    latest = read_state(embedded.session(), race_.repo, "integration", SOURCE, Stage.INTEGRATED)
    assert latest is not None
    (index,) = [
        i
        for i, outcome in race_.outcomes.items()
        if isinstance(outcome, RunReport) and outcome.run == latest.run
    ]
    again = ingest(embedded, race_.repo, SOURCE, race_.deliveries[index])
    assert again.outcome is Outcome.UNCHANGED
    assert layer_heads(embedded, race_.repo) == heads_before
    keys_after = key_map(rows(embedded, race_.repo, "integration", f"{SOURCE}.surrogate_keys"))
    assert keys_after == keys_before


def test_runs_of_two_sources_racing_into_integration_both_land(
    embedded: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser of the ``integration`` merge (both changed ``vxp.resources``) re-plans its
    integration step against the winner's result and lands; nothing of either is lost."""
    repo = new_repository(embedded)
    runs = [
        (source, write_example_study(tmp_path / source, subjects=3, deliveries=1, trial=source)[0])
        for source in ("basel", "lyon")
    ]
    recorders = [Recorder(), Recorder()]
    merge_barrier(monkeypatch, 2, "integration")
    outcomes = race(embedded, repo, runs, recorders)
    monkeypatch.undo()

    assert all(isinstance(o, RunReport) for o in outcomes.values()), outcomes
    reports = [o for o in outcomes.values() if isinstance(o, RunReport)]
    assert [r.outcome for r in reports] == [Outcome.LANDED, Outcome.LANDED]
    replanned = [any("re-planning" in m for m in r.said) for r in recorders]
    assert sorted(replanned) == [False, True], [r.said for r in recorders]
    for source, _ in runs:
        assert_integration_sound(embedded, repo, source)
    resources = rows(embedded, repo, "integration", "vxp.resources")
    current = {r["id"] for r in resources if r["is_current"]}
    assert {"trial/basel", "trial/lyon"} <= current
    assert {"trial/basel/subject/BASEL-001", "trial/lyon/subject/LYON-001"} <= current
    assert list_runs(embedded.session(), repo) == []
    assert heads(embedded, repo).keys() == {"source", "integration"}
