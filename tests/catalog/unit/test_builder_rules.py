"""Issue 7: what Iceberg's Java builder derives (timestamps, create defaults) and the properties
that would let an engine delete files other refs read (gc.enabled, delete-after-commit)."""

from __future__ import annotations

import time
from typing import Any

from vxp.catalog import table_metadata as tm

Json = dict[str, Any]
SCHEMA: Json = {
    "type": "struct",
    "schema-id": 0,
    "fields": [{"id": 1, "name": "id", "required": False, "type": "long"}],
}
MINUTE_MS = 60_000


def _commit(base: Json, location: str, *updates: Json) -> Json:
    builder = tm.TableBuilder(tm.parse(base), location)
    builder.apply(list(updates))
    built = builder.build()
    assert built is not None
    return built


def _append(snapshot_id: int, timestamp_ms: int, sequence: int, parent: int | None) -> list[Json]:
    snapshot = {
        "snapshot-id": snapshot_id,
        "parent-snapshot-id": parent,
        "sequence-number": sequence,
        "timestamp-ms": timestamp_ms,
        "manifest-list": f"file:///w/t/metadata/snap-{snapshot_id}.avro",
        "summary": {"operation": "append"},
        "schema-id": 0,
    }
    return [
        {"action": "add-snapshot", "snapshot": snapshot},
        {
            "action": "set-snapshot-ref",
            "ref-name": "main",
            "type": "branch",
            "snapshot-id": snapshot_id,
        },
    ]


def _java_accepts(meta: Json) -> None:
    """Java's TableMetadata constructor checks (one minute of tolerance), restated."""
    updated = meta["last-updated-ms"]
    for entry in meta["snapshot-log"][-1:] + meta.get("metadata-log", [])[-1:]:
        assert updated - entry["timestamp-ms"] >= -MINUTE_MS, (updated, entry)


def test_a_writer_clock_ahead_dates_the_commit_and_later_commits_stay_after_it() -> None:
    created = tm.new_table(SCHEMA, None, None, "file:///w/t", {})
    ahead = int(time.time() * 1000) + 5 * MINUTE_MS
    appended = _commit(created, "file:///w/t/m0.json", *_append(7, ahead, 1, None))
    # Java's addSnapshot: last-updated-ms is the added snapshot's timestamp
    assert appended["last-updated-ms"] == ahead
    assert appended["snapshot-log"] == [{"timestamp-ms": ahead, "snapshot-id": 7}]
    _java_accepts(appended)
    # a metadata-only commit made on the server's (slower) clock never dates before the log
    later = _commit(
        appended,
        "file:///w/t/m1.json",
        {"action": "set-properties", "updates": {"owner": "ana"}},
    )
    assert later["last-updated-ms"] >= ahead
    _java_accepts(later)


def test_a_rollback_happens_now() -> None:
    created = tm.new_table(SCHEMA, None, None, "file:///w/t", {})
    first = _commit(created, "file:///w/t/m0.json", *_append(1, 1_000, 1, None))
    second = _commit(first, "file:///w/t/m1.json", *_append(2, 2_000, 2, 1))
    before = int(time.time() * 1000)
    rolled = _commit(
        second,
        "file:///w/t/m2.json",
        {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": 1},
    )
    assert rolled["last-updated-ms"] >= before
    assert rolled["snapshot-log"][-1]["snapshot-id"] == 1
    assert rolled["snapshot-log"][-1]["timestamp-ms"] >= before


def test_new_tables_persist_javas_create_default_and_gc_disabled() -> None:
    meta = tm.new_table(SCHEMA, None, None, "file:///w/t", {})
    assert meta["properties"] == {"write.parquet.compression-codec": "zstd", "gc.enabled": "false"}
    chosen = tm.new_table(
        SCHEMA, None, None, "file:///w/t", {"write.parquet.compression-codec": "snappy"}
    )
    assert chosen["properties"]["write.parquet.compression-codec"] == "snappy"


def test_gc_stays_off_unless_a_client_opts_out_explicitly() -> None:
    created = tm.new_table(SCHEMA, None, None, "file:///w/t", {})
    removed = _commit(
        created, "file:///w/t/m0.json", {"action": "remove-properties", "removals": ["gc.enabled"]}
    )
    # absent would mean Java's default (true)
    assert removed["properties"]["gc.enabled"] == "false"
    opted = _commit(
        removed,
        "file:///w/t/m1.json",
        {"action": "set-properties", "updates": {"gc.enabled": "true"}},
    )
    assert opted["properties"]["gc.enabled"] == "true"


def test_delete_after_commit_is_stored_off_and_the_log_still_trimmed() -> None:
    properties = {
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "1",
    }
    meta = tm.new_table(SCHEMA, None, None, "file:///w/t", properties)
    assert meta["properties"]["write.metadata.delete-after-commit.enabled"] == "false"
    for step in range(3):
        meta = _commit(
            meta,
            f"file:///w/t/m{step}.json",
            {"action": "set-properties", "updates": properties | {"s": str(step)}},
        )
        # pyiceberg deletes trimmed files only when the committed metadata says true
        assert meta["properties"]["write.metadata.delete-after-commit.enabled"] == "false"
    assert [e["metadata-file"] for e in meta["metadata-log"]] == ["file:///w/t/m2.json"]
