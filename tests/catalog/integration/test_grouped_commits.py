"""Concurrent commits of one caller to one branch land together (one lakeFS commit and merge);
a conflicting one still answers 409 and nothing is lost."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pyarrow as pa
import pytest
from pyiceberg.exceptions import ForbiddenError

from tests.catalog.conftest import Admin, CatalogServer
from vxp.catalog import commits
from vxp.lakefs import Session

ARROW = pa.schema([("id", pa.int64())])
NEW_SCHEMA = {
    "type": "struct",
    "schema-id": 1,
    "fields": [
        {"id": 1, "name": "id", "required": False, "type": "long"},
        {"id": 2, "name": "extra", "required": False, "type": "string"},
    ],
}


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_concurrent_commits_share_one_lakefs_commit(
    catalog_server: CatalogServer, repo: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat = catalog_server.trial(repo)
    names = [f"t{i}" for i in range(5)]
    for name in names:
        cat.create_table(f"trial.{name}", schema=ARROW)
    base = f"/v1/{repo}.main/namespaces/trial/tables"
    landed: list[int] = []
    in_first = threading.Event()
    release = threading.Event()
    original = commits._land

    def gated(*args: Any, **kwargs: Any) -> None:
        landed.append(len(args[4]))  # how many objects this lakeFS commit writes
        if len(landed) == 1:
            in_first.set()
            assert release.wait(30)
        original(*args, **kwargs)

    monkeypatch.setattr(commits, "_land", gated)

    def evolve(name: str) -> dict[str, Any]:
        # both commits on t0 expect schema 0: only one of them can land
        return {
            "requirements": [{"type": "assert-current-schema-id", "current-schema-id": 0}],
            "updates": [
                {"action": "add-schema", "schema": NEW_SCHEMA, "last-column-id": 2},
                {"action": "set-current-schema", "schema-id": -1},
            ],
        }

    answers: dict[str, int] = {}
    with catalog_server.http() as http:

        def commit(label: str, name: str) -> None:
            answers[label] = http.post(f"{base}/{name}", json=evolve(name)).status_code

        first = threading.Thread(target=commit, args=("first", "t0"))
        first.start()
        in_first.wait(30)
        others = [threading.Thread(target=commit, args=(n, n)) for n in names[1:]]
        others.append(threading.Thread(target=commit, args=("t0 again", "t0")))
        for thread in others:
            thread.start()
        queue = next(q for key, q in commits._queues.items() if key[0] == repo)
        _wait_for(lambda: len(queue.waiting) == len(others), "the commits to queue")
        release.set()
        for thread in [first, *others]:
            thread.join(60)

    # the first alone; the four other tables together; the second change of t0 was planned on
    # top of the first and refused (its requirement no longer holds)
    assert answers == {"first": 200, "t1": 200, "t2": 200, "t3": 200, "t4": 200, "t0 again": 409}
    assert landed == [1, 4]
    grouped = [c for c in admin.log() if c["metadata"].get("vxp.catalog.action") == "commit-tables"]
    assert len(grouped) == 1
    metadata: Any = grouped[0]["metadata"]
    assert sorted(metadata["vxp.catalog.tables"].split(", ")) == [f"trial.{n}" for n in names[1:]]
    assert sorted(e["table"][-1] for e in json.loads(metadata["vxp.catalog.changes"])) == names[1:]
    for name in names:
        assert cat.load_table(f"trial.{name}").schema().find_field("extra")


def test_grouped_commits_wait_for_nothing_when_alone(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.t", schema=ARROW)
    table.append(pa.table({"id": [1]}, schema=ARROW))
    last = admin.log()[0]
    assert last["metadata"]["vxp.catalog.action"] == "commit-table"
    assert not any(q.busy or q.waiting for q in commits._queues.values())
    # temporary branches are deleted in the background, soon after the merge answered; one is
    # made ahead at the landed commit for this caller's next commit to the branch
    ahead = {spare.name for _, spare in commits.SPARES._spares.values()}
    _wait_for(
        lambda: {b for b in _all_branches(admin) if b.startswith("vxp-catalog-")} <= ahead,
        "the temporary branches to go",
    )
    commits.SPARES.close()
    assert not [b for b in _all_branches(admin) if b.startswith("vxp-catalog-")]


def test_a_callers_next_commit_lands_through_the_branch_made_ahead(
    catalog_server: CatalogServer, repo: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.t", schema=ARROW)
    table.append(pa.table({"id": [1]}, schema=ARROW))
    made: list[str] = []
    original = Session.create_branch

    def recorded(self: Session, repo_: str, name: str, source: str, **kwargs: Any) -> None:
        if repo_ == repo:
            made.append(threading.current_thread().name)
        original(self, repo_, name, source, **kwargs)

    monkeypatch.setattr(Session, "create_branch", recorded)
    for value in (2, 3):
        table.append(pa.table({"id": [value]}, schema=ARROW))
    # each landing made the next one's temporary branch off the request path
    assert made and all(name.startswith("vxp-catalog-ahead") for name in made)
    assert sorted(cat.load_table("trial.t").scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
    # writes addressed to it are refused: gc does not count it and the catalog deletes it soon
    commits.SPARES._maker.submit(lambda: None).result(timeout=30)
    (ahead,) = [s.name for _, s in commits.SPARES._spares.values() if s.repo == repo]
    on_ahead = catalog_server.pyiceberg(f"{repo}.{ahead}").load_table("trial.t")
    with pytest.raises(ForbiddenError, match="temporary branch"):
        on_ahead.append(pa.table({"id": [4]}, schema=ARROW))
    # a branch made ahead that is not used is deleted when the catalog stops
    commits.SPARES.close()
    assert not [b for b in _all_branches(admin) if b.startswith("vxp-catalog-")]


def _all_branches(admin: Admin) -> list[str]:
    response: httpx.Response = admin.client.get(
        f"/repositories/{admin.repo}/branches", params={"amount": 1000, "show_hidden": "true"}
    )
    response.raise_for_status()
    return [str(b["id"]) for b in response.json()["results"]]


def test_a_callers_next_commit_is_planned_on_its_last_landing_and_checked_against_the_head(
    catalog_server: CatalogServer, repo: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.t", schema=ARROW)
    table.append(pa.table({"id": [1]}, schema=ARROW))
    heads: list[str] = []
    reads = {"newest_commit_id": Session.newest_commit_id, "branch_head": Session.branch_head}

    def recorded(name: str) -> Any:
        def read(self: Session, repo_: str, ref: str) -> str | None:
            if repo_ == repo:
                heads.append(threading.current_thread().name)
            return reads[name](self, repo_, ref)

        return read

    for name in reads:
        monkeypatch.setattr(Session, name, recorded(name))
    table.append(pa.table({"id": [2]}, schema=ARROW))
    # planned on the commit the first append landed; the head was read alongside the staging
    assert heads and not [name for name in heads if not name.startswith("vxp-catalog-upload")]

    # the head moves on behind the catalog's back (another writer, a lakeFS merge)
    admin.branch("other")
    behind = catalog_server.pyiceberg(f"{repo}.other").load_table("trial.t")
    behind.append(pa.table({"id": [3]}, schema=ARROW))
    assert admin.merge("other", "main").status_code == 200
    # a client that loaded the new head asserts its snapshot: on the commit the catalog last
    # landed that requirement fails, so the answer waits for the head, where it holds
    fresh = cat.load_table("trial.t")
    fresh.append(pa.table({"id": [4]}, schema=ARROW))
    # and a client still holding the older metadata gets its 409 from the head, re-plans, and
    # loses nothing (pyiceberg retries the append itself)
    table.append(pa.table({"id": [5]}, schema=ARROW))
    rows = cat.load_table("trial.t").scan().to_arrow()["id"].to_pylist()
    assert sorted(rows) == [1, 2, 3, 4, 5]
