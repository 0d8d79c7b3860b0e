"""The integration step of a study run as Trino SQL (``vxp ingest study --engine trino``).

The same step as :func:`~vxp.ingestion.integration.integrate_study` (surrogate keys, SCD-2
history, current tables, the study's resources), with the same tables and rows as result, but
the work on the rows is done by Trino on the vxp catalog at the run's integration branch: a
Trino cluster scales out where one process does not.

- The incoming rows are the run's typed ``raw_<source>.<dataset>`` tables, which the branch
  holds once the landed delivery is merged into it (:func:`.runs.bring_upstream`): nothing of
  the delivery passes through this process.
- ``<source>.surrogate_keys`` gains the new natural keys in one ``INSERT … SELECT``. Natural keys
  are spelt in SQL exactly as :func:`~vxp.ingestion.keys.natural_key` spells them (compact JSON
  arrays; see :func:`natural_key_sql`), so the engines share one key table.
- A keyed dataset's ``_history`` table gets one ``MERGE`` (closed rows updated, new versions
  inserted) and its current table one ``MERGE`` (closed keys deleted, new versions inserted):
  Iceberg row-level changes, not rewrites. The plan is the one of
  :class:`~vxp.ingestion.scd2.Scd2Sql`: the incoming rows joined with the current rows (a full
  outer join for a full delivery), compared with ``IS DISTINCT FROM``.
- A keyless dataset is replaced (``DELETE`` + ``INSERT``) unless it holds the same rows.
- The ``Trial``/``Subject``/``Visit`` resources (one row per trial, subject or visit) are planned
  by the shared in-process code (:func:`~vxp.ingestion.integration.study_resources`) from what
  Trino selects: the distinct subject/visit pairs of each dataset, and the rows of the datasets
  keyed by subject alone.

Every Trino write is a catalog commit and so a lakeFS commit on the run's branch; the branch is
merged as a whole, so readers of ``integration`` see all of it or nothing (DESIGN.md, "Catalog
invariants").
"""

# SQL here is built from quoted identifiers (_q), types from the delivery's Arrow schema and
# literals quoted by _literal; Trino's client has no server-side parameters for DDL/MERGE
# ruff: noqa: S608
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from vxp.core.errors import InvalidInput, NotFound, Unavailable, VxpError
from vxp.core.settings import Settings
from vxp.domain.engines import trino as engine
from vxp.domain.engines.common import repository_catalog

from .iceberg import Tables
from .integration import (
    BATCH_ROWS,
    DatasetData,
    IntegrationResult,
    TableChange,
    Workspace,
    study_resources,
)
from .scd2 import IS_CURRENT, IS_DELETED, RUN_ID, SCD2_COLUMNS, VALID_FROM, VALID_TO, VERSION

if TYPE_CHECKING:
    from trino.dbapi import Connection

__all__ = ["integrate_study_trino", "natural_key_sql", "trino_type", "trino_url"]

#: Iceberg type promotions Trino's ``ALTER COLUMN … SET DATA TYPE`` makes (Iceberg spec,
#: "Schema Evolution"); decimals widen by precision at the same scale
_WIDER = {("integer", "bigint"), ("real", "double")}

#: the Trino catalog of a run's integration branch: this prefix, then the name ``vxp sql`` would
#: give the ref-scoped catalog (readable part and hash of the repository and branch)
RUN_CATALOG_PREFIX = "vxp_ingest_"

_SCD2_TYPES = {
    VALID_FROM: "timestamp(6) with time zone",
    VALID_TO: "timestamp(6) with time zone",
    IS_CURRENT: "boolean",
    IS_DELETED: "boolean",
    VERSION: "bigint",
    RUN_ID: "varchar",
}


def trino_url(settings: Settings) -> str:
    """The stack's Trino, for ``--engine trino``.

    Raises:
        NotFound: the stack has no Trino (the embedded stack; ``VXP_TRINO_URL`` is not set).
    """
    if not settings.trino_url:
        raise NotFound(
            "--engine trino needs Trino, and this stack has none (VXP_TRINO_URL is not set)",
            hint="start the full stack (`vxp up --stack full`), or leave out --engine "
            "(the in-process engine, DuckDB)",
        )
    return settings.trino_url


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _timestamp(at: dt.datetime) -> str:
    """A ``timestamp(6) with time zone`` literal of an aware datetime, in UTC."""
    return f"TIMESTAMP '{at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f} UTC'"


def trino_type(arrow: pa.DataType) -> str:
    """The Trino type of an Arrow type of a study delivery (:mod:`.study.types`).

    Raises:
        InvalidInput: a type study deliveries do not produce.
    """
    simple = {
        pa.string(): "varchar",
        pa.large_string(): "varchar",
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "integer",
        pa.int64(): "bigint",
        pa.float32(): "real",
        pa.float64(): "double",
        pa.bool_(): "boolean",
        pa.date32(): "date",
        pa.time64("us"): "time(6)",
    }
    if arrow in simple:
        return simple[arrow]
    if pa.types.is_decimal(arrow):
        return f"decimal({arrow.precision}, {arrow.scale})"
    if pa.types.is_timestamp(arrow):
        return "timestamp(6) with time zone" if arrow.tz else "timestamp(6)"
    raise InvalidInput(f"the Trino engine cannot integrate a column of type {arrow}")


def _json_part(column: str, arrow: pa.DataType) -> str:
    """SQL for one value of a natural key as the JSON text ``json.dumps(…, default=str)``
    writes for the Python value Arrow gives (:func:`~vxp.ingestion.keys.natural_key`)."""
    if pa.types.is_integer(arrow) or pa.types.is_boolean(arrow):
        return f"CAST({column} AS varchar)"
    if pa.types.is_floating(arrow):
        # Python's repr and Java's Double.toString agree on [1e-3, 1e7); integral values past
        # that are written in full by Python (1e7 -> 10000000.0), as here; :func:`_odd_floats`
        # refuses the rest
        value = f"CAST({column} AS double)"
        return (
            f"CASE WHEN abs({value}) >= 1e7 AND abs({value}) < 1e16 AND {value} = floor({value}) "
            f"THEN CAST(CAST({value} AS bigint) AS varchar) || '.0' "
            f"ELSE json_format(CAST({value} AS JSON)) END"
        )
    if pa.types.is_decimal(arrow) or pa.types.is_date(arrow):
        # default=str: a JSON string of str(Decimal) / date.isoformat()
        return f"json_format(CAST(CAST({column} AS varchar) AS JSON))"
    if pa.types.is_timestamp(arrow) or pa.types.is_time(arrow):
        # str(datetime) / str(time): no fraction when the microseconds are 0
        length = 19 if pa.types.is_timestamp(arrow) else 8
        text = (
            f"CASE WHEN {column} = date_trunc('second', {column}) "
            f"THEN substr(CAST({column} AS varchar), 1, {length}) "
            f"ELSE CAST({column} AS varchar) END"
        )
        return f"json_format(CAST({text} AS JSON))"
    return f"json_format(CAST(CAST({column} AS varchar) AS JSON))"


def natural_key_sql(alias: str, columns: Sequence[str], schema: pa.Schema) -> str:
    """SQL for the natural key of an entity in row ``alias``: the same text as
    :func:`~vxp.ingestion.keys.natural_key` gives for the row's values (``["B-001",2]``).

    Args:
        alias: the row's table alias; columns: the entity's key columns; schema: their types.
    """
    parts = [_json_part(f"{alias}.{_q(c)}", schema.field(c).type) for c in columns]
    return "'[' || " + " || ',' || ".join(parts) + " || ']'"


def _all_set(alias: str, columns: Sequence[str]) -> str:
    return " AND ".join(f"{alias}.{_q(c)} IS NOT NULL" for c in columns)


@dataclass(frozen=True)
class _Column:
    name: str
    type: str


class _Trino:
    """A Trino session on a ref-scoped catalog of one branch (warehouse ``<repo>.<branch>``),
    created for the step and dropped on exit (one a killed run leaves is harmless)."""

    def __init__(self, url: str, repository: str, branch: str) -> None:
        from requests.exceptions import RequestException
        from trino.exceptions import HttpError, TrinoConnectionError, TrinoQueryError

        # a refused statement, and Trino not answering (no connection, 502/503/504, an empty
        # answer): the others are Unavailable, exit 4
        self._errors: tuple[type[Exception], ...] = (
            TrinoQueryError,
            RequestException,
            HttpError,
            TrinoConnectionError,
        )
        self.url = url
        # not a `vxp_ref_` name: `vxp sql` drops those beyond a few, which must never happen
        # to this one in the middle of the step
        self.catalog = RUN_CATALOG_PREFIX + engine.ref_catalog(repository, branch).removeprefix(
            engine.REF_CATALOG_PREFIX
        )
        try:
            with closing(engine.connect(url)) as setup:
                known = engine.catalogs(setup)
                engine.ensure_catalog(setup, repository_catalog(repository), repository, known)
                engine.ensure_catalog(setup, self.catalog, f"{repository}.{branch}", known)
        except self._errors as exc:
            raise self._error(exc, "") from exc
        self.conn: Connection = engine.connect(url, catalog=self.catalog)

    def __enter__(self) -> _Trino:
        return self

    def __exit__(self, *_: object) -> None:
        self.conn.close()  # type: ignore[no-untyped-call]
        # the branch is the run's alone; its catalog is not needed once the step is done
        try:
            with closing(engine.connect(self.url)) as setup:
                cur = setup.cursor()
                cur.execute(f"DROP CATALOG IF EXISTS {_q(self.catalog)}")
                cur.fetchall()
        except self._errors:
            pass  # a leftover ref catalog is harmless; the stack drops them at a restart

    def _error(self, exc: Exception, sql: str) -> VxpError:
        from trino.exceptions import TrinoQueryError

        if isinstance(exc, TrinoQueryError):
            message = str(exc.message).replace(f"{self.catalog}.", "")
            return VxpError(
                f"Trino refused the integration step: {message}",
                hint=f"the statement began: {sql[:160]}" if sql else None,
            )
        return Unavailable(
            f"Trino does not answer at {self.url}: {exc}",
            hint="the full stack's Trino must run for --engine trino (`vxp status`)",
        )

    def rows(self, sql: str) -> list[list[Any]]:
        """The rows of one statement (an INSERT/MERGE answers ``[[rows written]]``).

        Raises:
            VxpError: Trino refused it. Unavailable: Trino cannot be reached.
        """
        cur = self.conn.cursor()
        try:
            cur.execute(sql)
            result: list[list[Any]] = cur.fetchall()
        except self._errors as exc:
            raise self._error(exc, sql) from exc
        return result

    def count(self, sql: str) -> int:
        found = self.rows(sql)
        return int(found[0][0]) if found and found[0][0] is not None else 0

    def columns(self, schema: str, table: str) -> list[_Column] | None:
        """The columns of ``schema.table`` in order, or None when it does not exist."""
        found = self.rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = {_literal(schema)} AND table_name = {_literal(table)} "
            "ORDER BY ordinal_position"
        )
        return [_Column(str(r[0]), str(r[1])) for r in found] or None


def _widens(stored: str, new: str) -> bool:
    """Whether Iceberg promotes column type ``stored`` to ``new`` (int → long, float → double,
    a decimal's precision)."""
    if (stored, new) in _WIDER:
        return True
    if stored.startswith("decimal(") and new.startswith("decimal("):
        p1, s1 = (int(x) for x in stored[8:-1].split(","))
        p2, s2 = (int(x) for x in new[8:-1].split(","))
        return s1 == s2 and p2 > p1
    return False


def _evolve(db: _Trino, table: str, stored: list[_Column], wanted: Sequence[_Column]) -> None:
    """Columns of ``wanted`` that ``table`` lacks added, narrower types widened (what pyiceberg's
    ``union_by_name`` does for the in-process engine); columns it has beyond them are kept."""
    have = {c.name: c.type for c in stored}
    for column in wanted:
        if column.name not in have:
            db.rows(f"ALTER TABLE {table} ADD COLUMN {_q(column.name)} {column.type}")
        elif _widens(have[column.name], column.type):
            db.rows(
                f"ALTER TABLE {table} ALTER COLUMN {_q(column.name)} SET DATA TYPE {column.type}"
            )


@dataclass(frozen=True)
class _Incoming:
    """A dataset's rows as the integration tables hold them: the raw table's columns with the
    ``<entity>_sk`` columns (looked up in ``surrogate_keys``)."""

    sql: str
    columns: list[_Column]


def _incoming(source: str, dataset: DatasetData) -> _Incoming:
    schema = dataset.rows.schema
    select = [f"i.{_q(f.name)}" for f in schema]
    columns = [_Column(f.name, trino_type(f.type)) for f in schema]
    joins = []
    keys = f"{_q(source)}.{_q('surrogate_keys')}"
    for entity in dataset.entities:
        name, alias = entity.sk_column, f"k_{entity.name}"
        expression = f"{alias}.surrogate_key AS {_q(name)}"
        if name in schema.names:
            select[schema.names.index(name)] = expression
            columns[schema.names.index(name)] = _Column(name, "bigint")
        else:
            select.append(expression)
            columns.append(_Column(name, "bigint"))
        nk = natural_key_sql("i", entity.key_columns, schema)
        joins.append(
            f"LEFT JOIN (SELECT natural_key, surrogate_key FROM {keys} "
            f"WHERE entity = {_literal(entity.name)}) {alias} "
            f"ON {_all_set('i', entity.key_columns)} AND {alias}.natural_key = {nk}"
        )
    raw = f"{_q('raw_' + source)}.{_q(dataset.name)}"
    return _Incoming(f"SELECT {', '.join(select)} FROM {raw} i {' '.join(joins)}", columns)


def integrate_study_trino(
    url: str,
    tables: Tables,
    repository: str,
    branch: str,
    source: str,
    datasets: Sequence[DatasetData],
    *,
    run_id: str,
    at: dt.datetime,
    partial: bool,
    complete: bool = True,
) -> IntegrationResult:
    """Write the integration tables and study resources of one delivery at ``branch`` with
    Trino; the same tables and rows as :func:`~vxp.ingestion.integration.integrate_study`.

    Args:
        url: the Trino coordinator (``http://host:port``).
        tables: the catalog at ``branch`` (pyiceberg), for the resources.
        repository, branch: the run's integration branch; it must hold the delivery's
            ``raw_<source>.<dataset>`` tables (the landed delivery merged into it).
        source: the source name (the namespace of the tables).
        datasets: the delivery's datasets: their names, schemas, keys and entities (their rows
            are not read here; Trino reads the raw tables).
        run_id: the run; at: its time (timezone-aware), the ``valid_from`` of what it opens.
        partial: rows missing from the delivery are left alone instead of deleted.
        complete: False when datasets delivered before are missing (resources as for a partial
            delivery, see :func:`~vxp.ingestion.integration.integrate_study`).

    Returns:
        Per table the rows added, changed and deleted (as the in-process engine counts them).

    Raises:
        ValueError: a dataset repeats a key, or a stored history has two current rows for one
            key (as the in-process engine).
        InvalidInput: a floating-point key value whose spelling Trino cannot reproduce.
        VxpError: Trino refused a statement. Unavailable: Trino cannot be reached.
    """
    result = IntegrationResult()
    with _Trino(url, repository, branch) as db:
        db.rows(f"CREATE SCHEMA IF NOT EXISTS {_q(source)}")
        added = _assign_keys(db, source, datasets, run_id)
        if added:
            result.changes.append(TableChange(f"{source}.surrogate_keys", added=added))
        for dataset in datasets:
            incoming = _incoming(source, dataset)
            if not dataset.key:
                change = _replace(db, source, dataset, incoming)
            else:
                change = _historise(db, source, dataset, incoming, run_id, at, partial)
            if change.changes_anything:
                result.changes.append(change)
        change = _resources(db, tables, source, datasets, run_id, at, partial or not complete)
        if change.changes_anything:
            result.changes.append(change)
    return result


def _odd_floats(db: _Trino, source: str, datasets: Sequence[DatasetData]) -> None:
    """Refuse floating-point key values Trino would spell unlike Python (non-integral values
    outside [1e-3, 1e7), or past 1e16): their natural keys would differ between engines.

    Raises:
        InvalidInput: naming the dataset and column.
    """
    for dataset in datasets:
        schema = dataset.rows.schema
        for entity in dataset.entities:
            for column in entity.key_columns:
                if not pa.types.is_floating(schema.field(column).type):
                    continue
                v = f"abs(CAST({_q(column)} AS double))"
                odd = db.count(
                    f"SELECT count(*) FROM {_q('raw_' + source)}.{_q(dataset.name)} WHERE "
                    f"{v} <> 0 AND NOT ({v} >= 1e-3 AND {v} < 1e7) "
                    f"AND NOT ({v} < 1e16 AND {v} = floor({v}))"
                )
                if odd:
                    raise InvalidInput(
                        f"{dataset.name}.{column}: {odd} key values are floating-point numbers "
                        "whose text Trino writes unlike Python (e.g. 1.5e-05)",
                        hint="ingest with the in-process engine (leave out --engine trino), or "
                        "declare the column as decimal",
                    )


def _assign_keys(db: _Trino, source: str, datasets: Sequence[DatasetData], run_id: str) -> int:
    """New natural keys of every entity into ``<source>.surrogate_keys`` (one INSERT); how many.

    The rule of the in-process engine: an entity's new keys are numbered after its highest
    key, in natural-key order (code point order in both engines).
    """
    keys = f"{_q(source)}.{_q('surrogate_keys')}"
    db.rows(
        f"CREATE TABLE IF NOT EXISTS {keys} (entity varchar, natural_key varchar, "
        "surrogate_key bigint, first_run_id varchar)"
    )
    parts = []
    for dataset in datasets:
        for entity in dataset.entities:
            nk = natural_key_sql("i", entity.key_columns, dataset.rows.schema)
            parts.append(
                f"SELECT {_literal(entity.name)} AS entity, {nk} AS nk "
                f"FROM {_q('raw_' + source)}.{_q(dataset.name)} i "
                f"WHERE {_all_set('i', entity.key_columns)}"
            )
    if not parts:
        return 0
    _odd_floats(db, source, datasets)
    wanted = " UNION ".join(parts)
    return db.count(
        f"INSERT INTO {keys} "
        f"SELECT n.entity, n.nk, coalesce(h.highest, 0) + row_number() OVER "
        f"(PARTITION BY n.entity ORDER BY n.nk), {_literal(run_id)} "
        f"FROM ({wanted}) n "
        f"LEFT JOIN (SELECT entity, max(surrogate_key) AS highest FROM {keys} GROUP BY entity) h "
        "ON h.entity = n.entity "
        f"WHERE NOT EXISTS (SELECT 1 FROM {keys} k "
        "WHERE k.entity = n.entity AND k.natural_key = n.nk)"
    )


def _replace(db: _Trino, source: str, dataset: DatasetData, incoming: _Incoming) -> TableChange:
    """A keyless dataset: the table replaced by the incoming rows, unless it holds the same."""
    identifier = f"{source}.{dataset.name}"
    table = f"{_q(source)}.{_q(dataset.name)}"
    count = db.count(f"SELECT count(*) FROM ({incoming.sql})")
    stored = db.columns(source, dataset.name)
    if stored is None:
        db.rows(f"CREATE TABLE {table} AS {incoming.sql}")
        return TableChange(identifier, added=count, replaced=True)
    before = db.count(f"SELECT count(*) FROM {table}")
    names = [c.name for c in incoming.columns]
    cols = ", ".join(_q(n) for n in names)
    if {c.name for c in stored} == set(names) and before == count:
        differ = db.count(
            f"SELECT count(*) FROM (SELECT {cols} FROM ({incoming.sql}) "
            f"EXCEPT ALL SELECT {cols} FROM {table})"
        )
        if not differ:
            return TableChange(identifier)
    _evolve(db, table, stored, incoming.columns)
    db.rows(f"DELETE FROM {table}")
    db.rows(f"INSERT INTO {table} ({cols}) {incoming.sql}")
    return TableChange(identifier, added=count, deleted=before, replaced=True)


def _historise(
    db: _Trino,
    source: str,
    dataset: DatasetData,
    incoming: _Incoming,
    run_id: str,
    at: dt.datetime,
    partial: bool,
) -> TableChange:
    """SCD-2 of a keyed dataset: a MERGE into ``<table>_history``, then one into ``<table>``."""
    current_id = f"{source}.{dataset.name}"
    history = f"{_q(source)}.{_q(dataset.name + '_history')}"
    current = f"{_q(source)}.{_q(dataset.name)}"
    scd2 = [_Column(name, _SCD2_TYPES[name]) for name in SCD2_COLUMNS]
    stored = db.columns(source, f"{dataset.name}_history")
    if stored is None:
        columns = ", ".join(f"{_q(c.name)} {c.type}" for c in [*incoming.columns, *scd2])
        db.rows(f"CREATE TABLE {history} ({columns})")
        stored = [*incoming.columns, *scd2]
    names = [c.name for c in incoming.columns]
    # the entity's columns: the delivery's, then those only the history has (kept, null in
    # new versions)
    extra = [c for c in stored if c.name not in names and c.name not in SCD2_COLUMNS]
    entity = [*incoming.columns, *extra]
    key = list(dataset.key)
    compare = [c.name for c in entity if c.name not in key]
    have = {c.name for c in stored}
    inc = incoming.sql
    if extra:
        nulls = ", ".join(f"CAST(NULL AS {c.type}) AS {_q(c.name)}" for c in extra)
        inc = f"SELECT x.*, {nulls} FROM ({incoming.sql}) x"
    # the current rows as the entity's columns: a column the history lacks yet reads null
    projected = ", ".join(
        f"h.{_q(c.name)}" if c.name in have else f"CAST(NULL AS {c.type}) AS {_q(c.name)}"
        for c in entity
    )
    on = " AND ".join(f"i.{_q(k)} = c.{_q(k)}" for k in key)
    same = " AND ".join(f"NOT (i.{_q(c)} IS DISTINCT FROM c.{_q(c)})" for c in compare)
    missing = " AND ".join(f"i.{_q(k)} IS NULL" for k in key)
    icols = ", ".join(f"i.{_q(c.name)}" for c in entity)
    ckeys = ", ".join(f"c.{_q(k)} AS {_q('__c_' + k)}" for k in key)
    state = (
        f"WITH inc AS ({inc}), "
        f"cur AS (SELECT {projected}, h.{VERSION} FROM {history} h WHERE h.{IS_CURRENT}), "
        f"st AS (SELECT {icols}, {ckeys}, c.{VERSION} AS __version, "
        f"CASE WHEN {missing} THEN 'deleted' WHEN c.{VERSION} IS NULL THEN 'new' "
        f"WHEN {same or 'true'} THEN 'same' ELSE 'changed' END AS __state "
        f"FROM inc i {'LEFT' if partial else 'FULL OUTER'} JOIN cur c ON {on})"
    )
    _check(db, inc, history, key)
    counts = {
        str(r[0]): int(r[1])
        for r in db.rows(f"{state} SELECT __state, count(*) FROM st GROUP BY __state")
    }
    change = TableChange(
        current_id,
        added=counts.get("new", 0),
        changed=counts.get("changed", 0),
        deleted=counts.get("deleted", 0),
    )
    current_stored = db.columns(source, dataset.name)
    if not change.changes_anything and current_stored is not None:
        return change
    _evolve(db, history, stored, entity)
    if change.changes_anything:
        _merge_history(db, history, state, entity, key, run_id, at)
    entity_names = [c.name for c in entity]
    history_columns = db.columns(source, f"{dataset.name}_history") or []
    ordered = [c for c in history_columns if c.name not in SCD2_COLUMNS]
    if current_stored is None:
        cols = ", ".join(_q(c.name) for c in ordered)
        db.rows(f"CREATE TABLE {current} AS SELECT {cols} FROM {history} WHERE {IS_CURRENT}")
        return change
    _evolve(db, current, current_stored, ordered)
    if change.changes_anything:
        _merge_current(db, current, history, entity_names, key, run_id, at)
    return change


def _check(db: _Trino, incoming: str, history: str, key: Sequence[str]) -> None:
    """The checks of :meth:`Scd2Sql.check`: no null or repeated incoming key, no key with two
    current rows.

    Raises:
        ValueError: naming the first offending key.
    """
    keys = ", ".join(_q(k) for k in key)
    nulls = " OR ".join(f"{_q(k)} IS NULL" for k in key)
    found = db.rows(f"SELECT {keys} FROM ({incoming}) WHERE {nulls} LIMIT 1")
    if found:
        raise ValueError(f"incoming row has a null key {dict(zip(key, found[0], strict=True))}")
    repeated = db.rows(
        f"SELECT {keys} FROM ({incoming}) GROUP BY {keys} HAVING count(*) > 1 LIMIT 10"
    )
    if repeated:
        raise ValueError(f"incoming rows repeat keys {[tuple(r) for r in repeated]}")
    two = db.rows(
        f"SELECT {keys} FROM {history} WHERE {IS_CURRENT} GROUP BY {keys} "
        "HAVING count(*) > 1 LIMIT 1"
    )
    if two:
        raise ValueError(f"history has two current rows for key {tuple(two[0])}")


def _merge_history(
    db: _Trino,
    history: str,
    state: str,
    entity: Sequence[_Column],
    key: Sequence[str],
    run_id: str,
    at: dt.datetime,
) -> None:
    """One MERGE: the current rows of changed and deleted keys closed (matched on key and
    version), new versions inserted (version + 1, or the key's highest closed version + 1 for
    a key deleted before, so ``(key, version)`` is never reused)."""
    scols = ", ".join(f"s.{_q(c.name)}" for c in entity)
    ckeys = ", ".join(f"s.{_q('__c_' + k)}" for k in key)
    nullkeys = ", ".join(f"NULL AS {_q('__c_' + k)}" for k in key)
    hkeys = ", ".join(_q(k) for k in key)
    on_hi = " AND ".join(f"v.{_q(k)} = s.{_q(k)}" for k in key)
    source = (
        f"{state}, hi AS (SELECT {hkeys}, max({VERSION}) AS __highest FROM {history} "
        f"WHERE NOT {IS_CURRENT} GROUP BY {hkeys}) "
        f"SELECT {scols}, {ckeys}, s.__version AS __match, s.__state, "
        "CAST(NULL AS bigint) AS __new_version FROM st s "
        "WHERE s.__state IN ('changed', 'deleted') "
        f"UNION ALL SELECT {scols}, {nullkeys}, NULL, s.__state, "
        "CAST(CASE WHEN s.__state = 'changed' THEN s.__version + 1 "
        "ELSE coalesce(v.__highest, 0) + 1 END AS bigint) "
        f"FROM st s LEFT JOIN hi v ON {on_hi} WHERE s.__state IN ('new', 'changed')"
    )
    match = " AND ".join(f"t.{_q(k)} = m.{_q('__c_' + k)}" for k in key)
    columns = [*(c.name for c in entity), *SCD2_COLUMNS]
    values = [f"m.{_q(c.name)}" for c in entity] + [
        _timestamp(at),
        "NULL",
        "true",
        "false",
        "m.__new_version",
        _literal(run_id),
    ]
    db.rows(
        f"MERGE INTO {history} t USING ({source}) m "
        f"ON {match} AND t.{VERSION} = m.__match "
        f"WHEN MATCHED THEN UPDATE SET {VALID_TO} = {_timestamp(at)}, {IS_CURRENT} = false, "
        f"{IS_DELETED} = (m.__state = 'deleted') "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(_q(c) for c in columns)}) "
        f"VALUES ({', '.join(values)})"
    )


def _merge_current(
    db: _Trino,
    current: str,
    history: str,
    entity: Sequence[str],
    key: Sequence[str],
    run_id: str,
    at: dt.datetime,
) -> None:
    """One MERGE: the keys this run closed in the history deleted from the current table, the
    versions it opened inserted."""
    cols = ", ".join(_q(c) for c in entity)
    closed = ", ".join(_q(c) if c in key else f"NULL AS {_q(c)}" for c in entity)
    match = " AND ".join(f"t.{_q(k)} = m.{_q(k)}" for k in key)
    moment = _timestamp(at)
    db.rows(
        f"MERGE INTO {current} t USING ("
        f"SELECT {closed}, 'close' AS __op FROM {history} WHERE {VALID_TO} = {moment} "
        f"UNION ALL SELECT {cols}, 'open' FROM {history} "
        f"WHERE {IS_CURRENT} AND {RUN_ID} = {_literal(run_id)} AND {VALID_FROM} = {moment}"
        f") m ON m.__op = 'close' AND {match} "
        "WHEN MATCHED THEN DELETE "
        f"WHEN NOT MATCHED AND m.__op = 'open' THEN INSERT ({cols}) "
        f"VALUES ({', '.join(f'm.{_q(c)}' for c in entity)})"
    )


def _resources(
    db: _Trino,
    tables: Tables,
    source: str,
    datasets: Sequence[DatasetData],
    run_id: str,
    at: dt.datetime,
    partial: bool,
) -> TableChange:
    """The study's resources by the shared in-process code, from what Trino selects: per
    dataset with subjects, its distinct (subject, visit number) pairs, or its rows when it has
    one row per subject (their attributes)."""
    with Workspace() as ws:
        for i, dataset in enumerate(datasets):
            subject = next((e for e in dataset.entities if e.name == "subject"), None)
            if subject is None:
                continue
            schema = dataset.rows.schema
            raw = f"{_q('raw_' + source)}.{_q(dataset.name)}"
            if tuple(dataset.key) == subject.key_columns:
                wanted = pa.schema([f for f in schema if not f.name.endswith("_sk")])
            else:
                visit = next((e for e in dataset.entities if e.name == "visit"), None)
                names = [subject.key_columns[0]] + ([visit.key_columns[-1]] if visit else [])
                wanted = pa.schema([schema.field(n) for n in dict.fromkeys(names)])
            cols = ", ".join(_q(n) for n in wanted.names)
            distinct = "" if tuple(dataset.key) == subject.key_columns else "DISTINCT "
            column = _q(subject.key_columns[0])
            query = f"SELECT {distinct}{cols} FROM {raw} WHERE {column} IS NOT NULL"
            ws.load(f"rows_{i}", wanted, _batches(db, query, wanted))
        return study_resources(ws, tables, source, datasets, run_id, at, partial)


def _batches(db: _Trino, sql: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The rows of ``sql`` (columns of ``schema``) as record batches, fetched in pages."""
    cur = db.conn.cursor()
    try:
        cur.execute(sql)
        while True:
            page = cur.fetchmany(BATCH_ROWS)
            if not page:
                break
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([row[j] for row in page], type=field.type)
                    for j, field in enumerate(schema)
                ],
                schema=schema,
            )
    except db._errors as exc:
        raise db._error(exc, sql) from exc
    finally:
        cur.close()
