"""The integration step of a study run: surrogate keys, SCD-2 history, current tables, and the
``Trial``/``Subject``/``Visit`` resources, written on the run's integration branch.

Per keyed dataset ``d`` of source ``s`` (DESIGN.md, "What a ref holds"):

- ``s.surrogate_keys`` gets the keys of natural keys it has not seen (insert-only);
- ``s.d_history`` gets the SCD-2 changes: new keys opened at version 1, changed rows closed and
  reopened at version + 1, rows missing from a full delivery closed with ``is_deleted``;
- ``s.d`` holds the current rows (the history's current rows without the SCD-2 columns).

A dataset without key columns is replaced as delivered (its history is the lakeFS log).
Every table is read and written at the integration branch, which is merged as a whole.

The work happens in a DuckDB database in a temporary folder, with a memory limit past which
DuckDB spills to disk: the delivery's rows and the stored tables are streamed into it, keys are
joined on, the SCD-2 plan is a set of joins (:class:`~vxp.ingestion.scd2.Scd2Sql`), and the
new tables are streamed out to Iceberg in batches. So memory is bounded whatever the size of a
dataset; only the distinct natural keys of new entities pass through Python (to spell them as
:func:`~vxp.ingestion.keys.natural_key` does).
"""

# SQL here is built from quoted identifiers (_q) and the workspace's own table names; values
# are parameters
# ruff: noqa: S608
from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from .iceberg import Tables
from .keys import KEYS_SCHEMA, natural_key
from .resources import (
    RESOURCE_SCHEMA,
    RESOURCES_SCHEMA,
    ResourceType,
    canonical_json,
    subject_id,
    trial_id,
    visit_id,
)
from .scd2 import SCD2_COLUMNS, SCD2_FIELDS, Scd2Sql
from .study.entities import Entity

__all__ = [
    "DatasetData",
    "StreamedRows",
    "TableChange",
    "Workspace",
    "integrate_study",
    "study_resources",
]

#: the types a study run owns in ``vxp.resources`` (files runs own the others)
STUDY_RESOURCE_TYPES = (ResourceType.TRIAL, ResourceType.SUBJECT, ResourceType.VISIT)
RESOURCES_IDENTIFIER = "vxp.resources"
#: DuckDB's memory for the integration step; past it, it spills to its temporary folder
MEMORY_LIMIT = "256MB"
#: rows per Arrow batch streamed out of DuckDB
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class StreamedRows:
    """Rows read on demand, e.g. a dataset streamed from its file (:meth:`DatasetPlan.batches`).

    Attributes:
        schema: the rows' Arrow schema.
        batches: a new stream of the rows each call.
    """

    schema: pa.Schema
    batches: Callable[[], Iterable[pa.RecordBatch]]


@dataclass(frozen=True)
class DatasetData:
    """One dataset of a delivery, typed, ready for the integration step.

    Attributes:
        name: the dataset (table) name, e.g. ``dm``.
        rows: its typed rows: a table, or a stream (read once per run of the step).
        key: its key columns (empty: no key; replaced per delivery).
        entities: the entities whose key columns it holds (subject, site, visit).
    """

    name: str
    rows: pa.Table | StreamedRows
    key: tuple[str, ...]
    entities: tuple[Entity, ...]

    def batches(self) -> Iterable[pa.RecordBatch]:
        """The rows as record batches."""
        if isinstance(self.rows, pa.Table):
            batches: list[pa.RecordBatch] = self.rows.to_batches()
            return batches
        return self.rows.batches()


@dataclass
class TableChange:
    """What a run did to one table: rows added, changed and deleted (by key)."""

    table: str
    added: int = 0
    changed: int = 0
    deleted: int = 0
    replaced: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows_added": self.added,
            "rows_changed": self.changed,
            "rows_deleted": self.deleted,
            "replaced": self.replaced,
        }

    @property
    def changes_anything(self) -> bool:
        return bool(self.added or self.changed or self.deleted or self.replaced)


@dataclass
class IntegrationResult:
    """The tables a run changed (unchanged ones are absent), and its warnings."""

    changes: list[TableChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Workspace:
    """A DuckDB database, memory-limited, spilling to a temporary folder."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vxp-integrate-"))
        # an in-memory database: past the limit its tables spill to the folder, and it skips
        # the write-ahead log and checkpoints of a database file (twice as fast to fill)
        self.con = duckdb.connect(":memory:")
        for setting in (
            f"memory_limit='{MEMORY_LIMIT}'",
            f"temp_directory='{self.folder / 'spill'}'",
            "TimeZone='UTC'",  # SCD-2 times are UTC instants
            "preserve_insertion_order=false",  # tables have no row order; saves memory
            "enable_progress_bar=false",
        ):
            self.con.execute(f"SET {setting}")

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.con.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def load(self, name: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        """Create table ``name`` of ``schema`` and insert ``batches`` one by one.

        The batches are pushed from Python rather than pulled by DuckDB: a stream that needs
        other threads (pyiceberg's scan) must not be read from inside a DuckDB query.
        """
        self.con.register("__batch", schema.empty_table())
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE {_q(name)} AS SELECT * FROM __batch")
        finally:
            self.con.unregister("__batch")
        for batch in batches:
            self.con.register("__batch", pa.Table.from_batches([batch.cast(schema)]))
            try:
                self.con.execute(f"INSERT INTO {_q(name)} SELECT * FROM __batch")
            finally:
                self.con.unregister("__batch")

    def columns(self, table: str) -> list[str]:
        """The column names of ``table``."""
        return [r[0] for r in self.con.execute(f"DESCRIBE {_q(table)}").fetchall()]

    def count(self, sql: str, parameters: object = None) -> int:
        row = self.con.execute(sql, parameters).fetchone()
        return int(row[0]) if row else 0

    def stream(self, sql: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The rows of ``sql`` in batches of ``schema`` (names and types as given)."""
        reader = self.con.execute(sql).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            yield pa.RecordBatch.from_arrays(
                [batch.column(i).cast(f.type) for i, f in enumerate(schema)], schema=schema
            )


def integrate_study(
    tables: Tables,
    source: str,
    datasets: Sequence[DatasetData],
    *,
    run_id: str,
    at: dt.datetime,
    partial: bool,
    complete: bool = True,
) -> IntegrationResult:
    """Write the integration tables and study resources of one delivery at ``tables``' branch.

    ``complete`` is False when datasets delivered before are missing from this delivery: their
    tables are left as they are, so the subjects and visits only they hold must not be closed
    as deleted either (the resources are planned as for a partial delivery).

    Args:
        tables: the catalog at the run's integration branch.
        source: the source name (the namespace of the tables).
        datasets: the delivery's datasets, typed (tables or streams, each read once).
        run_id: the run; at: its time (timezone-aware), the ``valid_from`` of what it opens.
        partial: rows missing from the delivery are left alone instead of deleted.

    Returns:
        Per table the rows added, changed and deleted; warnings.

    Raises:
        ValueError: a dataset repeats a key (as typed values), or a stored history has two
            current rows for one key.
    """
    result = IntegrationResult()
    with Workspace() as ws:
        for i, dataset in enumerate(datasets):
            ws.load(f"in_{i}", dataset.rows.schema, dataset.batches())
        added = _assign_keys(ws, tables, source, datasets, run_id)
        keys_table = f"{source}.surrogate_keys"
        if added.num_rows:
            tables.append(keys_table, added)
            result.changes.append(TableChange(keys_table, added=added.num_rows))
        elif not tables.exists(keys_table):
            tables.append(keys_table, KEYS_SCHEMA.empty_table())

        for i, dataset in enumerate(datasets):
            schema = _with_keys(ws, i, dataset)
            identifier = f"{source}.{dataset.name}"
            if not dataset.key:
                change = _replace(ws, tables, identifier, f"rows_{i}", schema)
            else:
                change = _historise(ws, tables, identifier, i, dataset, schema, run_id, at, partial)
            if change.changes_anything:
                result.changes.append(change)

        change = study_resources(ws, tables, source, datasets, run_id, at, partial or not complete)
        if change.changes_anything:
            result.changes.append(change)
    return result


def _assign_keys(
    ws: Workspace,
    tables: Tables,
    source: str,
    datasets: Sequence[DatasetData],
    run_id: str,
) -> pa.Table:
    """Surrogate keys of every entity (:mod:`.keys`' rules): table ``map_<i>_<entity>`` per
    dataset (its key columns and ``sk``); the rows to append to ``surrogate_keys``."""
    stored = tables.batches(f"{source}.surrogate_keys")
    ws.load("sk", KEYS_SCHEMA, stored if stored is not None else [])
    entities = {e.name: e for d in datasets for e in d.entities}
    appended: list[pa.Table] = []
    for entity in entities.values():
        cols = ", ".join(_q(c) for c in entity.key_columns)
        set_ = " AND ".join(f"{_q(c)} IS NOT NULL" for c in entity.key_columns)
        holders = [i for i, d in enumerate(datasets) if entity in d.entities]
        for i in holders:
            # natural keys are spelt in Python (natural_key), once per distinct key; read on a
            # cursor of its own while the workspace's connection writes them
            reader = ws.con.cursor()
            try:
                distinct = reader.execute(
                    f"SELECT DISTINCT {cols} FROM in_{i} WHERE {set_}"
                ).to_arrow_reader(BATCH_ROWS)
                ws.load(f"nk_{i}", _with_natural_key(distinct.schema), _natural_keys(distinct))
            finally:
                reader.close()
        union = " UNION ".join(f"SELECT nk FROM nk_{i}" for i in holders)
        highest = ws.count(
            "SELECT coalesce(max(surrogate_key), 0) FROM sk WHERE entity = ?", [entity.name]
        )
        # new keys in natural-key order: UTF-8 byte order is code point order, as sorted()
        new = ws.con.execute(
            "SELECT ?::VARCHAR AS entity, nk AS natural_key, "
            "(row_number() OVER (ORDER BY nk) + ?)::BIGINT AS surrogate_key, "
            f"?::VARCHAR AS first_run_id FROM ({union}) "
            "WHERE nk NOT IN (SELECT natural_key FROM sk WHERE entity = ?) ORDER BY nk",
            [entity.name, highest, run_id, entity.name],
        ).to_arrow_table()
        if new.num_rows:
            new = new.cast(KEYS_SCHEMA)
            ws.con.register("__new", new)
            ws.con.execute("INSERT INTO sk SELECT * FROM __new")
            ws.con.unregister("__new")
            appended.append(new)
        for i in holders:
            key_cols = ", ".join(f"n.{_q(c)}" for c in entity.key_columns)
            ws.con.execute(
                f"CREATE OR REPLACE TABLE map_{i}_{entity.name} AS "
                f"SELECT {key_cols}, s.surrogate_key AS sk FROM nk_{i} n "
                "JOIN sk s ON s.entity = ? AND s.natural_key = n.nk",
                [entity.name],
            )
    return pa.concat_tables(appended) if appended else KEYS_SCHEMA.empty_table()


def _with_natural_key(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field("nk", pa.string()))


def _natural_keys(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        values = zip(*(c.to_pylist() for c in batch.columns), strict=True)
        nk = pa.array([natural_key(v) for v in values], pa.string())
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, nk], schema=_with_natural_key(batch.schema)
        )


def _with_keys(ws: Workspace, i: int, dataset: DatasetData) -> pa.Schema:
    """Table ``rows_<i>``: the dataset's rows with an ``<entity>_sk`` column per entity (null
    where a key part is); its Arrow schema."""
    schema = dataset.rows.schema
    select = [f"i.{_q(f.name)}" for f in schema]
    joins = []
    for entity in dataset.entities:
        name = entity.sk_column
        column = f"m_{entity.name}.sk AS {_q(name)}"
        if name in schema.names:
            select[schema.names.index(name)] = column
            schema = schema.set(schema.names.index(name), pa.field(name, pa.int64()))
        else:
            select.append(column)
            schema = schema.append(pa.field(name, pa.int64()))
        on = " AND ".join(f"i.{_q(c)} = m_{entity.name}.{_q(c)}" for c in entity.key_columns)
        joins.append(f"LEFT JOIN map_{i}_{entity.name} m_{entity.name} ON {on}")
    ws.con.execute(
        f"CREATE OR REPLACE TABLE rows_{i} AS SELECT {', '.join(select)} "
        f"FROM in_{i} i {' '.join(joins)}"
    )
    ws.con.execute(f"DROP TABLE in_{i}")
    return schema


def _replace(
    ws: Workspace, tables: Tables, identifier: str, rows: str, schema: pa.Schema
) -> TableChange:
    """A keyless dataset: the table replaced by ``rows``, unless it holds the same rows."""
    count = ws.count(f"SELECT count(*) FROM {rows}")
    stored = tables.batches(identifier)
    before = None
    if stored is not None:
        ws.load("stored", stored.schema, stored)
        before = ws.count("SELECT count(*) FROM stored")
        if _same_rows(ws, "stored", rows, schema, before, count):
            return TableChange(identifier)
    tables.replace(identifier, ws.stream(f"SELECT * FROM {rows}", schema), schema)
    return TableChange(identifier, added=count, deleted=before or 0, replaced=True)


def _same_rows(
    ws: Workspace, before: str, after: str, schema: pa.Schema, n_before: int, n_after: int
) -> bool:
    """Whether two tables hold the same rows (as multisets) in the same columns."""
    columns = {r[0] for r in ws.con.execute(f"DESCRIBE {before}").fetchall()}
    if n_before != n_after or columns != set(schema.names):
        return False
    cols = ", ".join(_q(c) for c in schema.names)
    return not ws.count(
        f"SELECT count(*) FROM (SELECT {cols} FROM {after} EXCEPT ALL SELECT {cols} FROM {before})"
    )


def _historise(
    ws: Workspace,
    tables: Tables,
    current_id: str,
    i: int,
    dataset: DatasetData,
    schema: pa.Schema,
    run_id: str,
    at: dt.datetime,
    partial: bool,
) -> TableChange:
    """SCD-2 of a keyed dataset: ``<table>_history`` and ``<table>`` rewritten from the plan."""
    history_id = f"{current_id}_history"
    stored = tables.batches(history_id)
    stored_schema = stored.schema if stored is not None else pa.schema([])
    # the history's columns: the delivery's, then the SCD-2 ones, then any the delivery lacks
    # (kept, null in new versions); a type the delivery widened is cast
    extra = [
        f.with_nullable(True)
        for f in stored_schema
        if f.name not in schema.names and f.name not in SCD2_COLUMNS
    ]
    history_schema = pa.schema(
        [f.with_nullable(True) for f in [*schema, *SCD2_FIELDS, *extra]], metadata=schema.metadata
    )
    entity = [*schema.names, *(f.name for f in extra)]
    if stored is None:
        stored_schema = history_schema
    ws.load(f"stored_{i}", stored_schema, stored if stored is not None else [])
    duck = _duckdb_types(ws, history_schema)
    hist = ", ".join(
        f"CAST({_q(f.name)} AS {duck[f.name]}) AS {_q(f.name)}"
        if f.name in stored_schema.names
        else f"NULL::{duck[f.name]} AS {_q(f.name)}"
        for f in history_schema
    )
    ws.con.execute(f"CREATE OR REPLACE VIEW h_{i} AS SELECT {hist} FROM stored_{i}")
    incoming = ", ".join(
        [f"{_q(c)}" for c in schema.names]
        + [f"NULL::{duck[f.name]} AS {_q(f.name)}" for f in extra]
    )
    ws.con.execute(f"CREATE OR REPLACE VIEW inc_{i} AS SELECT {incoming} FROM rows_{i}")
    key = list(dataset.key)
    sql = Scd2Sql(ws.con, f"h_{i}", f"inc_{i}", entity, key, [c for c in entity if c not in key])
    sql.check()
    counts = sql.plan(run_id, at, full=not partial)
    change = TableChange(
        current_id, added=counts.inserted, changed=counts.updated, deleted=counts.deleted
    )
    if not counts.changes_anything and tables.exists(current_id):
        return change
    # both tables are streamed from the plan's queries: nothing is copied in the workspace
    tables.replace(
        history_id, ws.stream(sql.applied(history_schema.names), history_schema), history_schema
    )
    current_schema = pa.schema(
        [f for f in history_schema if f.name not in SCD2_COLUMNS], metadata=schema.metadata
    )
    tables.replace(
        current_id, ws.stream(sql.current(current_schema.names), current_schema), current_schema
    )
    ws.con.execute(f"DROP VIEW h_{i}; DROP VIEW inc_{i}; DROP TABLE stored_{i}")
    return change


def _duckdb_types(ws: Workspace, schema: pa.Schema) -> dict[str, str]:
    """DuckDB's SQL type of each column of ``schema``."""
    ws.con.register("__types", schema.empty_table())
    try:
        return {r[0]: r[1] for r in ws.con.execute("DESCRIBE __types").fetchall()}
    finally:
        ws.con.unregister("__types")


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN has no JSON form
        return None
    return value


def study_resources(
    ws: Workspace,
    tables: Tables,
    source: str,
    datasets: Sequence[DatasetData],
    run_id: str,
    at: dt.datetime,
    partial: bool,
) -> TableChange:
    """``Trial``, ``Subject`` and ``Visit`` resources of the delivery into ``vxp.resources``.

    Subjects and visits are the distinct values of the datasets (found in DuckDB); a subject's
    attributes come from the datasets with one row per subject.

    ``ws`` holds a table ``rows_<i>`` for each dataset ``i`` of ``datasets`` that has the
    subject entity: every column for a dataset keyed by the subject alone (one row per
    subject), else at least the subject column and, when it has the visit entity, the visit
    number column (the Trino engine loads just their distinct pairs). Shared by both engines
    (:mod:`.trino_integration`): these are one row per trial, subject or visit.

    Returns:
        The rows ``vxp.resources`` gained, changed and closed (per resource id).
    """
    trial = trial_id(source)
    subject_attributes: dict[str, dict[str, Any]] = {}
    visit_tables: list[str] = []
    for i, dataset in enumerate(datasets):
        subject = next((e for e in dataset.entities if e.name == "subject"), None)
        if subject is None:
            continue
        column = subject.key_columns[0]
        one_row_per_subject = dataset.key == subject.key_columns
        names = [n for n in dataset.rows.schema.names if n != column and not n.endswith("_sk")]
        select = (
            ", ".join(_q(n) for n in [column, *names])
            if one_row_per_subject
            else f"DISTINCT {_q(column)}"
        )
        query = f"SELECT {select} FROM rows_{i} WHERE {_q(column)} IS NOT NULL"
        for batch in _fetch(ws, query):
            if not one_row_per_subject:
                for value in batch.column(0).to_pylist():
                    subject_attributes.setdefault(str(value), {})
                continue
            for row in batch.to_pylist():
                attributes = subject_attributes.setdefault(str(row[column]), {})
                attributes.update(
                    {
                        f"{dataset.name}.{k}": _json_value(v)
                        for k, v in row.items()
                        if k != column and v is not None
                    }
                )
    # rows built directly (ids from the id builders, which check every segment), not through
    # Resource objects; a large study has far more visits than subjects, so visits stream
    # through Python batch by batch into the workspace
    fixed: dict[str, tuple[str, str | None, str]] = {
        trial: (ResourceType.TRIAL.value, None, canonical_json({"source": source}))
    }
    subject_ids: dict[str, str] = {}
    for subject_value, attributes in sorted(subject_attributes.items()):
        sid = subject_ids[subject_value] = subject_id(source, subject_value)
        fixed[sid] = (
            ResourceType.SUBJECT.value,
            trial,
            canonical_json({"subject": subject_value, **attributes}),
        )
    del subject_attributes
    ids = sorted(fixed)
    ws.load(
        "res_fixed",
        RESOURCE_SCHEMA,
        pa.table(
            {
                "id": ids,
                "type": [fixed[i][0] for i in ids],
                "parent_id": [fixed[i][1] for i in ids],
                "source": [source] * len(ids),
                "attributes": [fixed[i][2] for i in ids],
                "paths": pa.array([[] for _ in ids], RESOURCE_SCHEMA.field("paths").type),
                "checksum": pa.nulls(len(ids), pa.string()),
                "size_bytes": pa.nulls(len(ids), pa.int64()),
            },
            schema=RESOURCE_SCHEMA,
        ).to_batches(),
    )
    del fixed, ids
    for i, dataset in enumerate(datasets):
        subject = next((e for e in dataset.entities if e.name == "subject"), None)
        visit = next((e for e in dataset.entities if e.name == "visit"), None)
        if subject is None or visit is None:
            continue
        column, number = _q(subject.key_columns[0]), _q(visit.key_columns[-1])
        reader = ws.con.cursor()
        try:
            pairs = reader.execute(
                f"SELECT DISTINCT {column}, {number} FROM rows_{i} "
                f"WHERE {column} IS NOT NULL AND {number} IS NOT NULL"
            ).to_arrow_reader(BATCH_ROWS)
            ws.load(f"res_visits_{i}", _VISITS, _visit_rows(pairs, subject_ids))
        finally:
            reader.close()
        visit_tables.append(f"res_visits_{i}")
    visits = " UNION ALL ".join(f"SELECT * FROM {t}" for t in visit_tables)
    # two visit numbers with one label (2 and 2.0): the greater natural key wins, as the
    # later of them in (subject, natural key) order did when resources were a dict
    ws.con.execute(
        "CREATE OR REPLACE TABLE res_in AS SELECT * FROM res_fixed"
        + (
            f" UNION ALL SELECT id, {_literal(ResourceType.VISIT.value)}, arg_max(parent_id, nk), "
            f"{_literal(source)}, arg_max(attributes, nk), []::VARCHAR[], NULL::VARCHAR, "
            f"NULL::BIGINT FROM ({visits}) GROUP BY id"
            if visit_tables
            else ""
        )
    )

    stored = tables.batches(RESOURCES_IDENTIFIER)
    ws.load(
        "res_stored",
        stored.schema if stored is not None else RESOURCES_SCHEMA,
        stored if stored is not None else [],
    )
    stored_names = set(ws.columns("res_stored"))
    duck = _duckdb_types(ws, RESOURCES_SCHEMA)
    history = ", ".join(
        f"CAST({_q(f.name)} AS {duck[f.name]}) AS {_q(f.name)}"
        if f.name in stored_names
        else f"NULL::{duck[f.name]} AS {_q(f.name)}"
        for f in RESOURCES_SCHEMA
    )
    types = ", ".join(_literal(t.value) for t in STUDY_RESOURCE_TYPES)
    scope = f"source = {_literal(source)} AND type IN ({types})"
    ws.con.execute(f"CREATE OR REPLACE VIEW res_h AS SELECT {history} FROM res_stored")
    ws.con.execute(f"CREATE OR REPLACE VIEW res_scope AS SELECT * FROM res_h WHERE {scope}")
    if partial:
        _keep_subject_attributes(ws)
    entity = RESOURCE_SCHEMA.names
    sql = Scd2Sql(ws.con, "res_scope", "res_in", entity, ["id"], [c for c in entity if c != "id"])
    sql.check()
    counts = sql.plan(run_id, at, full=not partial)
    change = TableChange(
        RESOURCES_IDENTIFIER, added=counts.inserted, changed=counts.updated, deleted=counts.deleted
    )
    if not counts.changes_anything:
        return change
    cols = ", ".join(_q(c) for c in RESOURCES_SCHEMA.names)
    ws.con.execute(
        "CREATE OR REPLACE TABLE res_new AS "
        f"SELECT {cols} FROM res_h WHERE NOT ({scope}) "
        f"UNION ALL {sql.applied(RESOURCES_SCHEMA.names)}"
    )
    tables.replace(
        RESOURCES_IDENTIFIER, ws.stream("SELECT * FROM res_new", RESOURCES_SCHEMA), RESOURCES_SCHEMA
    )
    return change


def _keep_subject_attributes(ws: Workspace) -> None:
    """A partial delivery (or one without datasets delivered before) only adds to what is known
    of a subject: its attributes are the current ones updated by the delivered ones, never
    fewer (a subject delivered in ``vs`` alone would otherwise lose its ``dm.*`` attributes and
    open a version with less). Updates ``res_in`` for the subjects whose attributes grow back."""
    found = ws.con.execute(
        "SELECT i.id, h.attributes, i.attributes FROM res_in i JOIN res_scope h ON h.id = i.id "
        "WHERE i.type = ? AND h.is_current",
        [ResourceType.SUBJECT.value],
    ).fetchall()
    ids, texts = [], []
    for rid, stored, delivered in found:
        merged = canonical_json({**json.loads(stored or "{}"), **json.loads(delivered or "{}")})
        if merged != delivered:
            ids.append(rid)
            texts.append(merged)
    if not ids:
        return
    ws.con.register("__kept", pa.table({"id": ids, "attributes": texts}))
    try:
        ws.con.execute(
            "UPDATE res_in SET attributes = k.attributes FROM __kept k WHERE res_in.id = k.id"
        )
    finally:
        ws.con.unregister("__kept")


_VISITS = pa.schema(
    [
        ("id", pa.string()),
        ("parent_id", pa.string()),
        ("attributes", pa.string()),
        ("nk", pa.string()),
    ]
)


def _visit_rows(
    pairs: Iterable[pa.RecordBatch], subject_ids: Mapping[str, str]
) -> Iterator[pa.RecordBatch]:
    """``Visit`` resource rows of (subject, visit number) pairs: id, parent, attributes and
    the number's natural key (to choose between two numbers with one label)."""
    for batch in pairs:
        ids, parents, attributes, keys = [], [], [], []
        for subject_value, number in zip(
            batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
        ):
            sid = subject_ids[str(subject_value)]
            ids.append(visit_id(sid, _visit_label(number)))
            parents.append(sid)
            attributes.append(canonical_json({"visit": _json_value(number)}))
            keys.append(natural_key([number]))
        yield pa.RecordBatch.from_arrays(
            [pa.array(c, pa.string()) for c in (ids, parents, attributes, keys)], schema=_VISITS
        )


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _fetch(ws: Workspace, sql: str) -> Iterator[pa.RecordBatch]:
    yield from ws.con.execute(sql).to_arrow_reader(BATCH_ROWS)


def _visit_label(number: Any) -> str:
    """A visit number as an id segment: ``2`` for 2 and 2.0, ``2.5`` stays."""
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    if isinstance(number, decimal.Decimal) and number == number.to_integral_value():
        return str(int(number))
    return str(number)


def summary_rows(changes: Sequence[TableChange]) -> list[Mapping[str, Any]]:
    """The changes as JSON rows, in table order."""
    return [c.to_json() for c in sorted(changes, key=lambda c: c.table)]
