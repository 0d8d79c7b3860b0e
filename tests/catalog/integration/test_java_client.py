"""Iceberg's Java REST client sees exactly what pyiceberg made: generated names (every printable
character, spaces and `+` among them) and seeded sequences of updates, loaded through Java's
RESTCatalog and TableMetadataParser (the jars of the cached Trino, issue 7)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import Table
from pyiceberg.table import snapshots as pyiceberg_snapshots
from pyiceberg.types import StringType

from tests.catalog.conftest import CatalogServer
from vxp.core.home import Home

HARNESS = Path(__file__).resolve().parents[1] / "java" / "JavaView.java"
SEED = 7
TABLES = 6
ARROW = pa.schema([("id", pa.int64()), ("name", pa.string())])
# printable, with what URL encoders treat differently: space, +, %, /, #, ?, quotes, non-ASCII
ALPHABET = "ab z+%/#?&='\"~.-_é日🧪"


def _java() -> tuple[str, Path] | None:
    java = shutil.which("java")
    plugin = Home.from_env().cache / "trino"
    jars = sorted(plugin.glob("*/plugin/iceberg"))
    if java is None or not jars:
        return None
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    major = version.split('"')[1].split(".")[0] if '"' in version else "0"
    # a single-file source program needs a JDK (javac); Iceberg 1.9 needs Java 17
    if not major.isdigit() or int(major) < 17 or shutil.which("javac") is None:
        return None
    return java, jars[-1]


def _name(rng: random.Random) -> str:
    while True:
        name = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8)))
        if name not in (".", ".."):
            return name


def _rows(rng: random.Random, start: int) -> pa.Table:
    count = rng.randint(1, 5)
    ids = list(range(start, start + count))
    return pa.table({"id": ids, "name": [f"n{i}" for i in ids]}, schema=ARROW)


def _evolve(table: Table, rng: random.Random, step: int) -> None:
    """One generated update of ``table``."""
    action = rng.choice(["append", "append", "property", "remove", "column", "overwrite"])
    if action == "append":
        table.append(_rows(rng, step * 10))
    elif action == "property":
        with table.transaction() as tx:
            tx.set_properties({f"k{rng.randint(0, 3)}": _name(rng)})
    elif action == "remove":
        keys = [k for k in table.properties if k.startswith("k")]
        if keys:
            with table.transaction() as tx:
                tx.remove_properties(rng.choice(keys))
    elif action == "column":
        with table.update_schema() as update:
            update.add_column(f"c{step}", StringType())
    else:
        table.overwrite(_rows(rng, step * 10).select(["id", "name"]))


def _java_view(
    catalog_server: CatalogServer, warehouse: str, idents: list[tuple[str, ...]]
) -> list[dict[str, Any]]:
    found = _java()
    assert found is not None
    java, jars = found
    lakefs = catalog_server.lakefs
    result = subprocess.run(
        [
            java,
            "-cp",
            f"{jars}/*:{jars.parents[1]}/lib/*",
            str(HARNESS),
            catalog_server.url,
            f"{lakefs.access_key_id}:{lakefs.secret_access_key}",
            warehouse,
        ],
        input="".join("\x1f".join(ident) + "\n" for ident in idents),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.skipif(_java() is None, reason="needs java >= 17 with javac and the cached Trino")
def test_java_sees_what_pyiceberg_made(catalog_server: CatalogServer, repo: str) -> None:
    rng = random.Random(SEED)
    warehouse = f"{repo}.main"
    cat = catalog_server.pyiceberg(warehouse)
    made: dict[tuple[str, ...], Table] = {}
    namespaces: dict[tuple[str, ...], dict[str, str]] = {}
    while len(made) < TABLES:
        namespace = tuple(_name(rng) for _ in range(rng.randint(1, 2)))
        for depth in range(1, len(namespace) + 1):
            level = namespace[:depth]
            if level not in namespaces:
                namespaces[level] = {"owner": _name(rng)}
                cat.create_namespace(level, properties=namespaces[level])
        ident = (*namespace, _name(rng))
        if ident in made:
            continue
        table = cat.create_table(ident, schema=ARROW)
        for step in range(rng.randint(1, 5)):
            _evolve(table, rng, step)
        made[ident] = table

    seen = _java_view(catalog_server, warehouse, list(made))
    assert [tuple(view["identifier"]) for view in seen] == list(made)
    for view in seen:
        ident = tuple(view["identifier"])
        assert "error" not in view, (ident, view.get("error"))
        table = cat.load_table(ident)
        assert view["namespace-exists"] and view["table-exists"]
        properties = cat.load_namespace_properties(ident[:-1])
        assert view["namespace-properties"] == properties
        assert properties["owner"] == namespaces[ident[:-1]]["owner"]
        assert view["properties"] == table.properties
        assert set(view["snapshots"]) == {s.snapshot_id for s in table.snapshots()}
        current = table.current_snapshot()
        assert view["current-snapshot-id"] == (current.snapshot_id if current else None)
        assert int(view["total-records"]) == table.scan().to_arrow().num_rows
        fields = json.loads(table.schema().model_dump_json())["fields"]
        assert view["schema"]["fields"] == fields


@pytest.mark.skipif(_java() is None, reason="needs java >= 17 with javac and the cached Trino")
def test_java_loads_a_table_written_with_a_clock_ahead(
    catalog_server: CatalogServer, repo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: a writer's clock a few minutes ahead; then a metadata-only commit on
    the server's clock. Java refuses metadata whose last-updated-ms is before its last
    snapshot-log entry ("Invalid update timestamp")."""
    cat = catalog_server.trial(repo)
    table = cat.create_table("trial.ahead", schema=ARROW)
    ahead = time.time() + 300

    class Clock:
        @staticmethod
        def time() -> float:
            return ahead

    # pyiceberg stamps snapshots with its module's time.time(); the catalog keeps its own clock
    monkeypatch.setattr(pyiceberg_snapshots, "time", Clock)
    table.append(_rows(random.Random(SEED), 0))
    monkeypatch.undo()
    with table.transaction() as tx:
        tx.set_properties({"after": "ahead"})
    assert table.metadata.last_updated_ms >= int(ahead * 1000)
    (view,) = _java_view(catalog_server, f"{repo}.main", [("trial", "ahead")])
    assert "error" not in view, view["error"]
    assert view["current-snapshot-id"] == table.current_snapshot().snapshot_id  # type: ignore[union-attr]
