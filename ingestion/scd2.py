"""SCD-2 (slowly changing dimension, type 2) planning over pyarrow tables: pure, no I/O.

A *history* table holds every version of every row of an entity, keyed by a list of *key columns*,
with the six SCD-2 columns of DESIGN "What a ref holds" (``<source>.<dataset>_history``,
``vxp.resources``):

=============  ==============================  ==================================================
column         type                            meaning
=============  ==============================  ==================================================
``valid_from`` timestamp[us, UTC], not null    when this version became current (the run's time)
``valid_to``   timestamp[us, UTC], null        when it stopped being current; null while current
``is_current`` bool, not null                  true on exactly one row per live key
``is_deleted`` bool, not null                  true on a closed row whose key was then deleted
``version``    int64, not null                 1, 2, 3, … per key; never reused
``run_id``     string, not null                the ingestion run that opened this version
=============  ==============================  ==================================================

A run computes the new state of the rows in its *scope* (the incoming table) and
:func:`plan_scd2` compares it with the history of the same scope:

- a key whose compared columns are unchanged: nothing;
- a new key: one row opened with ``version`` 1 (or the key's highest earlier version + 1 when it
  existed before and was deleted, so ``(key, version)`` is never reused);
- a changed key: its current row is closed (``valid_to`` = the run's time, ``is_current`` false)
  and a row opened with ``version`` + 1;
- a key that is current but missing from the incoming rows: closed with ``is_deleted`` true when
  the run is a *full* delivery of the scope, left alone otherwise (an incremental delivery only
  says what it delivered).

Deletion closes the last row rather than opening a tombstone row, so ``WHERE is_current`` selects
exactly the live rows and a key's version is the ``version`` of its current row.

The caller chooses the scope by what it passes: only the history rows of that scope (e.g. the
resources of one source and of the types a files run produces). :func:`apply_scd2` turns a
history table and a plan into the new history table, for writers that overwrite; writers that
can update rows in place apply ``plan.close`` (match on key + ``version``) and append
``plan.open``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

VALID_FROM = "valid_from"
VALID_TO = "valid_to"
IS_CURRENT = "is_current"
IS_DELETED = "is_deleted"
VERSION = "version"
RUN_ID = "run_id"

TIMESTAMP = pa.timestamp("us", tz="UTC")

SCD2_FIELDS: tuple[pa.Field, ...] = (
    pa.field(VALID_FROM, TIMESTAMP, nullable=False),
    pa.field(VALID_TO, TIMESTAMP, nullable=True),
    pa.field(IS_CURRENT, pa.bool_(), nullable=False),
    pa.field(IS_DELETED, pa.bool_(), nullable=False),
    pa.field(VERSION, pa.int64(), nullable=False),
    pa.field(RUN_ID, pa.string(), nullable=False),
)
SCD2_COLUMNS: tuple[str, ...] = tuple(f.name for f in SCD2_FIELDS)


def with_scd2(schema: pa.Schema) -> pa.Schema:
    """``schema`` (the entity's own columns) followed by the six SCD-2 columns.

    Raises:
        ValueError: ``schema`` already has a column named like an SCD-2 column.
    """
    clashes = [name for name in schema.names if name in SCD2_COLUMNS]
    if clashes:
        raise ValueError(f"columns {clashes} are reserved for SCD-2")
    return pa.schema([*schema, *SCD2_FIELDS], metadata=schema.metadata)


def business_schema(history: pa.Schema) -> pa.Schema:
    """The entity's own columns of a history schema (the schema without the SCD-2 columns)."""
    return pa.schema([f for f in history if f.name not in SCD2_COLUMNS])


@dataclass(frozen=True)
class Scd2Plan:
    """What one run changes in a history table.

    ``close``: former current rows, with ``valid_to`` set to the run's time, ``is_current`` false
    and ``is_deleted`` true for deletions; identify the row to replace by key + ``version``.
    ``open``: the new current rows (history schema). The counts are per key.
    """

    close: pa.Table
    open: pa.Table
    inserted: int
    updated: int
    deleted: int
    unchanged: int

    @property
    def is_empty(self) -> bool:
        """True when the run changes nothing (an unchanged re-delivery makes no commit)."""
        return bool(self.close.num_rows == 0 and self.open.num_rows == 0)


def _same(a: Any, b: Any) -> bool:
    # NaN == NaN here: an unchanged float column must not make a new version every run
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _keys(rows: Iterable[dict[str, Any]], key: Sequence[str]) -> list[tuple[Any, ...]]:
    return [tuple(row[k] for k in key) for row in rows]


def plan_scd2(
    history: pa.Table,
    incoming: pa.Table,
    *,
    key: Sequence[str],
    run_id: str,
    at: datetime,
    full: bool,
    compare: Sequence[str] | None = None,
) -> Scd2Plan:
    """Plan the SCD-2 changes that turn ``history`` into one holding ``incoming`` as current.

    Args:
        history: rows of the scope in the history schema (entity columns + SCD-2 columns). Its
            ``is_current`` rows are the current state; all its rows count for version numbers,
            so pass the closed rows too (at least each deleted key's last row) if a key may come
            back. An empty table with the right schema is fine.
        incoming: the scope's new state: one row per key, with at least the entity columns of
            ``history`` (extra columns are ignored; SCD-2 columns must not be present).
        key: the key columns (non-null), e.g. ``["id"]`` for ``vxp.resources``.
        run_id: the run's id, written to every opened row.
        at: the run's time, timezone-aware; ``valid_from`` of opened rows, ``valid_to`` of closed.
        full: True when ``incoming`` is the complete scope, so current keys missing from it are
            deleted; False for a partial delivery (missing keys are left as they are).
        compare: the columns whose change makes a new version; default every entity column that
            is not a key column.

    Returns:
        The plan: rows to close and rows to open, both in ``history``'s schema.

    Raises:
        ValueError: ``at`` is naive; a column is missing; ``incoming`` has a duplicate or null
            key; ``history`` has two current rows for one key.
    """
    if at.tzinfo is None:
        raise ValueError("the run's time must be timezone-aware")
    schema = history.schema
    entity = business_schema(schema)
    missing_scd2 = [c for c in SCD2_COLUMNS if c not in schema.names]
    if missing_scd2:
        raise ValueError(f"history has no SCD-2 columns {missing_scd2}")
    reserved = [c for c in incoming.schema.names if c in SCD2_COLUMNS]
    if reserved:
        raise ValueError(f"incoming rows must not carry SCD-2 columns, found {reserved}")
    absent = [c for c in entity.names if c not in incoming.schema.names]
    if absent:
        raise ValueError(f"incoming rows lack columns {absent}")
    bad_key = [k for k in key if k not in entity.names]
    if not key or bad_key:
        raise ValueError(f"key columns {list(key)} must be non-empty entity columns")
    compared = list(compare) if compare is not None else [n for n in entity.names if n not in key]
    unknown = [c for c in compared if c not in entity.names]
    if unknown:
        raise ValueError(f"compare columns {unknown} are not entity columns")

    new_rows = incoming.select(entity.names).cast(entity).to_pylist()
    new_keys = _keys(new_rows, key)
    seen: set[tuple[Any, ...]] = set()
    duplicates: list[tuple[Any, ...]] = []
    for k in new_keys:
        if any(part is None for part in k):
            raise ValueError(f"incoming row has a null key {dict(zip(key, k, strict=True))}")
        if k in seen:
            duplicates.append(k)
        seen.add(k)
    if duplicates:
        raise ValueError(f"incoming rows repeat keys {duplicates[:10]}")

    old_rows = history.to_pylist()
    current: dict[tuple[Any, ...], dict[str, Any]] = {}
    highest: dict[tuple[Any, ...], int] = {}
    for row, k in zip(old_rows, _keys(old_rows, key), strict=True):
        highest[k] = max(highest.get(k, 0), row[VERSION])
        if row[IS_CURRENT]:
            if k in current:
                raise ValueError(f"history has two current rows for key {k}")
            current[k] = row

    close: list[dict[str, Any]] = []
    opened: list[dict[str, Any]] = []
    inserted = updated = unchanged = 0
    for row, k in zip(new_rows, new_keys, strict=True):
        old = current.get(k)
        if old is not None and all(_same(row[c], old[c]) for c in compared):
            unchanged += 1
            continue
        if old is None:
            inserted += 1
        else:
            updated += 1
            close.append({**old, VALID_TO: at, IS_CURRENT: False, IS_DELETED: False})
        opened.append(
            {
                **row,
                VALID_FROM: at,
                VALID_TO: None,
                IS_CURRENT: True,
                IS_DELETED: False,
                VERSION: highest.get(k, 0) + 1,
                RUN_ID: run_id,
            }
        )
    deleted = 0
    if full:
        for k, old in current.items():
            if k not in seen:
                deleted += 1
                close.append({**old, VALID_TO: at, IS_CURRENT: False, IS_DELETED: True})
    return Scd2Plan(
        close=pa.Table.from_pylist(close, schema=schema),
        open=pa.Table.from_pylist(opened, schema=schema),
        inserted=inserted,
        updated=updated,
        deleted=deleted,
        unchanged=unchanged,
    )


def apply_scd2(history: pa.Table, plan: Scd2Plan, *, key: Sequence[str]) -> pa.Table:
    """The history after ``plan``: closed rows replace their originals, opened rows appended.

    Rows are matched on ``key`` + ``version``. Untouched rows keep their order; then come the
    closed rows, then the opened rows.

    Raises:
        ValueError: a row to close is not in ``history``.
    """
    identity = [*key, VERSION]
    closing = set(_keys(plan.close.select(identity).to_pylist(), identity))
    found = 0
    keep: list[bool] = []
    for k in _keys(history.select(identity).to_pylist(), identity):
        replaced = k in closing
        found += replaced
        keep.append(not replaced)
    if found != len(closing):
        raise ValueError("the plan closes rows that are not in the history")
    kept = history.filter(pa.array(keep, type=pa.bool_()))
    return pa.concat_tables([kept, plan.close.cast(history.schema), plan.open.cast(history.schema)])
