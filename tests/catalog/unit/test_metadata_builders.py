"""Table and view metadata changes with Iceberg's Java semantics, and where files may go."""

from __future__ import annotations

from typing import Any

import pytest

from vxp.catalog import table_metadata as tm
from vxp.catalog import view_metadata as vm
from vxp.catalog.errors import BadRequest, CommitFailed, InvalidArgument
from vxp.catalog.metadata import MetadataFiles
from vxp.catalog.settings import Settings, SettingsError

Json = dict[str, Any]


def field(id_: int, name: str, type_: Any = "int", **extra: Any) -> Json:
    return {"id": id_, "name": name, "required": False, "type": type_, **extra}


def schema(*fields: Json, schema_id: int = 0) -> Json:
    return {"type": "struct", "schema-id": schema_id, "fields": list(fields)}


SCHEMA = schema(field(3, "id"), field(4, "data", "string"))


def partition_field(source: int, field_id: int) -> Json:
    return {"source-id": source, "field-id": field_id, "name": "b", "transform": "bucket[16]"}


def sort_field(source: int, transform: str) -> Json:
    return {
        "source-id": source,
        "transform": transform,
        "direction": "desc",
        "null-order": "nulls-last",
    }


def created(**properties: str) -> Json:
    return tm.new_table(SCHEMA, None, None, "file:///w/t", properties)


def commit(base: Json, *updates: Json, location: str = "file:///w/t/m0.json") -> Json:
    builder = tm.TableBuilder(tm.parse(base), location)
    builder.apply(list(updates))
    result = builder.build()
    assert result is not None
    return result


def test_new_table_assigns_fresh_ids_and_keeps_reserved_properties_out() -> None:
    nested = schema(
        field(7, "id", required=True),
        field(8, "point", {"type": "struct", "fields": [field(9, "x"), field(10, "y")]}),
        field(11, "tags", {"type": "list", "element-id": 12, "element": "string"}),
    )
    nested["identifier-field-ids"] = [7]
    spec = {"spec-id": 3, "fields": [partition_field(7, 1005)]}
    order = {"order-id": 5, "fields": [sort_field(9, "identity")]}
    meta = tm.new_table(nested, spec, order, "file:///w/t", {"format-version": "1", "k": "v"})
    # each struct's fields first, then what is nested in them (Java's assignFreshIds)
    ids = [(f["name"], f["id"]) for f in meta["schema"]["fields"]]
    assert ids == [("id", 1), ("point", 2), ("tags", 3)]
    assert [f["id"] for f in meta["schema"]["fields"][1]["type"]["fields"]] == [4, 5]
    assert meta["schema"]["fields"][2]["type"]["element-id"] == 6
    assert meta["schemas"][0]["identifier-field-ids"] == [1]
    assert meta["last-column-id"] == 6
    assert meta["partition-specs"] == [{"spec-id": 0, "fields": [partition_field(1, 1000)]}]
    assert meta["last-partition-id"] == 1000
    assert meta["sort-orders"][0]["order-id"] == 1
    assert meta["sort-orders"][0]["fields"][0]["source-id"] == 4
    # Java's persisted create default, and vxp's gc.enabled=false (only `vxp gc` deletes)
    assert meta["properties"] == {
        "k": "v",
        "write.parquet.compression-codec": "zstd",
        "gc.enabled": "false",
    }
    assert meta["format-version"] == 1 and meta["current-snapshot-id"] == -1
    assert "last-sequence-number" not in meta and "partition-spec" in meta


def test_v3_keeps_column_defaults_and_tracks_row_ids() -> None:
    with_default = schema(
        field(1, "c", required=True, **{"initial-default": 12, "write-default": 10})
    )
    meta = tm.new_table(with_default, None, None, "file:///w/t", {"format-version": "3"})
    assert meta["schemas"][0]["fields"][0]["initial-default"] == 12
    assert meta["next-row-id"] == 0 and meta["current-snapshot-id"] is None
    with pytest.raises(InvalidArgument, match="not supported until v3"):
        tm.new_table(with_default, None, None, "file:///w/t", {})
    snapshot = {
        "snapshot-id": 7,
        "sequence-number": 1,
        "timestamp-ms": 5,
        "manifest-list": "m",
        "summary": {"operation": "append"},
        "first-row-id": 0,
        "added-rows": 10,
    }
    updated = commit(
        meta,
        {"action": "add-snapshot", "snapshot": snapshot},
        {"action": "set-snapshot-ref", "ref-name": "main", "snapshot-id": 7, "type": "branch"},
    )
    assert updated["next-row-id"] == 10 and updated["current-snapshot-id"] == 7
    assert updated["snapshot-log"] == [{"timestamp-ms": 5, "snapshot-id": 7}]


def test_equal_schemas_are_reused_and_new_ones_get_the_next_id() -> None:
    base = created()
    equal = schema(field(1, "id"), field(2, "data", "string"), schema_id=9)
    same = commit(
        base,
        {"action": "add-schema", "schema": equal},
        {"action": "set-properties", "updates": {"a": "b"}},
    )
    assert len(same["schemas"]) == 1 and same["current-schema-id"] == 0
    wider = schema(field(1, "id"), field(2, "data", "string"), field(3, "x", "long"), schema_id=0)
    evolved = commit(
        base,
        {"action": "add-schema", "schema": wider},
        {"action": "set-current-schema", "schema-id": -1},
    )
    assert [s["schema-id"] for s in evolved["schemas"]] == [0, 1]
    assert evolved["current-schema-id"] == 1 and evolved["last-column-id"] == 3


def test_a_sort_order_id_clash_gets_a_new_id_as_java_assigns_it() -> None:
    def order(transform: str) -> Json:
        return {"order-id": 1, "fields": [sort_field(1, transform)]}

    first = commit(
        created(),
        {"action": "add-sort-order", "sort-order": order("bucket[16]")},
        {"action": "set-default-sort-order", "sort-order-id": -1},
    )
    # a concurrent replace planned against the old metadata also asks for ID 1
    second = commit(
        first,
        {"action": "add-sort-order", "sort-order": order("identity")},
        {"action": "set-default-sort-order", "sort-order-id": -1},
    )
    assert [o["order-id"] for o in second["sort-orders"]] == [0, 1, 2]
    assert second["default-sort-order-id"] == 2


def test_requirements_fail_with_javas_messages() -> None:
    base = tm.parse(created())
    cases: list[tuple[str, Json, str]] = [
        ("assert-create", {}, "table already exists"),
        ("assert-table-uuid", {"uuid": "x"}, "UUID does not match"),
        (
            "assert-current-schema-id",
            {"current-schema-id": 3},
            "current schema changed: expected id 3 != 0",
        ),
        (
            "assert-last-assigned-field-id",
            {"last-assigned-field-id": 1},
            "last assigned field id changed",
        ),
        (
            "assert-last-assigned-partition-id",
            {"last-assigned-partition-id": 1},
            "last assigned partition id changed",
        ),
        ("assert-default-spec-id", {"default-spec-id": 1}, "default partition spec changed"),
        (
            "assert-default-sort-order-id",
            {"default-sort-order-id": 1},
            "default sort order changed",
        ),
        (
            "assert-ref-snapshot-id",
            {"ref": "main", "snapshot-id": 5},
            "branch or tag main is missing, expected 5",
        ),
    ]
    for type_, fields, message in cases:
        with pytest.raises(CommitFailed) as raised:
            tm.check_requirements(base, [{"type": type_, **fields}])
        assert raised.value.message.startswith("Requirement failed: " + message)
    tm.check_requirements(base, [{"type": "assert-table-uuid", "uuid": base["table-uuid"].upper()}])


def test_metadata_log_is_trimmed_but_no_file_is_touched() -> None:
    meta = created(**{"write.metadata.previous-versions-max": "2"})
    location = "file:///w/t/metadata/00000-a.metadata.json"
    for version in range(1, 5):
        change = {"action": "set-properties", "updates": {"v": str(version)}}
        meta = commit(meta, change, location=location)
        location = f"file:///w/t/metadata/{version:05d}-a.metadata.json"
    assert [e["metadata-file"] for e in meta["metadata-log"]] == [
        "file:///w/t/metadata/00002-a.metadata.json",
        "file:///w/t/metadata/00003-a.metadata.json",
    ]


def test_updates_that_change_nothing_build_nothing() -> None:
    builder = tm.TableBuilder(tm.parse(created()), "file:///w/t/m.json")
    builder.apply(
        [
            {"action": "set-current-schema", "schema-id": 0},
            {"action": "set-location", "location": "file:///w/t"},
            {"action": "remove-snapshot-ref", "ref-name": "nope"},
        ]
    )
    assert builder.build() is None


def test_unsupported_format_versions_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="unsupported format version: v4"):
        commit(created(), {"action": "upgrade-format-version", "format-version": 4})
    with pytest.raises(InvalidArgument, match="Cannot downgrade v2 table to v1"):
        commit(created(), {"action": "upgrade-format-version", "format-version": 1})
    with pytest.raises(BadRequest, match="unsupported table metadata format version"):
        tm.parse({"format-version": 7, "location": "x"})


# --- views --------------------------------------------------------------------------------


def version(sql: str, dialect: str = "spark", schema_id: int = 5, version_id: int = 1) -> Json:
    representation = {"type": "sql", "sql": sql, "dialect": dialect}
    return {
        "version-id": version_id,
        "schema-id": schema_id,
        "timestamp-ms": 1,
        "summary": {},
        "representations": [representation],
        "default-namespace": ["ns"],
    }


def view_commit(base: Json, *updates: Json) -> Json:
    builder = vm.ViewBuilder(vm.parse(base))
    builder.apply(list(updates))
    result = builder.build()
    assert result is not None
    return result


def test_new_view_renumbers_its_schema_and_logs_its_version() -> None:
    meta = vm.new_view(schema(field(3, "id"), schema_id=5), version("select 1"), "file:///w/v", {})
    assert meta["schemas"][0]["schema-id"] == 0 and meta["versions"][0]["schema-id"] == 0
    assert meta["current-version-id"] == 1
    assert meta["version-log"] == [{"timestamp-ms": 1, "version-id": 1}]
    assert meta["format-version"] == 1 and meta["view-uuid"]


def test_view_replace_reuses_equal_versions_and_adds_new_ones() -> None:
    base = vm.new_view(schema(field(3, "id")), version("select 1"), "file:///w/v", {})
    other = schema(field(1, "n", "long"))
    replaced = view_commit(
        base,
        {"action": "add-schema", "schema": other},
        {"action": "add-view-version", "view-version": version("select 2", "spark", -1, 2)},
        {"action": "set-current-view-version", "view-version-id": -1},
    )
    assert replaced["current-version-id"] == 2
    assert replaced["versions"][1]["schema-id"] == 1
    # the first version again: it is reused, not added, and becomes current again
    back = view_commit(
        replaced,
        {"action": "add-view-version", "view-version": version("select 1", "spark", 0, 3)},
        {"action": "set-current-view-version", "view-version-id": 1},
    )
    assert back["current-version-id"] == 1 and len(back["versions"]) == 2


def test_view_rules() -> None:
    base = vm.new_view(schema(field(3, "id")), version("select 1"), "file:///w/v", {})
    twice = version("select 1")
    twice["representations"] *= 2
    with pytest.raises(InvalidArgument, match="Cannot add multiple queries for dialect spark"):
        vm.new_view(schema(field(3, "id")), twice, "file:///w/v", {})
    with pytest.raises(BadRequest, match="loss of view dialects"):
        view_commit(
            base,
            {"action": "add-view-version", "view-version": version("select 1", "trino", 0, 2)},
            {"action": "set-current-view-version", "view-version-id": -1},
        )
    with pytest.raises(CommitFailed, match="Requirement failed: view UUID does not match"):
        vm.check_requirements(vm.parse(base), [{"type": "assert-view-uuid", "uuid": "other"}])


def test_view_history_keeps_the_newest_versions() -> None:
    meta = vm.new_view(schema(field(3, "id")), version("select 0"), "file:///w/v", {})
    history = {"version.history.num-entries": "2"}
    meta = view_commit(meta, {"action": "set-properties", "updates": history})
    for n in range(2, 6):
        meta = view_commit(
            meta,
            {"action": "add-view-version", "view-version": version(f"select {n}", "spark", 0, n)},
            {"action": "set-current-view-version", "view-version-id": -1},
        )
    assert [v["version-id"] for v in meta["versions"]] == [4, 5]
    assert [e["version-id"] for e in meta["version-log"]] == [4, 5]


# --- locations ----------------------------------------------------------------------------


def test_allowed_locations_extend_the_warehouse_root() -> None:
    files = MetadataFiles(
        Settings("http://x", "file:///w", "k", allowed_locations=("file:///tmp",))
    )
    # Java clients write file:/x; both spellings name the same place
    for good in ("file:/tmp/ns/tbl", "file:///tmp/ns/tbl", "file:///w/repo/t"):
        files.check_location(good, "location")
    for bad in ("file:/etc/x", "file:///tmpx/t", "file:///tmp/../etc", "s3://tmp/x"):
        with pytest.raises(BadRequest, match="outside the warehouse root"):
            files.check_location(bad, "location")
    with pytest.raises(BadRequest, match="metadata path"):
        files.check_metadata_locations("file:///w/t", {"write.metadata.path": "file:///etc"})
    assert MetadataFiles.new_metadata_location(
        "file:///w/t", None, {"write.metadata.path": "file:///tmp/m/"}
    ).startswith("file:///tmp/m/00000-")
    with pytest.raises(SettingsError, match="allowed location"):
        Settings("http://x", "file:///w", "k", allowed_locations=("/tmp",))
    env = {
        "VXP_CATALOG_LAKEFS_ENDPOINT": "http://x",
        "VXP_CATALOG_WAREHOUSE_ROOT": "file:///w",
        "VXP_CATALOG_TOKEN_SECRET": "k",
        "VXP_CATALOG_ALLOWED_LOCATIONS": "file:///tmp, s3://scratch/rck",
    }
    assert Settings.from_env(env).allowed_locations == ("file:///tmp", "s3://scratch/rck")
