"""Schema compatibility: a change to ``integration`` may not drop, rename or narrow a column of a
table that exists there, nor drop the table, unless its metadata carries ``vxp.allow-breaking``
with a reason (then the breaks are notes, kept in the commit's metadata and the hooks log).

Columns are matched by Iceberg field ID, so a rename is told apart from drop-and-add (Iceberg
spec, "Schema Evolution"); a type change is allowed only where Iceberg allows promotion (int →
long, float → double, wider decimal precision; :func:`pyiceberg.schema.promote`); an optional
column made required is narrowing too.
"""

from __future__ import annotations

from pyiceberg.exceptions import ResolveError
from pyiceberg.schema import Schema, index_by_id, index_name_by_id, promote
from pyiceberg.types import NestedField, PrimitiveType

from vxp.checks.base import ALLOW_BREAKING, CheckEnv, Problem, Target
from vxp.core.layout import TABLES, parse_table_pointer
from vxp.domain.tables import RefReader

NAME = "schema"
BRANCH = "integration"

__all__ = ["BRANCH", "NAME", "applies", "breaks", "check"]


def applies(target: Target) -> bool:
    """True for changes to ``integration`` that have a base to compare with."""
    return target.branch == BRANCH and target.base is not None


def _widens(old: NestedField, new: NestedField) -> bool:
    if old.field_type == new.field_type:
        return True
    if not isinstance(old.field_type, PrimitiveType) or not isinstance(
        new.field_type, PrimitiveType
    ):
        # a struct, list or map stays compatible when its own fields do (checked by ID)
        return type(old.field_type) is type(new.field_type)
    try:
        promote(old.field_type, new.field_type)
    except ResolveError:
        return False
    return True


def breaks(before: Schema, after: Schema) -> list[str]:
    """How ``after`` breaks readers of ``before``: one sentence per dropped, renamed or narrowed
    column (nested columns by their dotted name), in field-ID order.

    Returns:
        Empty when ``after`` only adds optional columns or widens types.
    """
    old_fields, new_fields = index_by_id(before), index_by_id(after)
    old_names, new_names = index_name_by_id(before), index_name_by_id(after)
    found: list[str] = []
    for field_id in sorted(old_fields):
        old = old_fields[field_id]
        name = old_names.get(field_id, old.name)
        new = new_fields.get(field_id)
        if new is None:
            found.append(f"column {name} ({old.field_type}) is dropped")
            continue
        new_name = new_names.get(field_id, new.name)
        if new_name != name:
            found.append(f"column {name} is renamed to {new_name}")
        if not _widens(old, new):
            found.append(f"column {name} narrows from {old.field_type} to {new.field_type}")
        if not old.required and new.required:
            found.append(f"column {name} becomes required (it was optional)")
    return found


def check(env: CheckEnv, target: Target) -> tuple[list[Problem], list[str]]:
    """Problems for every table the change breaks, or notes instead when the metadata allows it.

    Only tables whose catalog entry the change touches are read (lakeFS's diff of
    ``_vxp/catalog/tables/``), so an unrelated merge costs one diff call.

    Returns:
        ``(problems, notes)``: notes name allowed breaks and the reason given.

    Raises:
        VxpError: a table's metadata cannot be read.
        LakeFSError: lakeFS refused a read.
    """
    if target.base is None:
        return [], []
    reader = RefReader(env.session, env.settings, target.repository)
    reason = (target.metadata.get(ALLOW_BREAKING) or "").strip()
    problems: list[Problem] = []
    notes: list[str] = []
    diff = env.session.diff_refs(target.repository, target.base, target.ref, prefix=TABLES + "/")
    for entry in diff:
        parsed = parse_table_pointer(entry.path)
        if parsed is None or entry.type == "added":
            continue
        namespace, name = parsed
        table = ".".join((*namespace, name))
        before = reader.table(target.base, namespace, name)
        if entry.type == "removed":
            found = ["the table is dropped"]
        else:
            after = reader.table(target.ref, namespace, name)
            found = breaks(
                reader.metadata(before.metadata_location).schema(),
                reader.metadata(after.metadata_location).schema(),
            )
        for sentence in found:
            if reason:
                notes.append(f"table {table}: {sentence} (allowed: {reason})")
            else:
                problems.append(
                    Problem(
                        NAME,
                        f"table {table}",
                        f"{sentence}; readers of {BRANCH} rely on it",
                        hint="add a column instead of changing one, or, if the break is intended, "
                        f"merge with metadata {ALLOW_BREAKING}='<reason>' "
                        f"(vxp merge … --meta {ALLOW_BREAKING}='<reason>')",
                    )
                )
    return problems, notes
