"""lakeFS versioning of catalog state: branching, isolation, time travel, merges."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.types import StringType

from tests.catalog.conftest import Admin, CatalogServer

ARROW = pa.schema([("id", pa.int64())])


def ids(values: list[int]) -> pa.Table:
    return pa.table({"id": values}, schema=ARROW)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_branching_copies_no_file(catalog_server: CatalogServer, repo: str, admin: Admin) -> None:
    cat = catalog_server.trial(repo, scoped=True)
    table = cat.create_table(("main", "trial", "t"), schema=ARROW)
    table.append(ids([1, 2]))
    before = files_under(catalog_server.warehouse_dir / repo)
    admin.branch("exp")
    on_main = cat.load_table(("main", "trial", "t"))
    on_exp = cat.load_table(("exp", "trial", "t"))
    assert on_main.metadata_location == on_exp.metadata_location
    assert files_under(catalog_server.warehouse_dir / repo) == before


def test_isolation_until_merge(catalog_server: CatalogServer, repo: str, admin: Admin) -> None:
    cat = catalog_server.trial(repo, scoped=True)
    cat.create_table(("main", "trial", "t"), schema=ARROW).append(ids([1]))
    admin.branch("exp")
    cat.load_table(("exp", "trial", "t")).append(ids([2, 3]))
    cat.create_table(("exp", "trial", "new"), schema=ARROW)
    assert cat.load_table(("main", "trial", "t")).scan().to_arrow().num_rows == 1
    assert not cat.table_exists(("main", "trial", "new"))
    assert admin.merge("exp", "main").status_code == 200
    assert cat.load_table(("main", "trial", "t")).scan().to_arrow().num_rows == 3
    assert cat.table_exists(("main", "trial", "new"))


def test_time_travel_by_commit_and_tag(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.t", schema=ARROW)
    table.append(ids([1, 2, 3]))
    commit = admin.head()
    admin.tag("v1", commit)

    table.overwrite(ids([9]))
    with table.update_schema() as update:
        update.add_column("note", StringType())
    cat.drop_table("trial.t")
    with pytest.raises(NoSuchTableError):
        cat.load_table("trial.t")

    for ref in (commit, "v1"):
        frozen = catalog_server.pyiceberg(f"{repo}.{ref}").load_table("trial.t")
        assert sorted(frozen.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
        assert [f.name for f in frozen.schema().fields] == ["id"]
    # the same through a repository-scoped warehouse
    repo_cat = catalog_server.pyiceberg(repo)
    assert repo_cat.load_table((commit, "trial", "t")).scan().to_arrow().num_rows == 3


def test_merge_different_tables_succeeds(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    cat = catalog_server.trial(repo, scoped=True)
    cat.create_table(("main", "trial", "a"), schema=ARROW)
    cat.create_table(("main", "trial", "b"), schema=ARROW)
    admin.branch("left")
    admin.branch("right")
    cat.load_table(("left", "trial", "a")).append(ids([1]))
    cat.load_table(("right", "trial", "b")).append(ids([2]))
    assert admin.merge("left", "main").status_code == 200
    assert admin.merge("right", "main").status_code == 200
    assert cat.load_table(("main", "trial", "a")).scan().to_arrow().num_rows == 1
    assert cat.load_table(("main", "trial", "b")).scan().to_arrow().num_rows == 1


def test_merge_same_table_conflicts(catalog_server: CatalogServer, repo: str, admin: Admin) -> None:
    cat = catalog_server.trial(repo, scoped=True)
    cat.create_table(("main", "trial", "a"), schema=ARROW)
    admin.branch("left")
    admin.branch("right")
    cat.load_table(("left", "trial", "a")).append(ids([1]))
    cat.load_table(("right", "trial", "a")).append(ids([2]))
    assert admin.merge("left", "main").status_code == 200
    conflict = admin.merge("right", "main")
    assert conflict.status_code == 409
    # main still holds exactly the left side's rows
    assert cat.load_table(("main", "trial", "a")).scan().to_arrow()["id"].to_pylist() == [1]
