"""loadTable reads the ref's head commit each time and the pointer from the commit cache."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from tests.catalog.conftest import Admin, CatalogServer
from vxp.catalog import commits
from vxp.lakefs import Session

ARROW = pa.schema([("id", pa.int64())])


def test_loads_read_each_commit_once_and_follow_the_branch(
    catalog_server: CatalogServer, repo: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.t", schema=ARROW)
    table.append(pa.table({"id": [1]}, schema=ARROW))
    admin.branch("other")
    reads: list[tuple[str, str]] = []
    original = Session.get_object

    def counted(self: Session, repo_: str, ref: str, path: str) -> Any:
        if repo_ == repo:
            reads.append((ref, path))
        return original(self, repo_, ref, path)

    monkeypatch.setattr(Session, "get_object", counted)
    loaded = [cat.load_table("trial.t") for _ in range(3)]
    assert {t.metadata_location for t in loaded} == {table.metadata_location}
    # the pointer at main's head commit was read from lakeFS at most once
    assert len(reads) <= 1
    assert all(len(ref) == 64 for ref, _ in reads)  # read at a commit ID, never the branch

    # a change behind the catalog's back (a lakeFS merge) shows on the next load
    other = catalog_server.pyiceberg(f"{repo}.other").load_table("trial.t")
    other.append(pa.table({"id": [2]}, schema=ARROW))
    assert admin.merge("other", "main").status_code == 200
    assert cat.load_table("trial.t").metadata_location == other.metadata_location
    assert sorted(cat.load_table("trial.t").scan().to_arrow()["id"].to_pylist()) == [1, 2]


def _settled_lineage() -> None:
    # the landed commit's parent is checked on one background worker: wait for what is queued
    commits._lineage.submit(lambda: None).result(timeout=30)


def test_a_commit_after_the_catalogs_own_landing_reads_other_pointers_from_the_parent(
    catalog_server: CatalogServer, repo: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat = catalog_server.trial(repo)
    first = cat.create_table("trial.first", schema=ARROW)
    second = cat.create_table("trial.second", schema=ARROW)
    first.append(pa.table({"id": [1]}, schema=ARROW))
    second.append(pa.table({"id": [1]}, schema=ARROW))
    _settled_lineage()
    reads: list[str] = []
    original = Session.get_object

    def counted(self: Session, repo_: str, ref: str, path: str) -> Any:
        if repo_ == repo:
            reads.append(path)
        return original(self, repo_, ref, path)

    monkeypatch.setattr(Session, "get_object", counted)
    first.append(pa.table({"id": [2]}, schema=ARROW))
    _settled_lineage()
    # planned on the commit `first` just landed: `second`'s pointer comes from its parent
    second.append(pa.table({"id": [2]}, schema=ARROW))
    assert not [path for path in reads if "second" in path]

    # a change landed behind the catalog's back is never answered from an older commit
    admin.branch("other")
    behind = catalog_server.pyiceberg(f"{repo}.other").load_table("trial.second")
    behind.append(pa.table({"id": [3]}, schema=ARROW))
    assert admin.merge("other", "main").status_code == 200
    # (pyiceberg re-plans its append after the 409 it gets): planned on the stale pointer, the
    # append would have dropped row 3
    second.append(pa.table({"id": [4]}, schema=ARROW))
    rows = cat.load_table("trial.second").scan().to_arrow()["id"].to_pylist()
    assert sorted(rows) == [1, 2, 3, 4]
