"""The integration step of a study run: surrogate keys, SCD-2 history, current tables, and the
``Trial``/``Subject``/``Visit`` resources, written on the run's integration branch.

Per keyed dataset ``d`` of source ``s`` (DESIGN.md, "What a ref holds"):

- ``s.surrogate_keys`` gets the keys of natural keys it has not seen (insert-only);
- ``s.d_history`` gets the SCD-2 changes: new keys opened at version 1, changed rows closed and
  reopened at version + 1, rows missing from a full delivery closed with ``is_deleted``;
- ``s.d`` holds the current rows (the history's current rows without the SCD-2 columns).

A dataset without key columns is replaced as delivered (its history is the lakeFS log).
Every table is read and written at the integration branch, which is merged as a whole.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .iceberg import Tables
from .keys import KEYS_SCHEMA, assign_keys, natural_key, with_keys
from .resources import (
    RESOURCES_SCHEMA,
    Resource,
    ResourceType,
    in_scope,
    plan_resources,
    subject_id,
    trial_id,
    visit_id,
)
from .scd2 import IS_CURRENT, SCD2_COLUMNS, apply_scd2, plan_scd2, with_scd2
from .study.entities import Entity

__all__ = ["DatasetData", "TableChange", "integrate_study"]

#: the types a study run owns in ``vxp.resources`` (files runs own the others)
STUDY_RESOURCE_TYPES = (ResourceType.TRIAL, ResourceType.SUBJECT, ResourceType.VISIT)
RESOURCES_IDENTIFIER = "vxp.resources"


@dataclass(frozen=True)
class DatasetData:
    """One dataset of a delivery, typed, ready for the integration step.

    Attributes:
        name: the dataset (table) name, e.g. ``dm``.
        rows: its typed rows.
        key: its key columns (empty: no key; replaced per delivery).
        entities: the entities whose key columns it holds (subject, site, visit).
    """

    name: str
    rows: pa.Table
    key: tuple[str, ...]
    entities: tuple[Entity, ...]


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


def integrate_study(
    tables: Tables,
    source: str,
    datasets: Sequence[DatasetData],
    *,
    run_id: str,
    at: dt.datetime,
    partial: bool,
) -> IntegrationResult:
    """Write the integration tables and study resources of one delivery at ``tables``' branch.

    Args:
        tables: the catalog at the run's integration branch.
        source: the source name (the namespace of the tables).
        datasets: the delivery's datasets, typed.
        run_id: the run; at: its time (timezone-aware), the ``valid_from`` of what it opens.
        partial: rows missing from the delivery are left alone instead of deleted.

    Returns:
        Per table the rows added, changed and deleted; warnings.
    """
    result = IntegrationResult()
    keys_table = f"{source}.surrogate_keys"
    existing_keys = tables.read(keys_table)
    entities = {e.name: e for d in datasets for e in d.entities}
    mappings: dict[str, dict[str, int]] = {}
    new_keys: list[pa.Table] = []
    for entity in entities.values():
        holders = [
            d.rows.select(list(entity.key_columns)) for d in datasets if entity in d.entities
        ]
        mapping, appended = assign_keys(existing_keys, entity, pa.concat_tables(holders), run_id)
        mappings[entity.name] = mapping
        if appended.num_rows:
            new_keys.append(appended)
    if new_keys:
        added = pa.concat_tables(new_keys)
        tables.append(keys_table, added)
        result.changes.append(TableChange(keys_table, added=added.num_rows))
    elif not tables.exists(keys_table):
        tables.append(keys_table, KEYS_SCHEMA.empty_table())

    for dataset in datasets:
        rows = with_keys(dataset.rows, dataset.entities, mappings)
        if not dataset.key:
            change = _replace(tables, f"{source}.{dataset.name}", rows)
        else:
            change = _historise(tables, source, dataset, rows, run_id, at, partial)
        if change.changes_anything:
            result.changes.append(change)

    change = _resources(tables, source, datasets, run_id, at, partial)
    if change.changes_anything:
        result.changes.append(change)
    return result


def _replace(tables: Tables, identifier: str, rows: pa.Table) -> TableChange:
    before = tables.read(identifier)
    if before is not None and _same_rows(before, rows):
        return TableChange(identifier)
    tables.replace(identifier, rows.to_batches(), rows.schema)
    return TableChange(
        identifier,
        added=rows.num_rows,
        deleted=0 if before is None else before.num_rows,
        replaced=True,
    )


def _same_rows(before: pa.Table, after: pa.Table) -> bool:
    if before.num_rows != after.num_rows or set(before.column_names) != set(after.column_names):
        return False
    columns = sorted(after.column_names)
    return bool(
        before.select(columns)
        .sort_by([(c, "ascending") for c in columns])
        .equals(
            after.select(columns)
            .cast(before.select(columns).schema)
            .sort_by([(c, "ascending") for c in columns])
        )
    )


def _historise(
    tables: Tables,
    source: str,
    dataset: DatasetData,
    rows: pa.Table,
    run_id: str,
    at: dt.datetime,
    partial: bool,
) -> TableChange:
    current_id = f"{source}.{dataset.name}"
    history_id = f"{current_id}_history"
    history_schema = with_scd2(rows.schema)
    stored = tables.read(history_id)
    history = history_schema.empty_table() if stored is None else _align(stored, history_schema)
    incoming = _align(rows, pa.schema([f for f in history.schema if f.name not in SCD2_COLUMNS]))
    plan = plan_scd2(
        history, incoming, key=list(dataset.key), run_id=run_id, at=at, full=not partial
    )
    change = TableChange(
        current_id, added=plan.inserted, changed=plan.updated, deleted=plan.deleted
    )
    if plan.is_empty and tables.exists(current_id):
        return change
    updated = apply_scd2(history, plan, key=list(dataset.key))
    tables.replace(history_id, updated.to_batches(), updated.schema)
    current = updated.filter(pc.equal(updated.column(IS_CURRENT), True)).drop_columns(
        list(SCD2_COLUMNS)
    )
    tables.replace(current_id, current.to_batches(), current.schema)
    return change


def _align(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """``rows`` with ``schema``'s columns in its order: missing ones null (a column a later
    delivery lacks, or one an older history never had)."""
    columns = []
    for target in schema:
        if target.name in rows.column_names:
            columns.append(rows.column(target.name).cast(target.type))
        else:
            columns.append(pa.nulls(rows.num_rows, type=target.type))
    merged = pa.schema([f.with_nullable(True) for f in schema])
    extra = [f for f in rows.schema if f.name not in schema.names]
    table = pa.Table.from_arrays(columns, schema=merged)
    for f in extra:
        table = table.append_column(f.with_nullable(True), rows.column(f.name))
    return table


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN has no JSON form
        return None
    return value


def _resources(
    tables: Tables,
    source: str,
    datasets: Sequence[DatasetData],
    run_id: str,
    at: dt.datetime,
    partial: bool,
) -> TableChange:
    """``Trial``, ``Subject`` and ``Visit`` resources of the delivery into ``vxp.resources``."""
    trial = trial_id(source)
    resources: dict[str, Resource] = {
        trial: Resource(trial, ResourceType.TRIAL, None, source, {"source": source})
    }
    subject_attributes: dict[str, dict[str, Any]] = {}
    visits: set[tuple[str, Any]] = set()
    for dataset in datasets:
        subject = next((e for e in dataset.entities if e.name == "subject"), None)
        if subject is None:
            continue
        column = subject.key_columns[0]
        one_row_per_subject = dataset.key == subject.key_columns
        visit = next((e for e in dataset.entities if e.name == "visit"), None)
        for row in dataset.rows.to_pylist():
            value = row.get(column)
            if value is None:
                continue
            attributes = subject_attributes.setdefault(str(value), {})
            if one_row_per_subject:
                attributes.update(
                    {
                        f"{dataset.name}.{k}": _json_value(v)
                        for k, v in row.items()
                        if k != column and v is not None and not k.endswith("_sk")
                    }
                )
            if visit is not None and row.get(visit.key_columns[-1]) is not None:
                visits.add((str(value), row[visit.key_columns[-1]]))
    for subject_value, attributes in sorted(subject_attributes.items()):
        sid = subject_id(source, subject_value)
        resources[sid] = Resource(
            sid, ResourceType.SUBJECT, trial, source, {"subject": subject_value, **attributes}
        )
    for subject_value, number in sorted(visits, key=lambda v: (v[0], natural_key([v[1]]))):
        sid = subject_id(source, subject_value)
        vid = visit_id(sid, _visit_label(number))
        resources[vid] = Resource(
            vid, ResourceType.VISIT, sid, source, {"visit": _json_value(number)}
        )

    history = tables.read(RESOURCES_IDENTIFIER)
    history = (
        RESOURCES_SCHEMA.empty_table()
        if history is None
        else _align(history, RESOURCES_SCHEMA).cast(RESOURCES_SCHEMA)
    )
    scope = in_scope(history, source=source, types=STUDY_RESOURCE_TYPES)
    plan = plan_resources(scope, list(resources.values()), run_id=run_id, at=at, full=not partial)
    change = TableChange(
        RESOURCES_IDENTIFIER, added=plan.inserted, changed=plan.updated, deleted=plan.deleted
    )
    if plan.is_empty:
        return change
    updated = apply_scd2(history, plan, key=["id"])
    tables.replace(RESOURCES_IDENTIFIER, updated.to_batches(), updated.schema)
    return change


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
