"""Issue 7 against the real stack: no client's own clean-up deletes what another ref reads, and
names are decoded the way Iceberg's Java client encodes them."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa

from tests.catalog.conftest import Admin, CatalogServer
from tests.catalog.integration.test_views import create_body

ARROW = pa.schema([("id", pa.int64())])
DELETE_AFTER_COMMIT = "write.metadata.delete-after-commit.enabled"
VERSIONS_MAX = "write.metadata.previous-versions-max"


def _metadata_files(table_dir: Path) -> set[Path]:
    return set((table_dir / "metadata").glob("*.metadata.json"))


def test_metadata_clean_up_on_a_work_branch_keeps_integration_and_the_tag(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    """The issue's scenario: on a work branch set Iceberg's clean-up properties with pyiceberg
    and append; the same table on `integration` and at a tag still loads and reads its rows."""
    main = catalog_server.trial(repo)
    table = main.create_table("trial.t", schema=ARROW)
    table.append(pa.table({"id": [1, 2]}, schema=ARROW))
    table.append(pa.table({"id": [3]}, schema=ARROW))
    admin.branch("integration")
    admin.tag("v1", "integration")
    admin.branch("work", "integration")
    table_dir = Path(urlsplit(table.location()).path)
    before = _metadata_files(table_dir)

    work = catalog_server.pyiceberg(f"{repo}.work").load_table("trial.t")
    with work.transaction() as tx:
        tx.set_properties({DELETE_AFTER_COMMIT: "true", VERSIONS_MAX: "1"})
    assert work.properties[DELETE_AFTER_COMMIT] == "false"
    assert work.properties[VERSIONS_MAX] == "1"
    work.append(pa.table({"id": [4]}, schema=ARROW))
    work.append(pa.table({"id": [5]}, schema=ARROW))
    assert len(work.metadata.metadata_log) == 1  # trimmed as Iceberg does …
    assert before <= _metadata_files(table_dir)  # … and nothing deleted

    for warehouse in (f"{repo}.integration", f"{repo}.v1"):
        other = catalog_server.pyiceberg(warehouse).load_table("trial.t")
        assert sorted(other.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
    assert sorted(work.refresh().scan().to_arrow()["id"].to_pylist()) == [1, 2, 3, 4, 5]


def test_a_registered_file_that_enables_clean_up_deletes_nothing(
    catalog_server: CatalogServer, repo: str, admin: Admin
) -> None:
    """Metadata from elsewhere (register) may say delete-after-commit=true; the committed
    metadata pyiceberg decides from says false, so the files of older commits stay."""
    main = catalog_server.trial(repo)
    table = main.create_table("trial.t", schema=ARROW)
    table.append(pa.table({"id": [1]}, schema=ARROW))
    source = Path(urlsplit(table.metadata_location).path)
    document = json.loads(source.read_text())
    document["properties"] |= {DELETE_AFTER_COMMIT: "true", VERSIONS_MAX: "1"}
    planted = source.with_name("99999-planted.metadata.json")
    planted.write_text(json.dumps(document))
    registered = main.register_table("trial.r", f"file://{planted}")
    assert registered.properties[DELETE_AFTER_COMMIT] == "true"  # the file as it is
    table_dir = Path(urlsplit(table.location()).path)
    before = _metadata_files(table_dir)
    registered.append(pa.table({"id": [2]}, schema=ARROW))
    registered.append(pa.table({"id": [3]}, schema=ARROW))
    assert registered.properties[DELETE_AFTER_COMMIT] == "false"
    assert before <= _metadata_files(table_dir)
    assert main.load_table("trial.t").scan().to_arrow().num_rows == 1


def test_new_tables_carry_the_create_default_and_gc_off(
    catalog_server: CatalogServer, repo: str
) -> None:
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.t", schema=ARROW)
    # Java's catalogs persist zstd; gc.enabled=false makes Iceberg's Java library refuse
    # expire_snapshots, remove_orphan_files and purges (Trino, Spark, Flink)
    assert table.properties == {"write.parquet.compression-codec": "zstd", "gc.enabled": "false"}
    with table.transaction() as tx:
        tx.remove_properties("gc.enabled")
    assert table.properties["gc.enabled"] == "false"


def test_a_plus_in_a_path_segment_is_a_space(catalog_server: CatalogServer, repo: str) -> None:
    """Iceberg's Java client encodes a space as `+` (URLEncoder) and its reference server decodes
    it back; a literal `+` arrives as `%2B`."""
    cat = catalog_server.pyiceberg(f"{repo}.main")
    cat.create_namespace("a b")
    cat.create_namespace("a+b")
    cat.create_table(("a b", "q1 results"), schema=ARROW)
    base = f"/v1/{repo}.main/namespaces"
    with catalog_server.http() as http:
        assert http.get(f"{base}/a+b").json()["namespace"] == ["a b"]
        assert http.get(f"{base}/a%20b").json()["namespace"] == ["a b"]
        assert http.get(f"{base}/a%2Bb").json()["namespace"] == ["a+b"]
        assert http.head(f"{base}/a+b").status_code == 204
        loaded = http.get(f"{base}/a+b/tables/q1+results")
        assert loaded.status_code == 200, loaded.text
        assert http.head(f"{base}/a+b/tables/q1+results").status_code == 204
        assert http.head(f"{base}/a%2Bb/tables/q1+results").status_code == 404
        created = http.post(f"{base}/a+b/views", json=create_body("my view"))
        assert created.status_code == 200, created.text
        assert http.get(f"{base}/a+b/views/my+view").status_code == 200
        assert http.head(f"{base}/a+b/views/my+view").status_code == 204
