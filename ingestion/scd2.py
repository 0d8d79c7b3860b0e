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

Both are computed in DuckDB over Arrow, as set operations: the history's current rows and the
incoming rows joined on the key, the compared columns checked with ``IS NOT DISTINCT FROM``
(so null equals null, and NaN equals NaN: an unchanged float column never makes a new version).
:class:`Scd2Sql` runs the same statements on tables already in a DuckDB database, which is how
the integration step historises datasets larger than memory.
"""

# SQL here is built from quoted identifiers (_q) and fixed names; values are parameters
# ruff: noqa: S608
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
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

#: row positions of the Arrow inputs, to keep their order in the outputs
_POSITION = "__scd2_position"
_SECTION = "__scd2_section"


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


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Scd2Counts:
    """Keys inserted, updated, deleted and unchanged by a plan (see :class:`Scd2Plan`)."""

    inserted: int
    updated: int
    deleted: int
    unchanged: int

    @property
    def changes_anything(self) -> bool:
        """True when the plan closes or opens a row."""
        return bool(self.inserted or self.updated or self.deleted)


@dataclass(frozen=True)
class Scd2Sql:
    """The SCD-2 plan as DuckDB statements over two tables of one connection.

    Args:
        con: the connection holding both tables.
        history: table (or view) in the history schema: ``entity`` columns + the SCD-2 columns.
        incoming: table (or view) of the scope's new state with at least the ``entity``
            columns, of the history's types.
        entity: the entity columns, in the history's order.
        key: the key columns; compare: the columns whose change makes a new version.
        order: an integer column that both tables have, to order the outputs by (closed
            updates and opened rows in incoming order, deletions in history order), or None.

    :meth:`plan` creates the temporary tables ``__scd2_close`` and ``__scd2_open`` (history
    columns, in the history's order); :meth:`applied` is the query of the new history.
    """

    con: duckdb.DuckDBPyConnection
    history: str
    incoming: str
    entity: Sequence[str]
    key: Sequence[str]
    compare: Sequence[str]
    order: str | None = None

    def _on(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{_q(k)} = {b}.{_q(k)}" for k in self.key)

    def _keys(self, alias: str) -> str:
        return ", ".join(f"{alias}.{_q(k)}" for k in self.key)

    def check(self) -> None:
        """Refuse incoming null or repeated keys, and two current rows of one key.

        Raises:
            ValueError: naming the first offending keys.
        """
        nulls = " OR ".join(f"{_q(k)} IS NULL" for k in self.key)
        row = self.con.execute(
            f"SELECT {self._keys('i')} FROM {self.incoming} i WHERE {nulls} LIMIT 1"
        ).fetchone()
        if row is not None:
            raise ValueError(f"incoming row has a null key {dict(zip(self.key, row, strict=True))}")
        repeated = self.con.execute(
            f"SELECT {self._keys('i')} FROM {self.incoming} i "
            f"GROUP BY ALL HAVING count(*) > 1 LIMIT 10"
        ).fetchall()
        if repeated:
            raise ValueError(f"incoming rows repeat keys {[tuple(r) for r in repeated]}")
        two = self.con.execute(
            f"SELECT {self._keys('h')} FROM {self.history} h WHERE h.{IS_CURRENT} "
            f"GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
        ).fetchone()
        if two is not None:
            raise ValueError(f"history has two current rows for key {tuple(two)}")

    def plan(self, run_id: str, at: datetime, *, full: bool) -> Scd2Counts:
        """Create ``__scd2_close`` and ``__scd2_open``; the counts per key.

        One join of the incoming rows with the current rows (a full outer join for a full
        delivery, to find deletions) gives each key its state; the rows to close are the few
        current rows of changed or deleted keys, the rows to open those of new or changed keys.
        With ``order``, both tables also have the columns ``__scd2_section`` (0 for closed
        updates, 1 for deletions) and ``__scd2_position`` to sort them by.

        Args:
            run_id: written to every opened row; at: the run's time (timezone-aware).
            full: current keys missing from the incoming rows are deleted.
        """
        con, order = self.con, self.order
        same = " AND ".join(f"i.{_q(c)} IS NOT DISTINCT FROM c.{_q(c)}" for c in self.compare)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW __scd2_current AS SELECT * FROM {self.history} "
            f"WHERE {IS_CURRENT}"
        )
        icols = ", ".join(f"i.{_q(c)}" for c in self.entity)
        ckeys = ", ".join(f"c.{_q(k)} AS {_q('__c_' + k)}" for k in self.key)
        positions = f", i.{_q(order)} AS {_POSITION}, c.{_q(order)} AS __scd2_cpos" if order else ""
        missing = " AND ".join(f"i.{_q(k)} IS NULL" for k in self.key)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __scd2_state AS "
            f"SELECT {icols}, {ckeys}, c.{VERSION} AS __version{positions}, "
            f"CASE WHEN {missing} THEN 'deleted' WHEN c.{VERSION} IS NULL THEN 'new' "
            f"WHEN {same or 'true'} THEN 'same' ELSE 'changed' END AS __state "
            f"FROM {self.incoming} i {'FULL OUTER' if full else 'LEFT'} JOIN __scd2_current c "
            f"ON {self._on('i', 'c')}"
        )
        counts = dict(
            con.execute("SELECT __state, count(*) FROM __scd2_state GROUP BY ALL").fetchall()
        )
        entity = ", ".join(f"c.{_q(c)}" for c in self.entity)
        section = (
            f", CASE WHEN s.__state = 'changed' THEN 0 ELSE 1 END AS {_SECTION}, "
            f"CASE WHEN s.__state = 'changed' THEN s.{_POSITION} ELSE s.__scd2_cpos END "
            f"AS {_POSITION}"
            if order
            else ""
        )
        on_current = " AND ".join(f"c.{_q(k)} = s.{_q('__c_' + k)}" for k in self.key)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __scd2_close AS "
            f"SELECT {entity}, c.{VALID_FROM}, $at AS {VALID_TO}, false AS {IS_CURRENT}, "
            f"s.__state = 'deleted' AS {IS_DELETED}, c.{VERSION}, c.{RUN_ID}{section} "
            "FROM (SELECT * FROM __scd2_state WHERE __state IN ('changed', 'deleted')) s "
            f"JOIN __scd2_current c ON {on_current} AND c.{VERSION} = s.__version",
            {"at": at},
        )
        scols = ", ".join(f"s.{_q(c)}" for c in self.entity)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __scd2_open AS "
            f"SELECT {scols}, $at AS {VALID_FROM}, NULL::TIMESTAMPTZ AS {VALID_TO}, "
            f"true AS {IS_CURRENT}, false AS {IS_DELETED}, "
            f"CASE WHEN s.__state = 'changed' THEN s.__version + 1 "
            f"ELSE coalesce(v.__highest, 0) + 1 END::BIGINT AS {VERSION}, "
            f"$run_id AS {RUN_ID}"
            + (f", 0 AS {_SECTION}, s.{_POSITION}" if order else "")
            + " FROM (SELECT * FROM __scd2_state WHERE __state IN ('new', 'changed')) s "
            f"LEFT JOIN (SELECT {self._keys('h')}, max(h.{VERSION}) AS __highest "
            f"FROM {self.history} h WHERE NOT h.{IS_CURRENT} GROUP BY ALL) v "
            f"ON {self._on('s', 'v')}",
            {"at": at, "run_id": run_id},
        )
        return Scd2Counts(
            inserted=int(counts.get("new", 0)),
            updated=int(counts.get("changed", 0)),
            deleted=int(counts.get("deleted", 0)),
            unchanged=int(counts.get("same", 0)),
        )

    def planned(self, table: str) -> str:
        """The query of ``__scd2_close`` or ``__scd2_open`` in the history's columns (sorted
        when there is an ``order``)."""
        if not self.order:
            return f"SELECT * FROM {table}"
        return (
            f"SELECT * EXCLUDE ({_SECTION}, {_POSITION}) FROM {table} "
            f"ORDER BY {_SECTION}, {_POSITION}"
        )

    def current(self, columns: Sequence[str]) -> str:
        """The query of the current rows after :meth:`plan` (``columns`` of them): the current
        rows not closed, then the opened rows."""
        cols = ", ".join(_q(c) for c in columns)
        ccols = ", ".join(f"c.{_q(c)}" for c in columns)
        return (
            f"SELECT {ccols} FROM __scd2_current c {self._not_closed('c')} "
            f"UNION ALL SELECT {cols} FROM __scd2_open"
        )

    def _not_closed(self, alias: str) -> str:
        """SQL after ``FROM <table> <alias>``: keep the rows ``__scd2_close`` does not close.

        A join with the (few) closed rows as its build side, rather than ``NOT EXISTS``: DuckDB
        turns that correlated subquery into a join that first groups the outer rows by the
        correlated columns, a hash table of the whole history that does not spill.
        """
        identity = self._on(alias, "x") + f" AND {alias}.{VERSION} = x.{VERSION}"
        keys = ", ".join(_q(k) for k in self.key)
        return (
            f"LEFT JOIN (SELECT {keys}, {VERSION}, true AS __closed FROM __scd2_close) x "
            f"ON {identity} WHERE x.__closed IS NULL"
        )

    def applied(self, columns: Sequence[str]) -> str:
        """The query of the history after :meth:`plan`: untouched rows, then the closed rows,
        then the opened rows (with ``order``, each part keeps it).

        Args:
            columns: the history's columns in its order (entity + SCD-2 columns).
        """
        cols = ", ".join(_q(c) for c in columns)
        hcols = ", ".join(f"h.{_q(c)}" for c in columns)
        untouched = f"FROM {self.history} h {self._not_closed('h')}"
        if not self.order:
            return (
                f"SELECT {hcols} {untouched} UNION ALL SELECT {cols} FROM __scd2_close "
                f"UNION ALL SELECT {cols} FROM __scd2_open"
            )
        return (
            f"SELECT {cols} FROM ("
            f"SELECT {hcols}, 0 AS __part, 0 AS {_SECTION}, h.{_q(self.order)} AS {_POSITION} "
            f"{untouched} "
            f"UNION ALL SELECT {cols}, 1, {_SECTION}, {_POSITION} FROM __scd2_close "
            f"UNION ALL SELECT {cols}, 2, {_SECTION}, {_POSITION} FROM __scd2_open"
            f") ORDER BY __part, {_SECTION}, {_POSITION}"
        )


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # SCD-2 times are UTC instants (TIMESTAMPTZ); they come back to Arrow in UTC
    con.execute("SET TimeZone='UTC'")
    return con


def _positioned(table: pa.Table) -> pa.Table:
    return table.append_column(_POSITION, pa.array(range(table.num_rows), pa.int64()))


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
        The plan: rows to close and rows to open, both in ``history``'s schema (closed updates
        and opened rows in incoming order, then deletions in history order).

    Raises:
        ValueError: ``at`` is naive; a column is missing; ``incoming`` has a duplicate or null
            key; ``history`` has two current rows for one key.
    """
    schema = history.schema
    entity = business_schema(schema)
    compared = _check_arguments(schema, incoming.schema, key, at, compare)
    con = _connect()
    try:
        con.register("__history", _positioned(history))
        con.register("__incoming", _positioned(incoming.select(entity.names).cast(entity)))
        sql = Scd2Sql(con, "__history", "__incoming", entity.names, key, compared, _POSITION)
        sql.check()
        counts = sql.plan(run_id, at, full=full)
        close = con.execute(sql.planned("__scd2_close")).to_arrow_table()
        opened = con.execute(sql.planned("__scd2_open")).to_arrow_table()
    finally:
        con.close()
    return Scd2Plan(
        close=_as(close, schema),
        open=_as(opened, schema),
        inserted=counts.inserted,
        updated=counts.updated,
        deleted=counts.deleted,
        unchanged=counts.unchanged,
    )


def _check_arguments(
    schema: pa.Schema,
    incoming: pa.Schema,
    key: Sequence[str],
    at: datetime,
    compare: Sequence[str] | None,
) -> list[str]:
    """The compared columns, after checking the arguments of :func:`plan_scd2`."""
    if at.tzinfo is None:
        raise ValueError("the run's time must be timezone-aware")
    entity = business_schema(schema)
    missing_scd2 = [c for c in SCD2_COLUMNS if c not in schema.names]
    if missing_scd2:
        raise ValueError(f"history has no SCD-2 columns {missing_scd2}")
    reserved = [c for c in incoming.names if c in SCD2_COLUMNS]
    if reserved:
        raise ValueError(f"incoming rows must not carry SCD-2 columns, found {reserved}")
    absent = [c for c in entity.names if c not in incoming.names]
    if absent:
        raise ValueError(f"incoming rows lack columns {absent}")
    bad_key = [k for k in key if k not in entity.names]
    if not key or bad_key:
        raise ValueError(f"key columns {list(key)} must be non-empty entity columns")
    compared = list(compare) if compare is not None else [n for n in entity.names if n not in key]
    unknown = [c for c in compared if c not in entity.names]
    if unknown:
        raise ValueError(f"compare columns {unknown} are not entity columns")
    return compared


def _as(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A DuckDB result in ``schema`` (names, types, field metadata)."""
    return pa.Table.from_arrays(
        [table.column(i).cast(f.type) for i, f in enumerate(schema)], schema=schema
    )


def apply_scd2(history: pa.Table, plan: Scd2Plan, *, key: Sequence[str]) -> pa.Table:
    """The history after ``plan``: closed rows replace their originals, opened rows appended.

    Rows are matched on ``key`` + ``version``. Untouched rows keep their order; then come the
    closed rows, then the opened rows.

    Raises:
        ValueError: a row to close is not in ``history``.
    """
    schema = history.schema
    identity = [*key, VERSION]
    con = _connect()
    try:
        con.register("__history", _positioned(history))
        for name, rows in (("__scd2_close", plan.close), ("__scd2_open", plan.open)):
            con.register(
                name,
                _positioned(rows.cast(schema)).append_column(
                    _SECTION, pa.array([0] * rows.num_rows, pa.int64())
                ),
            )
        on = " AND ".join(f"h.{_q(c)} = x.{_q(c)}" for c in identity)
        row = con.execute(
            f"SELECT count(*) FROM __scd2_close x WHERE NOT EXISTS "
            f"(SELECT 1 FROM __history h WHERE {on})"
        ).fetchone()
        if row is not None and row[0]:
            raise ValueError("the plan closes rows that are not in the history")
        entity = business_schema(schema).names
        sql = Scd2Sql(con, "__history", "__scd2_open", entity, key, [], _POSITION)
        result = con.execute(sql.applied(schema.names)).to_arrow_table()
    finally:
        con.close()
    return _as(result, schema)
