"""Surrogate keys: stable int64 keys for natural keys (subject, site, visit), insert-only.

``<source>.surrogate_keys`` holds ``entity``, ``natural_key``, ``surrogate_key``,
``first_run_id`` (DESIGN.md, "What a ref holds"). A key once given is never changed or reused:
new natural keys get the next numbers after the entity's highest key, in natural-key order, so
the same deliveries always give the same keys. Two runs that race both append to the table on
their own branches; their merges then conflict on the table and the loser re-plans against the
winner's keys, so no natural key ever gets two keys and no key two natural keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .study.entities import Entity

__all__ = ["KEYS_SCHEMA", "assign_keys", "natural_key", "with_keys"]

KEYS_SCHEMA = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("natural_key", pa.string(), nullable=False),
        pa.field("surrogate_key", pa.int64(), nullable=False),
        pa.field("first_run_id", pa.string(), nullable=False),
    ]
)


def natural_key(values: Sequence[Any]) -> str:
    """The natural key as stored: the key values as a compact JSON array (``["B-001",2]``)."""
    return json.dumps(list(values), separators=(",", ":"), default=str, ensure_ascii=False)


def _natural_keys(rows: pa.Table, columns: Sequence[str]) -> list[str]:
    pylists = [rows.column(c).to_pylist() for c in columns]
    return [natural_key(values) for values in zip(*pylists, strict=True)]


def assign_keys(
    existing: pa.Table | None, entity: Entity, rows: pa.Table, run_id: str
) -> tuple[dict[str, int], pa.Table]:
    """Keys for every natural key of ``entity`` in ``rows``.

    Args:
        existing: the current ``surrogate_keys`` table (any entities), or None.
        rows: a dataset's rows holding ``entity.key_columns``; rows with a null key part get none.

    Returns:
        natural key → surrogate key for every natural key of ``rows``, and the new rows to
        append to ``surrogate_keys`` (empty when every key existed).
    """
    known: dict[str, int] = {}
    highest = 0
    if existing is not None and existing.num_rows:
        mine = existing.filter(pc.equal(existing.column("entity"), entity.name))
        for key, value in zip(
            mine.column("natural_key").to_pylist(),
            mine.column("surrogate_key").to_pylist(),
            strict=True,
        ):
            known[str(key)] = int(value)
        highest = max(known.values(), default=0)
    wanted = {
        key
        for key, nulls in zip(
            _natural_keys(rows, entity.key_columns),
            _null_mask(rows, entity.key_columns),
            strict=True,
        )
        if not nulls
    }
    new = sorted(wanted - known.keys())
    added = {key: highest + i for i, key in enumerate(new, start=1)}
    mapping = {key: known[key] for key in wanted if key in known} | added
    appended = pa.table(
        {
            "entity": [entity.name] * len(new),
            "natural_key": new,
            "surrogate_key": [added[k] for k in new],
            "first_run_id": [run_id] * len(new),
        },
        schema=KEYS_SCHEMA,
    )
    return mapping, appended


def _null_mask(rows: pa.Table, columns: Sequence[str]) -> list[bool]:
    masks = [rows.column(c).is_null().to_pylist() for c in columns]
    return [any(parts) for parts in zip(*masks, strict=True)]


def with_keys(
    rows: pa.Table, entities: Iterable[Entity], mappings: Mapping[str, dict[str, int]]
) -> pa.Table:
    """``rows`` with an ``<entity>_sk`` int64 column per entity (null where a key part is)."""
    for entity in entities:
        mapping = mappings[entity.name]
        keys = _natural_keys(rows, entity.key_columns)
        nulls = _null_mask(rows, entity.key_columns)
        values = [None if null else mapping[key] for key, null in zip(keys, nulls, strict=True)]
        column = pa.array(values, type=pa.int64())
        name = entity.sk_column
        if name in rows.column_names:
            rows = rows.set_column(rows.column_names.index(name), name, column)
        else:
            rows = rows.append_column(name, column)
    return rows
