"""Table lifecycle through pyiceberg against the real catalog and lakeFS."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import StringType

from tests.catalog.conftest import Admin, CatalogServer

ARROW = pa.schema([("id", pa.int64()), ("site", pa.string()), ("age", pa.int32())])


def rows(ids: list[int], site: str = "basel") -> pa.Table:
    return pa.table(
        {"id": ids, "site": [site] * len(ids), "age": [30 + i for i in ids]}, schema=ARROW
    )


def test_table_lifecycle(catalog_server: CatalogServer, repo: str, admin: Admin) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.patients", schema=ARROW)
    assert table.location().startswith(catalog_server.settings.warehouse_root + f"/{repo}/trial/")
    with pytest.raises(TableAlreadyExistsError):
        cat.create_table("trial.patients", schema=ARROW)
    assert cat.list_tables("trial") == [("trial", "patients")]
    assert cat.table_exists("trial.patients")

    table.append(rows([1, 2, 3]))
    table.append(rows([4, 5], site="zurich"))
    assert cat.load_table("trial.patients").scan().to_arrow().num_rows == 5

    # every table commit is one lakeFS commit naming table, snapshot and operation
    last = admin.log()[0]
    metadata = last["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["vxp.catalog.action"] == "commit-table"
    assert metadata["vxp.catalog.caller"] == "admin"
    [change] = json.loads(metadata["vxp.catalog.changes"])
    assert change["table"] == ["trial", "patients"] and change["operation"] == "append"
    assert change["snapshot-id"] == table.refresh().current_snapshot().snapshot_id  # type: ignore[union-attr]
    # no temporary branch is left behind
    assert admin.branches() == ["main"]

    table.overwrite(rows([10, 11]))
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [10, 11]

    table.delete("id == 10")
    assert table.scan().to_arrow()["id"].to_pylist() == [11]

    # schema evolution
    with table.update_schema() as update:
        update.add_column("diagnosis", StringType())
        update.rename_column("age", "age_years")
    table.append(
        pa.table(
            {"id": [12], "site": ["bern"], "age_years": [50], "diagnosis": ["x"]},
            schema=pa.schema(
                [
                    ("id", pa.int64()),
                    ("site", pa.string()),
                    ("age_years", pa.int32()),
                    ("diagnosis", pa.string()),
                ]
            ),
        )
    )
    reloaded = cat.load_table("trial.patients")
    assert reloaded.schema().find_field("diagnosis")
    assert reloaded.scan().to_arrow().num_rows == 2

    # partition evolution, then a filtered scan
    with reloaded.update_spec() as spec:
        spec.add_field("site", IdentityTransform(), "site")
    reloaded.append(
        pa.table(
            {
                "id": [20, 21],
                "site": ["basel", "zurich"],
                "age_years": [40, 41],
                "diagnosis": ["a", "b"],
            },
            schema=reloaded.schema().as_arrow(),
        )
    )
    final = cat.load_table("trial.patients")
    assert len(final.specs()) == 2
    scan = final.scan(row_filter="site == 'zurich'").to_arrow()
    assert scan["id"].to_pylist() == [21]
    assert final.scan(row_filter="id >= 12").to_arrow().num_rows == 3

    # rename, then drop with purge: the pointer goes, the files stay for `vxp gc`
    cat.rename_table("trial.patients", "trial.subjects")
    assert cat.list_tables("trial") == [("trial", "subjects")]
    with pytest.raises(NoSuchTableError):
        cat.load_table("trial.patients")
    location = final.metadata_location
    cat.purge_table("trial.subjects")
    with pytest.raises(NoSuchTableError):
        cat.load_table("trial.subjects")
    assert (catalog_server.warehouse_dir / location.split("/warehouse/", 1)[1]).exists()
    with pytest.raises(NoSuchTableError):
        cat.drop_table("trial.subjects")


def test_register_and_create_transaction(catalog_server: CatalogServer, repo: str) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.a", schema=ARROW)
    table.append(rows([1]))
    registered = cat.register_table("trial.b", table.refresh().metadata_location)
    assert registered.scan().to_arrow().num_rows == 1

    # stage-create: nothing exists until the transaction commits (assert-create)
    txn = cat.create_table_transaction("trial.c", schema=ARROW)
    txn.append(rows([1, 2]))
    assert not cat.table_exists("trial.c")
    txn.commit_transaction()
    assert cat.load_table("trial.c").scan().to_arrow().num_rows == 2


def test_load_table_etag(catalog_server: CatalogServer, repo: str) -> None:
    cat = catalog_server.trial(repo)
    cat.create_table("trial.a", schema=ARROW)
    with catalog_server.http() as http:
        first = http.get(f"/v1/{repo}.main/namespaces/trial/tables/a")
        assert first.status_code == 200
        assert first.json()["config"] == {}
        again = http.get(
            f"/v1/{repo}.main/namespaces/trial/tables/a",
            headers={"If-None-Match": first.headers["ETag"]},
        )
        assert again.status_code == 304
        metrics = http.post(
            f"/v1/{repo}.main/namespaces/trial/tables/a/metrics",
            json={"report-type": "scan-report"},
        )
        assert metrics.status_code == 204
