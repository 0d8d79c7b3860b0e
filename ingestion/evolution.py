"""What a delivery does to the tables earlier deliveries made, checked before anything is written.

Against the raw tables of the source at ``source`` (the typed latest delivery of each dataset):

- a column whose type changed: widened in place when Iceberg allows it (int → long,
  float → double, decimal precision up; Iceberg spec, "Schema Evolution"), else the error
  ``schema.type_change`` and nothing is written;
- a column a dataset no longer has: kept in the tables, null in new versions (warning
  ``schema.column_missing``);
- a dataset not delivered any more: its tables are left as they are (warning
  ``dataset.not_delivered``); a new dataset or column needs no check.
"""

from __future__ import annotations

from pyiceberg.exceptions import NoSuchNamespaceError

from .iceberg import Tables
from .problems import Problems
from .study.plan import StudyPlan
from .study.types import TypeChange, iceberg_type_change

__all__ = ["check_evolution"]


def check_evolution(tables: Tables, source: str, plan: StudyPlan, problems: Problems) -> bool:
    """Add the problems of ``plan`` against the raw tables ``tables`` holds for ``source``.

    Args:
        tables: the catalog at the ``source`` layer's head.
        plan: the validated delivery.
        problems: where errors and warnings go (with the dataset's file and the column).

    Returns:
        True when the delivery holds every dataset delivered before (it is complete).
    """
    namespace = f"raw_{source}"
    try:
        existing = {name[-1] for name in tables.catalog.list_tables(namespace)}
    except NoSuchNamespaceError:
        return True
    delivered = {d.table for d in plan.datasets}
    for missing in sorted(existing - delivered):
        problems.warning(
            "dataset.not_delivered",
            f"Dataset {missing!r} is not in this delivery: its tables are left as they are.",
        )
    for dataset in plan.datasets:
        if dataset.table not in existing:
            continue
        schema = tables.load(f"{namespace}.{dataset.table}").schema()
        before = {field.name: field.field_type for field in schema.fields}
        for column in sorted(set(before) - set(dataset.columns)):
            problems.warning(
                "schema.column_missing",
                f"Column {column!r} of {dataset.table!r} is not in this delivery: it is kept, "
                "and null in the rows this delivery opens.",
                file=dataset.file.relative_path,
                column=column,
            )
        for column, ctype in dataset.columns.items():
            old = before.get(column)
            if old is None:
                continue
            change = iceberg_type_change(old, ctype.to_iceberg())
            if change is TypeChange.INCOMPATIBLE:
                problems.error(
                    "schema.type_change",
                    f"Column {column!r} of {dataset.table!r} was {old} and is now {ctype}; "
                    "Iceberg can only widen a type (int to long, float to double, a decimal's "
                    "precision). Deliver it as before, or as a new column.",
                    file=dataset.file.relative_path,
                    column=column,
                )
    return existing <= delivered
