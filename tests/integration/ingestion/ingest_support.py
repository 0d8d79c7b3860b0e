"""Helpers of the ``vxp ingest study`` integration tests: deliveries written by hand, runs through
the Python API, and reads of what a ref holds (lakeFS heads, Iceberg tables) to assert on."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from tests.support import Stack, catalog
from vxp.domain.repositories import create_repository
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.report import Progress, RunReport
from vxp.ingestion.study.plan import validate_study

#: columns whose values depend on when and as which run a row was written, not on the data
RUN_COLUMNS = ("run_id", "first_run_id", "valid_from", "valid_to")
#: the SCD-2 columns of a history table (DESIGN.md, "What a ref holds")
SCD2_COLUMNS = ("valid_from", "valid_to", "is_current", "is_deleted", "version", "run_id")
#: the natural-key columns of the default entities (CDISC names, lower-cased by validation)
ENTITY_COLUMNS = {"subject": ("usubjid",), "site": ("siteid",), "visit": ("usubjid", "visitnum")}

DICTIONARY_HEADER = "dataset,variable,label,type,key\n"


def new_repository(stack: Stack, name: str | None = None) -> str:
    """A fresh repository with its ``source`` and ``integration`` layers; its name."""
    name = name or f"t-{uuid.uuid4().hex[:12]}"
    create_repository(stack.session(), name, stack.settings.storage_namespace_prefix)
    return name


def write_delivery(folder: Path, files: Mapping[str, str]) -> Path:
    """A delivery folder holding ``files`` (relative name -> text, written as UTF-8 bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode())
    return folder


def dictionary(*rows: tuple[str, str, str, str]) -> str:
    """A ``contents.csv`` from ``(dataset, variable, type, key)`` rows (labels made up)."""
    return DICTIONARY_HEADER + "".join(f"{d},{v},{v} label,{t},{k}\n" for d, v, t, k in rows)


def ingest(
    stack: Stack,
    repo: str,
    source: str,
    folder: Path,
    *,
    partial: bool = False,
    merge: bool = True,
    progress: Progress | None = None,
) -> RunReport:
    """``vxp ingest study FOLDER --repo REPO --source SOURCE`` through the Python API."""
    return ingest_study(
        stack.session(),
        stack.settings,
        repo,
        source,
        validate_study(folder),
        partial=partial,
        merge=merge,
        progress=progress,
    )


def heads(stack: Stack, repo: str) -> dict[str, str]:
    """Every branch of ``repo`` -> its head commit."""
    return stack.session().branch_heads(repo)


def layer_heads(stack: Stack, repo: str) -> dict[str, str]:
    """The heads of the ``source`` and ``integration`` layers."""
    all_heads = heads(stack, repo)
    return {layer: all_heads[layer] for layer in ("source", "integration")}


def read(stack: Stack, repo: str, ref: str, table: str) -> pa.Table | None:
    """Every row of ``namespace.table`` at ``ref`` (branch or commit), or None if absent."""
    tables = catalog(stack, f"{repo}.{ref}")
    if not tables.table_exists(table):
        return None
    return tables.load_table(table).scan().to_arrow()


def rows(stack: Stack, repo: str, ref: str, table: str) -> list[dict[str, Any]]:
    """The rows of a table at ``ref`` as dicts; the table must exist."""
    found = read(stack, repo, ref, table)
    assert found is not None, f"{table} does not exist at {ref} of {repo}"
    return list(found.to_pylist())


def table_names(stack: Stack, repo: str, ref: str, namespace: str) -> set[str]:
    """The tables of ``namespace`` at ``ref`` (``namespace.table``); empty if none."""
    tables = catalog(stack, f"{repo}.{ref}")
    if (namespace,) not in tables.list_namespaces():
        return set()
    return {".".join(identifier) for identifier in tables.list_tables(namespace)}


def canonical(table: pa.Table | None, drop: Iterable[str] = RUN_COLUMNS) -> list[str]:
    """A table's rows without the run-dependent columns, each as canonical JSON, sorted: equal
    for two runs of the same deliveries whatever their run ids and times."""
    if table is None:
        return []
    dropped = set(drop)
    return sorted(
        json.dumps({k: v for k, v in row.items() if k not in dropped}, sort_keys=True, default=str)
        for row in table.to_pylist()
    )


def contents(stack: Stack, repo: str, source: str) -> dict[str, list[str]]:
    """Every table an ingestion of ``source`` writes, at the layer that holds it, canonical."""
    found: dict[str, list[str]] = {}
    for layer, namespaces in (("source", [f"raw_{source}"]), ("integration", [source, "vxp"])):
        for namespace in namespaces:
            for table in sorted(table_names(stack, repo, layer, namespace)):
                found[f"{layer}:{table}"] = canonical(read(stack, repo, layer, table))
    return found


def natural_key(values: Iterable[Any]) -> str:
    """A natural key as ``surrogate_keys.natural_key`` stores it: a compact JSON array."""
    return json.dumps(list(values), separators=(",", ":"), default=str, ensure_ascii=False)


def key_map(keys: pa.Table | list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """``(entity, natural_key) -> surrogate_key`` of a ``surrogate_keys`` table."""
    listing = keys.to_pylist() if isinstance(keys, pa.Table) else keys
    return {(r["entity"], r["natural_key"]): int(r["surrogate_key"]) for r in listing}


def assert_keys_one_to_one(keys: list[dict[str, Any]]) -> None:
    """No natural key has two surrogate keys and no surrogate key two natural keys, per entity
    (DESIGN.md: a key once given is never reused or changed)."""
    by_natural: dict[tuple[str, str], set[int]] = {}
    by_key: dict[tuple[str, int], set[str]] = {}
    for row in keys:
        by_natural.setdefault((row["entity"], row["natural_key"]), set()).add(row["surrogate_key"])
        by_key.setdefault((row["entity"], row["surrogate_key"]), set()).add(row["natural_key"])
    split = {k: v for k, v in by_natural.items() if len(v) > 1}
    shared = {k: v for k, v in by_key.items() if len(v) > 1}
    assert not split, f"natural keys with more than one surrogate key: {split}"
    assert not shared, f"surrogate keys given to more than one natural key: {shared}"
    assert len(keys) == len(by_natural), "a (entity, natural key) row is repeated"


def assert_history_sound(history: list[dict[str, Any]], key: Iterable[str]) -> None:
    """SCD-2 invariants of a history table: (key, version) unique, versions 1..n per key, at most
    one current row per key, current rows open (``valid_to`` null) and not deleted, closed rows
    closed."""
    columns = list(key)
    versions: dict[tuple[Any, ...], list[int]] = {}
    current: dict[tuple[Any, ...], int] = {}
    for row in history:
        k = tuple(row[c] for c in columns)
        versions.setdefault(k, []).append(row["version"])
        if row["is_current"]:
            current[k] = current.get(k, 0) + 1
            assert row["valid_to"] is None and not row["is_deleted"], row
        else:
            assert row["valid_to"] is not None, row
    for k, seen in versions.items():
        assert sorted(seen) == list(range(1, len(seen) + 1)), f"versions of {k}: {seen}"
    assert all(n == 1 for n in current.values()), f"keys with two current rows: {current}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
