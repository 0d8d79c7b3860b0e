"""Iceberg table metadata documents, changed with the semantics of Iceberg's Java builder.

Spark, Trino, Flink and every other engine built on Iceberg's Java client send commits that assume
the reference server's ``TableMetadata.Builder`` semantics: a schema, partition spec or sort order
equal to an existing one reuses its ID and any other gets the next free ID (the ID in the request
is only a hint), ``-1`` means "the one added last in this commit", a replace transaction re-adds
what it keeps, the metadata log is trimmed to ``write.metadata.previous-versions-max`` entries.
pyiceberg's ``update_table_metadata`` differs on several of these (it rejects an ID clash, cannot
write format v3, drops column defaults), so this module applies updates itself.

It works on the JSON document, not on a model: fields it does not interpret (encryption keys,
fields of later spec revisions) pass through unchanged. Messages repeat Java's word for word
where clients match on them (``Requirement failed: ...``).
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from vxp.catalog.errors import BadRequest, CommitFailed, InvalidArgument

Json = dict[str, Any]

FORMAT_VERSIONS = (1, 2, 3)
DEFAULT_FORMAT_VERSION = 2
# ``-1`` in set-current-schema, set-default-spec, set-default-sort-order: the one added last
LAST_ADDED = -1
PARTITION_FIELD_ID_START = 1000
UNSORTED_ORDER_ID = 0
FIRST_SORT_ORDER_ID = 1
ROW_LINEAGE_FORMAT_VERSION = 3
MAIN_BRANCH = "main"

FORMAT_VERSION_PROPERTY = "format-version"
PREVIOUS_VERSIONS_MAX = "write.metadata.previous-versions-max"
PREVIOUS_VERSIONS_MAX_DEFAULT = 100
# Java's TableMetadata.persistedProperties: a default that applies to new tables only, written
# down so every engine (Spark and Flink default to other codecs) writes the same files
CREATE_DEFAULTS = {"write.parquet.compression-codec": "zstd"}
# Only `vxp gc` deletes warehouse files (DESIGN.md, "Catalog invariants" 4): another ref, a tag or
# an older commit may still read any file a client's own clean-up would delete.
# - gc.enabled=false: Iceberg's Java library refuses to expire snapshots, remove orphan files or
#   purge data files ("GC is disabled (deleting files may corrupt other tables)"). Every table
#   carries it unless a client explicitly sets it to true, a deliberate opt-out that Iceberg's
#   own catalog tests (RCK testRemoveUnusedSpec) need and the catalog reference warns about.
# - write.metadata.delete-after-commit.enabled: pyiceberg deletes the metadata files a commit
#   trimmed off the log when the *committed* metadata says true; the catalog stores false.
GC_ENABLED = "gc.enabled"
DELETE_AFTER_COMMIT = "write.metadata.delete-after-commit.enabled"
# derived from the metadata itself, so Java refuses to store them as properties
RESERVED_PROPERTIES = frozenset(
    {
        FORMAT_VERSION_PROPERTY,
        "uuid",
        "snapshot-count",
        "current-snapshot-id",
        "current-snapshot-summary",
        "current-snapshot-timestamp-ms",
        "current-schema",
        "default-partition-spec",
        "default-sort-order",
    }
)
# types a schema may only use from format v3 on
_V3_TYPES = ("timestamp_ns", "timestamptz_ns", "unknown", "variant", "geometry", "geography")

# the order Java's TableMetadataParser writes fields in; anything else follows, unchanged
_FIELD_ORDER = (
    "format-version",
    "table-uuid",
    "location",
    "last-sequence-number",
    "last-updated-ms",
    "last-column-id",
    "schema",
    "current-schema-id",
    "schemas",
    "partition-spec",
    "default-spec-id",
    "partition-specs",
    "last-partition-id",
    "default-sort-order-id",
    "sort-orders",
    "properties",
    "current-snapshot-id",
    "next-row-id",
    "encryption-keys",
    "refs",
    "snapshots",
    "statistics",
    "partition-statistics",
    "snapshot-log",
    "metadata-log",
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgument(message)


# --- schemas, specs, sort orders --------------------------------------------------------------


def _nested_fields(type_: Any) -> Iterator[Json]:
    """Every field of a type, depth first; list elements and map keys/values count as fields."""
    if not isinstance(type_, dict):
        return
    kind = type_.get("type")
    if kind == "struct":
        for field in type_.get("fields", []):
            yield field
            yield from _nested_fields(field.get("type"))
    elif kind == "list":
        yield {"id": type_["element-id"], "type": type_["element"]}
        yield from _nested_fields(type_["element"])
    elif kind == "map":
        yield {"id": type_["key-id"], "type": type_["key"]}
        yield {"id": type_["value-id"], "type": type_["value"]}
        yield from _nested_fields(type_["key"])
        yield from _nested_fields(type_["value"])


def field_ids(schema: Json) -> set[int]:
    """Every field ID of a schema, nested ones (list elements, map keys and values) included."""
    return {int(field["id"]) for field in _nested_fields(schema)}


def highest_field_id(schema: Json) -> int:
    """The highest field ID of a schema, 0 for an empty one."""
    return max(field_ids(schema), default=0)


def _struct_key(type_: Any) -> Any:
    """What Java's ``StructType.equals`` compares: IDs, names, optionality, docs, defaults."""
    if not isinstance(type_, dict):
        return type_
    kind = type_.get("type")
    if kind == "struct":
        return (
            "struct",
            tuple(
                (
                    field["id"],
                    field["name"],
                    bool(field.get("required", False)),
                    field.get("doc"),
                    _struct_key(field["type"]),
                    repr(field.get("initial-default")),
                    repr(field.get("write-default")),
                )
                for field in type_.get("fields", [])
            ),
        )
    if kind == "list":
        return (
            "list",
            type_["element-id"],
            type_.get("element-required"),
            _struct_key(type_["element"]),
        )
    if kind == "map":
        return (
            "map",
            type_["key-id"],
            _struct_key(type_["key"]),
            type_["value-id"],
            type_.get("value-required"),
            _struct_key(type_["value"]),
        )
    return repr(sorted(type_.items()))


def same_schema(one: Json, two: Json) -> bool:
    """Java's ``Schema.sameSchema``: same struct and identifier fields, whatever the schema IDs."""
    return _struct_key(one) == _struct_key(two) and set(
        one.get("identifier-field-ids") or ()
    ) == set(two.get("identifier-field-ids") or ())


def _check_schema_compatible(schema: Json, format_version: int) -> None:
    if format_version >= ROW_LINEAGE_FORMAT_VERSION:
        return
    for field in _nested_fields(schema):
        type_ = field.get("type")
        if isinstance(type_, str) and type_.startswith(_V3_TYPES):
            raise InvalidArgument(
                f"Invalid schema for v{format_version}: invalid type for field {field['id']}: "
                f"{type_} is not supported until v3"
            )
        if field.get("initial-default") is not None:
            raise InvalidArgument(
                f"Invalid schema for v{format_version}: invalid initial default for field "
                f"{field['id']}: non-null default is not supported until v3"
            )


def _spec_key(spec: Json) -> list[tuple[Any, str, str]]:
    # Java's PartitionSpec.compatibleWith: same fields (source, transform, name) in order
    return [(f.get("source-id"), str(f["transform"]), f["name"]) for f in spec.get("fields", [])]


def _order_key(order: Json) -> list[tuple[str, Any, str, str]]:
    # Java's SortOrder.sameOrder: same fields, whatever the order ID
    return [
        (str(f["transform"]), f.get("source-id"), f["direction"], f["null-order"])
        for f in order.get("fields", [])
    ]


def _spec_last_field_id(spec: Json) -> int:
    return max(
        (int(f["field-id"]) for f in spec.get("fields", [])), default=PARTITION_FIELD_ID_START - 1
    )


def fresh_ids(schema: Json, spec: Json | None, order: Json | None) -> tuple[Json, Json, Json]:
    """A new table's schema, spec and sort order with IDs assigned as Java assigns them.

    Column IDs are renumbered from 1, each struct's fields before anything nested in them (Java's
    ``TypeUtil.assignFreshIds``); partition field IDs restart at 1000; a sort order gets ID 1.

    Raises:
        BadRequest: an identifier, partition or sort field names a column the schema lacks.
    """
    counter = 0
    mapping: dict[int, int] = {}

    def next_id(old: int) -> int:
        nonlocal counter
        counter += 1
        mapping[int(old)] = counter
        return counter

    def visit(type_: Any) -> Any:
        if not isinstance(type_, dict):
            return type_
        kind = type_.get("type")
        if kind == "struct":
            fields = [{**f, "id": next_id(f["id"])} for f in type_.get("fields", [])]
            return {**type_, "fields": [{**f, "type": visit(f["type"])} for f in fields]}
        if kind == "list":
            element_id = next_id(type_["element-id"])
            return {**type_, "element-id": element_id, "element": visit(type_["element"])}
        if kind == "map":
            key_id, value_id = next_id(type_["key-id"]), next_id(type_["value-id"])
            return {
                **type_,
                "key-id": key_id,
                "value-id": value_id,
                "key": visit(type_["key"]),
                "value": visit(type_["value"]),
            }
        return type_

    def source(old: Any) -> int:
        if old not in mapping:
            raise BadRequest(f"Cannot find source column: {old}")
        return mapping[old]

    new_schema = {**visit(schema), "schema-id": 0}
    identifiers = schema.get("identifier-field-ids") or []
    new_schema["identifier-field-ids"] = [source(i) for i in identifiers]

    spec_fields = []
    for position, field in enumerate((spec or {}).get("fields", [])):
        spec_fields.append(
            {
                "source-id": source(field["source-id"]),
                "field-id": PARTITION_FIELD_ID_START + position,
                "name": field["name"],
                "transform": field["transform"],
            }
        )
    order_fields = [
        {**field, "source-id": source(field["source-id"])}
        for field in (order or {}).get("fields", [])
    ]
    new_order = {
        "order-id": FIRST_SORT_ORDER_ID if order_fields else UNSORTED_ORDER_ID,
        "fields": order_fields,
    }
    return new_schema, {"spec-id": 0, "fields": spec_fields}, new_order


# --- reading and writing documents ------------------------------------------------------------


def parse(doc: Any, *, fresh: bool = False) -> Json:
    """A metadata document in the shape the builder works on (Iceberg spec, "Table Metadata").

    Fills in what older writers leave out the way Java's parser does: v1's single ``schema`` and
    ``partition-spec``, the ``main`` ref of a current snapshot, empty lists.

    Args:
        doc: the decoded metadata file; copied unless ``fresh``.
        fresh: ``doc`` is the caller's alone (just decoded): it is filled in in place, sparing a
            copy (~2 ms at 150 snapshots).

    Raises:
        BadRequest: ``doc`` is no JSON object, its format version is not 1, 2 or 3, or it lacks
            ``location`` (v1) or ``location``, ``table-uuid`` and ``schemas`` (v2, v3).
        TypeError, KeyError: a part it fills in from has the wrong shape (``schemas`` not a
            list of objects, …); only checked fields are validated here.
    """
    if not isinstance(doc, dict):
        raise BadRequest("table metadata must be a JSON object")
    version = doc.get("format-version")
    if version not in FORMAT_VERSIONS:
        raise BadRequest(f"Cannot read unsupported table metadata format version: {version}")
    for key in ("location",) if version == 1 else ("location", "table-uuid", "schemas"):
        if key not in doc:
            raise BadRequest(f"table metadata lacks {key!r}")
    meta = doc if fresh else copy.deepcopy(doc)
    if "schemas" not in meta:
        if "schema" not in meta:
            raise BadRequest("table metadata lacks 'schemas'")
        meta["schemas"] = [{"schema-id": 0, **meta["schema"]}]
    meta.pop("schema", None)
    meta.setdefault("current-schema-id", meta["schemas"][0]["schema-id"] if meta["schemas"] else 0)
    if "partition-specs" not in meta:
        meta["partition-specs"] = [{"spec-id": 0, "fields": meta.get("partition-spec", [])}]
    meta.pop("partition-spec", None)
    meta.setdefault("default-spec-id", 0)
    if "last-partition-id" not in meta:
        meta["last-partition-id"] = max(
            (_spec_last_field_id(s) for s in meta["partition-specs"]),
            default=PARTITION_FIELD_ID_START - 1,
        )
    if "sort-orders" not in meta:
        meta["sort-orders"] = [{"order-id": UNSORTED_ORDER_ID, "fields": []}]
    meta.setdefault("default-sort-order-id", UNSORTED_ORDER_ID)
    meta.setdefault("table-uuid", None)
    meta.setdefault("last-sequence-number", 0)
    meta.setdefault(
        "last-column-id", max((highest_field_id(s) for s in meta["schemas"]), default=0)
    )
    meta.setdefault("properties", {})
    current = meta.get("current-snapshot-id")
    meta["current-snapshot-id"] = None if current in (None, -1) else int(current)
    meta.setdefault("refs", {})
    if meta["current-snapshot-id"] is not None and MAIN_BRANCH not in meta["refs"]:
        meta["refs"][MAIN_BRANCH] = {"snapshot-id": meta["current-snapshot-id"], "type": "branch"}
    for key in ("snapshots", "statistics", "partition-statistics", "snapshot-log", "metadata-log"):
        meta.setdefault(key, [])
    if version >= ROW_LINEAGE_FORMAT_VERSION:
        meta.setdefault("next-row-id", 0)
    return meta


def serialize(meta: Json) -> Json:
    """The document to write: Java's field order, v1's legacy fields, -1 for "no snapshot".

    Args:
        meta: a document in :func:`parse`'s shape.
    """
    version = meta["format-version"]
    out: Json = {}
    current_schema = _by_id(meta["schemas"], "schema-id", meta["current-schema-id"])
    default_spec = _by_id(meta["partition-specs"], "spec-id", meta["default-spec-id"])
    for key in _FIELD_ORDER:
        if key == "schema":
            if version == 1:
                out["schema"] = current_schema
        elif key == "partition-spec":
            if version == 1:
                out["partition-spec"] = default_spec["fields"] if default_spec else []
        elif key == "last-sequence-number":
            if version > 1:
                out[key] = meta[key]
        elif key == "current-snapshot-id":
            current = meta["current-snapshot-id"]
            # v1/v2 readers expect -1 for "none"; v3 writes null
            out[key] = current if current is not None or version >= 3 else -1
        elif key == "next-row-id":
            if version >= ROW_LINEAGE_FORMAT_VERSION:
                out[key] = meta.get(key, 0)
        elif key in meta:
            out[key] = meta[key]
    out.update((k, v) for k, v in meta.items() if k not in _FIELD_ORDER)
    return out


def _by_id(items: list[Json], key: str, value: Any) -> Json | None:
    return next((item for item in items if item.get(key) == value), None)


# --- requirements -----------------------------------------------------------------------------


def check_requirements(base: Json | None, requirements: list[Json]) -> None:
    """Java's ``UpdateRequirement.validate`` for each requirement (Iceberg REST spec,
    ``TableRequirement``), in order; the first failure stops.

    Args:
        base: the table's current metadata, or None when it does not exist.

    Raises:
        CommitFailed: a requirement failed; the message is Java's (``Requirement failed: …``).
        BadRequest: an unknown requirement type.
    """
    for req in requirements:
        kind = req["type"]
        if kind == "assert-create":
            if base is not None:
                raise CommitFailed("Requirement failed: table already exists")
            continue
        if base is None:
            # only assert-create makes sense for a table that does not exist; the caller
            # answers "does not exist" before getting here
            raise CommitFailed(f"Requirement failed: {kind} on a table that does not exist")
        if kind == "assert-table-uuid":
            if str(req["uuid"]).lower() != str(base["table-uuid"]).lower():
                raise CommitFailed(
                    "Requirement failed: UUID does not match: "
                    f"expected {base['table-uuid']} != {req['uuid']}"
                )
        elif kind == "assert-ref-snapshot-id":
            name, expected = req["ref"], req.get("snapshot-id")
            ref = base["refs"].get(name)
            if ref is not None:
                type_ = ref.get("type", "branch")
                if expected is None:
                    raise CommitFailed(
                        f"Requirement failed: {type_} {name} was created concurrently"
                    )
                if expected != ref["snapshot-id"]:
                    raise CommitFailed(
                        f"Requirement failed: {type_} {name} has changed: "
                        f"expected id {expected} != {ref['snapshot-id']}"
                    )
            elif expected is not None:
                raise CommitFailed(
                    f"Requirement failed: branch or tag {name} is missing, expected {expected}"
                )
        else:
            _check_equal(req, base, kind)


# requirement type → (its field, the metadata field, how Java's message names it)
_EQUALITY_REQUIREMENTS = {
    "assert-last-assigned-field-id": (
        "last-assigned-field-id",
        "last-column-id",
        "last assigned field id",
    ),
    "assert-current-schema-id": ("current-schema-id", "current-schema-id", "current schema"),
    "assert-last-assigned-partition-id": (
        "last-assigned-partition-id",
        "last-partition-id",
        "last assigned partition id",
    ),
    "assert-default-spec-id": ("default-spec-id", "default-spec-id", "default partition spec"),
    "assert-default-sort-order-id": (
        "default-sort-order-id",
        "default-sort-order-id",
        "default sort order",
    ),
}


def _check_equal(req: Json, base: Json, kind: str) -> None:
    if kind not in _EQUALITY_REQUIREMENTS:
        raise BadRequest(f"unknown requirement type {kind!r}")
    field, meta_field, what = _EQUALITY_REQUIREMENTS[kind]
    expected, actual = req[field], base[meta_field]
    if expected != actual:
        raise CommitFailed(
            f"Requirement failed: {what} changed: expected id {expected} != {actual}"
        )


# --- the builder ------------------------------------------------------------------------------


def _empty(format_version: int) -> Json:
    return {
        "format-version": format_version,
        "table-uuid": str(uuid.uuid4()),
        "location": None,
        "last-sequence-number": 0,
        "last-column-id": 0,
        "current-schema-id": 0,
        "schemas": [],
        "default-spec-id": 0,
        "partition-specs": [],
        "last-partition-id": 0,
        "default-sort-order-id": UNSORTED_ORDER_ID,
        "sort-orders": [],
        "properties": {},
        "current-snapshot-id": None,
        "refs": {},
        "snapshots": [],
        "statistics": [],
        "partition-statistics": [],
        "snapshot-log": [],
        "metadata-log": [],
        "next-row-id": 0,
    }


class TableBuilder:
    """Applies REST updates (``{"action": ..., ...}``) to a table's metadata, as Java does.

    ``base`` is the current metadata (from :func:`parse`) at ``base_location``, or None for a
    table being created; the builder takes it over and changes it in place (copying it cost
    ~2 ms a commit at 150 snapshots), so pass a document nobody else uses. :meth:`build`
    returns the new document, or None when nothing changed.
    """

    def __init__(
        self,
        base: Json | None,
        base_location: str | None = None,
        format_version: int = DEFAULT_FORMAT_VERSION,
    ) -> None:
        self.base_location = base_location
        # what the new metadata log needs of the base, kept before the updates change it
        self.base_log: list[Json] | None = None
        self.base_updated_ms: int | None = None
        if base is not None:
            self.base_log = list(base["metadata-log"])
            self.base_updated_ms = base["last-updated-ms"]
        self.meta = base if base is not None else _empty(format_version)
        # (action, detail) of every effective change, in order
        self.changes: list[tuple[str, Any]] = []
        self.last_added_schema: int | None = None
        self.last_added_spec: int | None = None
        self.last_added_order: int | None = None
        self.last_updated_ms: int | None = None

    @classmethod
    def for_create(cls, updates: list[Json]) -> TableBuilder:
        """A builder for a create transaction, at the format version its updates ask for.

        Raises:
            InvalidArgument: an ``upgrade-format-version`` asks for a version other than 1, 2 or 3.
        """
        version = next(
            (u["format-version"] for u in updates if u["action"] == "upgrade-format-version"),
            DEFAULT_FORMAT_VERSION,
        )
        _check(version in FORMAT_VERSIONS, f"Unsupported format version: v{version}")
        return cls(None, None, version)

    def apply(self, updates: list[Json]) -> None:
        """Apply REST updates in order (Iceberg REST spec, ``TableUpdate``), as Java's builder does.

        Raises:
            BadRequest: an update this builder does not know.
            InvalidArgument: an update breaks one of Iceberg's rules (Java's message).
            CommitFailed: an added snapshot is older than the table's last sequence number or
                next row ID: the client must refresh.
        """
        for update in updates:
            handler = self._handlers().get(update["action"])
            if handler is None:
                raise BadRequest(f"update {update['action']!r} cannot be applied to a table")
            handler(update)

    def _handlers(self) -> dict[str, Callable[[Json], object]]:
        return {
            "assign-uuid": lambda u: self.assign_uuid(str(u["uuid"])),
            "upgrade-format-version": lambda u: self.upgrade_format_version(u["format-version"]),
            "add-schema": lambda u: self.add_schema(u["schema"]),
            "set-current-schema": lambda u: self.set_current_schema(u["schema-id"]),
            "add-spec": lambda u: self.add_spec(u["spec"]),
            "set-default-spec": lambda u: self.set_default_spec(u["spec-id"]),
            "add-sort-order": lambda u: self.add_sort_order(u["sort-order"]),
            "set-default-sort-order": lambda u: self.set_default_sort_order(u["sort-order-id"]),
            "add-snapshot": lambda u: self.add_snapshot(u["snapshot"]),
            "set-snapshot-ref": self.set_ref,
            "remove-snapshots": lambda u: self.remove_snapshots(u["snapshot-ids"]),
            "remove-snapshot-ref": lambda u: self.remove_ref(u["ref-name"]),
            "set-location": lambda u: self.set_location(u["location"]),
            "set-properties": lambda u: self.set_properties(u["updates"]),
            "remove-properties": lambda u: self.remove_properties(u["removals"]),
            "set-statistics": lambda u: self._set_statistics("statistics", u["statistics"]),
            "remove-statistics": lambda u: self._remove_statistics("statistics", u["snapshot-id"]),
            "set-partition-statistics": lambda u: self._set_statistics(
                "partition-statistics", u["partition-statistics"]
            ),
            "remove-partition-statistics": lambda u: self._remove_statistics(
                "partition-statistics", u["snapshot-id"]
            ),
            "remove-partition-specs": lambda u: self.remove_specs(u["spec-ids"]),
            "remove-schemas": lambda u: self.remove_schemas(u["schema-ids"]),
        }

    def _changed(self, action: str, detail: Any = None) -> None:
        self.changes.append((action, detail))

    def _added(self, action: str, detail: Any) -> bool:
        return (action, detail) in self.changes

    # --- identity and format ---------------------------------------------------------------

    def assign_uuid(self, new_uuid: str) -> None:
        """Set the table UUID (``assign-uuid``); a no-op when it is already that UUID."""
        if new_uuid != self.meta["table-uuid"]:
            self.meta["table-uuid"] = new_uuid
            self._changed("assign-uuid")

    def upgrade_format_version(self, version: int) -> None:
        """Raise the format version (``upgrade-format-version``); v3 starts row lineage at 0.

        Raises:
            InvalidArgument: a version above 3, or below the current one.
        """
        current = self.meta["format-version"]
        _check(
            version <= FORMAT_VERSIONS[-1],
            f"Cannot upgrade table to unsupported format version: v{version} "
            f"(supported: v{FORMAT_VERSIONS[-1]})",
        )
        _check(version >= current, f"Cannot downgrade v{current} table to v{version}")
        if version != current:
            self.meta["format-version"] = version
            if version >= ROW_LINEAGE_FORMAT_VERSION:
                self.meta.setdefault("next-row-id", 0)
            self._changed("upgrade-format-version")

    # --- schemas ---------------------------------------------------------------------------

    def add_schema(self, schema: Json) -> int:
        """Add a schema (``add-schema``); its ID, reusing an equal schema's.

        An equal schema (Java's ``sameSchema``) keeps its ID; any other gets the next free ID, the
        request's ID being only a hint. ``last-column-id`` rises to the schema's highest field ID.

        Raises:
            InvalidArgument: the schema uses a type or default the format version does not allow.
        """
        new_last = max(self.meta["last-column-id"], highest_field_id(schema))
        _check_schema_compatible(schema, self.meta["format-version"])
        schemas: list[Json] = self.meta["schemas"]
        new_id = self.meta["current-schema-id"]
        for existing in schemas:
            if same_schema(existing, schema):
                new_id = existing["schema-id"]
                break
            if existing["schema-id"] >= new_id:
                new_id = existing["schema-id"] + 1
        found = _by_id(schemas, "schema-id", new_id) is not None
        if found and new_last == self.meta["last-column-id"]:
            added_here = self.last_added_schema is not None and self._added("add-schema", new_id)
            self.last_added_schema = new_id if added_here else None
            return int(new_id)
        self.meta["last-column-id"] = new_last
        if not found:
            schemas.append({**schema, "schema-id": new_id})
        self._changed("add-schema", new_id)
        self.last_added_schema = new_id
        return int(new_id)

    def set_current_schema(self, schema_id: int) -> None:
        """Make schema ``schema_id`` current (``set-current-schema``); ``-1``: the one added last.

        Raises:
            InvalidArgument: ``-1`` with no schema added, or an unknown schema ID.
        """
        if schema_id == LAST_ADDED:
            _check(
                self.last_added_schema is not None,
                "Cannot set last added schema: no schema has been added",
            )
            assert self.last_added_schema is not None
            schema_id = self.last_added_schema
        if schema_id == self.meta["current-schema-id"]:
            return
        _check(
            _by_id(self.meta["schemas"], "schema-id", schema_id) is not None,
            f"Cannot set current schema to unknown schema: {schema_id}",
        )
        self.meta["current-schema-id"] = schema_id
        self._changed("set-current-schema")

    def remove_schemas(self, schema_ids: list[int]) -> None:
        """Remove schemas by ID (``remove-schemas``); unknown IDs are ignored.

        Raises:
            InvalidArgument: the current schema is among them.
        """
        remove = set(schema_ids)
        _check(self.meta["current-schema-id"] not in remove, "Cannot remove the current schema")
        if remove:
            self.meta["schemas"] = [s for s in self.meta["schemas"] if s["schema-id"] not in remove]
            self._changed("remove-schemas")

    def _current_field_ids(self) -> set[int]:
        schema = _by_id(self.meta["schemas"], "schema-id", self.meta["current-schema-id"])
        return field_ids(schema) if schema is not None else set()

    def _check_sources(self, fields: list[Json], what: str) -> None:
        known = self._current_field_ids()
        for field in fields:
            if field.get("transform") == "void":
                # v1 keeps a dropped column's partition field as void: it reads no column
                continue
            sources = field.get("source-ids") or [field.get("source-id")]
            for source in sources:
                _check(source in known, f"Cannot find source column for {what}: {field}")

    # --- partition specs -------------------------------------------------------------------

    def add_spec(self, spec: Json) -> int:
        """Add a partition spec (``add-spec``); its ID, reusing an equal spec's.

        Field IDs the request leaves out are assigned after ``last-partition-id`` (from 1000).

        Raises:
            InvalidArgument: a field names no column of the current schema, or a v1 spec's field
                IDs are not sequential from 1000.
        """
        specs: list[Json] = self.meta["partition-specs"]
        new_id = 0
        for existing in specs:
            if _spec_key(existing) == _spec_key(spec):
                new_id = existing["spec-id"]
                break
            if new_id <= existing["spec-id"]:
                new_id = existing["spec-id"] + 1
        if _by_id(specs, "spec-id", new_id) is not None:
            # Java asks whether the *previously* last added spec was added here
            added_here = self.last_added_spec is not None and self._added(
                "add-spec", self.last_added_spec
            )
            self.last_added_spec = new_id if added_here else None
            return int(new_id)
        fields = [dict(f) for f in spec.get("fields", [])]
        self._check_sources(fields, "partition field")
        next_field_id = self.meta["last-partition-id"]
        for field in fields:
            if field.get("field-id") is None:
                next_field_id = max(next_field_id, PARTITION_FIELD_ID_START - 1) + 1
                field["field-id"] = next_field_id
        if self.meta["format-version"] == 1:
            ids = [f["field-id"] for f in fields]
            _check(
                ids == list(range(PARTITION_FIELD_ID_START, PARTITION_FIELD_ID_START + len(ids))),
                f"Spec does not use sequential IDs that are required in v1: {spec}",
            )
        new_spec = {"spec-id": new_id, "fields": fields}
        self.meta["last-partition-id"] = max(
            self.meta["last-partition-id"], _spec_last_field_id(new_spec)
        )
        specs.append(new_spec)
        self._changed("add-spec", new_id)
        self.last_added_spec = new_id
        return new_id

    def set_default_spec(self, spec_id: int) -> None:
        """Make spec ``spec_id`` the default (``set-default-spec``); ``-1``: the one added last.

        Raises:
            InvalidArgument: ``-1`` with no spec added, or an unknown spec ID.
        """
        if spec_id == LAST_ADDED:
            _check(
                self.last_added_spec is not None,
                "Cannot set last added spec: no spec has been added",
            )
            assert self.last_added_spec is not None
            spec_id = self.last_added_spec
        if spec_id == self.meta["default-spec-id"]:
            return
        _check(
            _by_id(self.meta["partition-specs"], "spec-id", spec_id) is not None,
            f"Cannot set default partition spec to unknown spec: {spec_id}",
        )
        self.meta["default-spec-id"] = spec_id
        self._changed("set-default-spec")

    def remove_specs(self, spec_ids: list[int]) -> None:
        """Remove partition specs by ID (``remove-partition-specs``).

        Raises:
            InvalidArgument: the default spec is among them.
        """
        remove = set(spec_ids)
        _check(
            self.meta["default-spec-id"] not in remove, "Cannot remove the default partition spec"
        )
        if remove:
            self.meta["partition-specs"] = [
                s for s in self.meta["partition-specs"] if s["spec-id"] not in remove
            ]
            self._changed("remove-partition-specs")

    # --- sort orders -----------------------------------------------------------------------

    def add_sort_order(self, order: Json) -> int:
        """Add a sort order (``add-sort-order``); its ID, reusing an equal order's (0: unsorted).

        Raises:
            InvalidArgument: a field names no column of the current schema.
        """
        orders: list[Json] = self.meta["sort-orders"]
        fields = [dict(f) for f in order.get("fields", [])]
        if not fields:
            new_id = UNSORTED_ORDER_ID
        else:
            new_id = FIRST_SORT_ORDER_ID
            for existing in orders:
                if _order_key(existing) == _order_key(order):
                    new_id = existing["order-id"]
                    break
                if new_id <= existing["order-id"]:
                    new_id = existing["order-id"] + 1
        if _by_id(orders, "order-id", new_id) is not None:
            added_here = self.last_added_order is not None and self._added(
                "add-sort-order", self.last_added_order
            )
            self.last_added_order = new_id if added_here else None
            return int(new_id)
        self._check_sources(fields, "sort field")
        orders.append({"order-id": new_id, "fields": fields})
        self._changed("add-sort-order", new_id)
        self.last_added_order = new_id
        return int(new_id)

    def set_default_sort_order(self, order_id: int) -> None:
        """Make order ``order_id`` the default (``set-default-sort-order``); ``-1``: the last added.

        Raises:
            InvalidArgument: ``-1`` with no order added, or an unknown order ID.
        """
        if order_id == LAST_ADDED:
            _check(
                self.last_added_order is not None,
                "Cannot set last added sort order: no sort order has been added",
            )
            assert self.last_added_order is not None
            order_id = self.last_added_order
        if order_id == self.meta["default-sort-order-id"]:
            return
        _check(
            _by_id(self.meta["sort-orders"], "order-id", order_id) is not None,
            f"Cannot set default sort order to unknown order: {order_id}",
        )
        self.meta["default-sort-order-id"] = order_id
        self._changed("set-default-sort-order")

    # --- snapshots and refs ----------------------------------------------------------------

    def _snapshot(self, snapshot_id: int) -> Json | None:
        return _by_id(self.meta["snapshots"], "snapshot-id", snapshot_id)

    def add_snapshot(self, snapshot: Json) -> None:
        """Add a snapshot (``add-snapshot``); refs are moved separately (``set-snapshot-ref``).

        Raises:
            InvalidArgument: no schema, spec or sort order yet, a snapshot ID taken, or (v3) no
                ``first-row-id``.
            CommitFailed: its sequence number is not above the table's last one (v2+, with a
                parent), or (v3) its ``first-row-id`` is behind the table's ``next-row-id``: the
                client's metadata is stale and it must retry (Java's ``Validation failed, please
                retry``).
        """
        meta = self.meta
        _check(bool(meta["schemas"]), "Attempting to add a snapshot before a schema is added")
        _check(
            bool(meta["partition-specs"]),
            "Attempting to add a snapshot before a partition spec is added",
        )
        _check(
            bool(meta["sort-orders"]), "Attempting to add a snapshot before a sort order is added"
        )
        snapshot_id = snapshot["snapshot-id"]
        _check(
            self._snapshot(snapshot_id) is None, f"Snapshot already exists for id: {snapshot_id}"
        )
        sequence = snapshot.get("sequence-number", 0)
        if (
            meta["format-version"] > 1
            and sequence <= meta["last-sequence-number"]
            and snapshot.get("parent-snapshot-id") is not None
        ):
            # stale values in the request itself: the client must refresh, not the server retry
            raise CommitFailed(
                "Validation failed, please retry: Cannot add snapshot with sequence number "
                f"{sequence} older than last sequence number {meta['last-sequence-number']}"
            )
        if meta["format-version"] >= ROW_LINEAGE_FORMAT_VERSION:
            first_row_id = snapshot.get("first-row-id")
            _check(first_row_id is not None, "Cannot add a snapshot: first-row-id is null")
            if first_row_id < meta["next-row-id"]:
                raise CommitFailed(
                    "Validation failed, please retry: Cannot add a snapshot, first-row-id is "
                    f"behind table next-row-id: {first_row_id} < {meta['next-row-id']}"
                )
            meta["next-row-id"] += snapshot.get("added-rows") or 0
        meta["last-sequence-number"] = sequence
        # Java's addSnapshot: the change is dated by the snapshot (its writer's clock), so the
        # snapshot log never runs ahead of last-updated-ms
        self.last_updated_ms = snapshot.get("timestamp-ms", self.last_updated_ms)
        meta["snapshots"].append(snapshot)
        self._changed("add-snapshot", snapshot_id)

    def set_ref(self, update: Json) -> None:
        """Point a branch or tag at a snapshot (``set-snapshot-ref``); ``main``: the current one.

        Moving ``main`` adds a snapshot-log entry: the snapshot's own time when it was added in
        this commit, now for a rollback.

        Raises:
            InvalidArgument: the snapshot does not exist.
        """
        name = update["ref-name"]
        ref: Json = {"snapshot-id": update["snapshot-id"], "type": update["type"]}
        for key in ("min-snapshots-to-keep", "max-snapshot-age-ms", "max-ref-age-ms"):
            if update.get(key) is not None:
                ref[key] = update[key]
        if self.meta["refs"].get(name) == ref:
            return
        snapshot = self._snapshot(ref["snapshot-id"])
        _check(snapshot is not None, f"Cannot set {name} to unknown snapshot: {ref['snapshot-id']}")
        assert snapshot is not None
        if name == MAIN_BRANCH:
            self.meta["current-snapshot-id"] = ref["snapshot-id"]
            if self.last_updated_ms is None:
                self.last_updated_ms = _now_ms()
            # a rollback to an older snapshot happens now, an added snapshot when it was made
            added = self._added("add-snapshot", ref["snapshot-id"])
            when = snapshot["timestamp-ms"] if added else self.last_updated_ms
            self.meta["snapshot-log"].append(
                {"timestamp-ms": when, "snapshot-id": ref["snapshot-id"]}
            )
        self.meta["refs"][name] = ref
        self._changed("set-snapshot-ref", (name, ref["snapshot-id"]))

    def remove_ref(self, name: str) -> None:
        """Remove a branch or tag (``remove-snapshot-ref``); ``main``: no current snapshot."""
        if name == MAIN_BRANCH:
            self.meta["current-snapshot-id"] = None
        if self.meta["refs"].pop(name, None) is not None:
            self._changed("remove-snapshot-ref")

    def remove_snapshots(self, snapshot_ids: list[int]) -> None:
        """Remove snapshots (``remove-snapshots``), their statistics and the refs left on them.

        Only the metadata changes: the files stay until ``vxp gc`` finds no retained commit reads
        them (DESIGN.md, "Catalog invariants" 4).
        """
        remove = set(snapshot_ids)
        kept = []
        for snapshot in self.meta["snapshots"]:
            if snapshot["snapshot-id"] in remove:
                self._changed("remove-snapshots", snapshot["snapshot-id"])
                self._remove_statistics("statistics", snapshot["snapshot-id"])
                self._remove_statistics("partition-statistics", snapshot["snapshot-id"])
            else:
                kept.append(snapshot)
        self.meta["snapshots"] = kept
        alive = {s["snapshot-id"] for s in kept}
        for name, ref in list(self.meta["refs"].items()):
            if ref["snapshot-id"] not in alive:
                self.remove_ref(name)

    def _set_statistics(self, key: str, statistics: Json) -> None:
        snapshot_id = statistics["snapshot-id"]
        self.meta[key] = [s for s in self.meta[key] if s["snapshot-id"] != snapshot_id]
        self.meta[key].append(statistics)
        self._changed(f"set-{key}")

    def _remove_statistics(self, key: str, snapshot_id: int) -> None:
        kept = [s for s in self.meta[key] if s["snapshot-id"] != snapshot_id]
        if len(kept) != len(self.meta[key]):
            self.meta[key] = kept
            self._changed(f"remove-{key}")

    # --- location and properties -----------------------------------------------------------

    def set_location(self, location: str) -> None:
        """Set the table's base location (``set-location``); the server checks it is allowed."""
        if location != self.meta["location"]:
            self.meta["location"] = location
            self._changed("set-location")

    def set_properties(self, updates: dict[str, str]) -> None:
        """Set table properties (``set-properties``).

        ``write.metadata.delete-after-commit.enabled`` is accepted but stored as ``false`` by
        :meth:`build` (Iceberg's own catalog tests set it; the log is still trimmed).
        """
        if updates:
            self.meta["properties"].update(updates)
            self._changed("set-properties")

    def remove_properties(self, removals: list[str]) -> None:
        """Remove table properties (``remove-properties``); absent keys are ignored."""
        if removals:
            for key in removals:
                self.meta["properties"].pop(key, None)
            self._changed("remove-properties")

    # --- build -----------------------------------------------------------------------------

    def build(self) -> Json | None:
        """The new metadata document, or None when the updates changed nothing.

        Trims the metadata log to ``write.metadata.previous-versions-max`` and the snapshot log as
        Java's ``updateSnapshotLog`` does; fills in a table UUID for v1 tables without one.

        Raises:
            InvalidArgument: no location, or the current schema, default spec or default sort
                order is missing, or one of their fields names an unknown column.
        """
        if not self.changes:
            return None
        meta = self.meta
        _check(meta["location"] is not None, "Invalid table location: null")
        schema = _by_id(meta["schemas"], "schema-id", meta["current-schema-id"])
        _check(schema is not None, f"Cannot find current schema {meta['current-schema-id']}")
        spec = _by_id(meta["partition-specs"], "spec-id", meta["default-spec-id"])
        _check(spec is not None, f"Cannot find default partition spec {meta['default-spec-id']}")
        order = _by_id(meta["sort-orders"], "order-id", meta["default-sort-order-id"])
        _check(
            order is not None,
            f"Cannot find default sort order {meta['default-sort-order-id']}",
        )
        assert spec is not None and order is not None
        self._check_sources(spec["fields"], "partition field")
        self._check_sources(order["fields"], "sort field")
        # absent would mean Java's default, true
        meta["properties"].setdefault(GC_ENABLED, "false")
        if DELETE_AFTER_COMMIT in meta["properties"]:
            meta["properties"][DELETE_AFTER_COMMIT] = "false"
        meta["last-updated-ms"] = self._last_updated_ms()
        # v1 tables may predate table UUIDs; requirements need one from now on
        meta["table-uuid"] = meta["table-uuid"] or str(uuid.uuid4())
        if self.base_log is not None and self.base_location is not None:
            meta["metadata-log"] = self._metadata_log()
        meta["snapshot-log"] = self._snapshot_log()
        return serialize(meta)

    def _last_updated_ms(self) -> int:
        """When this metadata changed: the time of the snapshot added last (:meth:`add_snapshot`),
        else now; never before the last snapshot-log or metadata-log entry,
        which Java's ``TableMetadata`` refuses to load ("Invalid update timestamp …: before last
        snapshot log entry at …"), e.g. after a writer whose clock runs ahead."""
        when = self.last_updated_ms if self.last_updated_ms is not None else _now_ms()
        floors = [entry["timestamp-ms"] for entry in self.meta["snapshot-log"][-1:]]
        if self.base_updated_ms is not None and self.base_location is not None:
            floors.append(self.base_updated_ms)
        return int(max([when, *floors]))

    def _metadata_log(self) -> list[Json]:
        """The base's log plus the base itself, trimmed to the newest ``previous-versions-max``.

        Trimming only shortens the log. The trimmed-off files are never deleted here, even with
        ``write.metadata.delete-after-commit.enabled``: other lakeFS commits' pointers may name
        them, and only ``vxp gc`` knows which files no retained commit reaches.
        """
        assert self.base_log is not None and self.base_updated_ms is not None
        try:
            keep = int(
                self.meta["properties"].get(PREVIOUS_VERSIONS_MAX, PREVIOUS_VERSIONS_MAX_DEFAULT)
            )
        except ValueError:
            keep = PREVIOUS_VERSIONS_MAX_DEFAULT
        keep = max(1, keep)
        previous = list(self.base_log)
        if len(previous) >= keep:
            previous = previous[len(previous) - keep + 1 :]
        previous.append({"timestamp-ms": self.base_updated_ms, "metadata-file": self.base_location})
        return previous

    def _snapshot_log(self) -> list[Json]:
        """Java's ``updateSnapshotLog``: drop intermediate snapshots and history before a gap."""
        meta = self.meta
        current = meta["current-snapshot-id"]
        added: set[int] = set()
        intermediate: set[int] = set()
        for action, detail in self.changes:
            if action == "add-snapshot":
                added.add(detail)
            elif action == "set-snapshot-ref":
                name, snapshot_id = detail
                if snapshot_id in added and name == MAIN_BRANCH and snapshot_id != current:
                    intermediate.add(snapshot_id)
        removed = any(action == "remove-snapshots" for action, _ in self.changes)
        log: list[Json] = meta["snapshot-log"]
        if not intermediate and not removed:
            return log
        alive = {s["snapshot-id"] for s in meta["snapshots"]}
        new_log: list[Json] = []
        for entry in log:
            if entry["snapshot-id"] in alive:
                if entry["snapshot-id"] not in intermediate:
                    new_log.append(entry)
            elif removed:
                # a gap would make time travel return the wrong snapshot: drop what precedes it
                new_log.clear()
        if current is not None and current in alive:
            _check(
                bool(new_log) and new_log[-1]["snapshot-id"] == current,
                "Cannot set invalid snapshot log: latest entry is not the current snapshot",
            )
        return new_log


def new_table(
    schema: Json,
    spec: Json | None,
    order: Json | None,
    location: str,
    properties: dict[str, str],
) -> Json:
    """A new table's metadata, as Java's ``TableMetadata.newTableMetadata`` makes it.

    The format version comes from the ``format-version`` property (default 2), which, like the
    other reserved properties, is not stored.

    Raises:
        InvalidArgument: the format version is not 1, 2 or 3, or Iceberg's rules reject the
            schema, spec or order.
        BadRequest: a partition or sort field names a column the schema lacks.
    """
    raw_version = properties.get(FORMAT_VERSION_PROPERTY, str(DEFAULT_FORMAT_VERSION))
    try:
        version = int(raw_version)
    except ValueError:
        raise InvalidArgument(f"Invalid format version: {raw_version!r}") from None
    _check(
        version in FORMAT_VERSIONS,
        f"Unsupported format version: v{version} (supported: v{FORMAT_VERSIONS[-1]})",
    )
    fresh_schema, fresh_spec, fresh_order = fresh_ids(schema, spec, order)
    builder = TableBuilder(None, None, version)
    builder.add_schema(fresh_schema)
    builder.set_current_schema(LAST_ADDED)
    builder.set_default_spec(builder.add_spec(fresh_spec))
    builder.set_default_sort_order(builder.add_sort_order(fresh_order))
    builder.set_location(location)
    builder.set_properties(
        CREATE_DEFAULTS | {k: v for k, v in properties.items() if k not in RESERVED_PROPERTIES}
    )
    built = builder.build()
    assert built is not None
    return built
