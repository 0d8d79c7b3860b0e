"""loadTable reads the ref's head commit each time and the pointer from the commit cache."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from tests.catalog.conftest import Admin, CatalogServer
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
