"""Iceberg view metadata documents, changed with the semantics of Iceberg's Java view builder.

Like :mod:`catalog.table_metadata`, this works on the JSON document and follows Java's
``ViewMetadata.Builder``, which clients rely on: a schema or view version equal to an existing one
reuses its ID, any other gets the next free ID, ``-1`` means "the one added last", a replace may
not drop a SQL dialect unless ``replace.drop-dialect.allowed``, and only the newest
``version.history.num-entries`` versions are kept.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from vxp.catalog.errors import BadRequest, CommitFailed, InvalidArgument
from vxp.catalog.table_metadata import Json, same_schema

FORMAT_VERSION = 1
LAST_ADDED = -1
FIRST_VERSION_ID = 1
DROP_DIALECT_ALLOWED = "replace.drop-dialect.allowed"
HISTORY_SIZE = "version.history.num-entries"
HISTORY_SIZE_DEFAULT = 10
_FIELD_ORDER = (
    "view-uuid",
    "format-version",
    "location",
    "properties",
    "schemas",
    "current-version-id",
    "versions",
    "version-log",
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgument(message)


def _by_id(items: list[Json], key: str, value: Any) -> Json | None:
    return next((item for item in items if item.get(key) == value), None)


def _dialects(version: Json) -> set[str]:
    representations = version.get("representations", [])
    return {str(r["dialect"]).lower() for r in representations if r.get("type") == "sql"}


def parse(doc: Any) -> Json:
    """A view metadata document in the shape the builder works on (Iceberg view spec, format 1).

    Raises:
        BadRequest: ``doc`` is no JSON object, its format version is not 1, or it lacks
            ``view-uuid``, ``location``, ``schemas``, ``current-version-id`` or ``versions``.
    """
    if not isinstance(doc, dict):
        raise BadRequest("view metadata must be a JSON object")
    if doc.get("format-version") != FORMAT_VERSION:
        raise BadRequest(
            f"Cannot read unsupported view metadata format version: {doc.get('format-version')}"
        )
    for key in ("view-uuid", "location", "schemas", "current-version-id", "versions"):
        if key not in doc:
            raise BadRequest(f"view metadata lacks {key!r}")
    meta = copy.deepcopy(doc)
    meta.setdefault("version-log", [])
    meta.setdefault("properties", {})
    return meta


def check_requirements(base: Json, requirements: list[Json]) -> None:
    """Check a view commit's requirements; views take only ``assert-view-uuid``.

    Raises:
        BadRequest: another requirement type.
        CommitFailed: the view's UUID differs (the message is Java's).
    """
    for req in requirements:
        if req["type"] != "assert-view-uuid":
            raise BadRequest(f"requirement {req['type']!r} does not apply to views")
        if str(req["uuid"]).lower() != str(base["view-uuid"]).lower():
            raise CommitFailed(
                "Requirement failed: view UUID does not match: "
                f"expected {base['view-uuid']} != {req['uuid']}"
            )


class ViewBuilder:
    """Applies REST updates to a view's metadata (``base`` None: a view being created)."""

    def __init__(self, base: Json | None) -> None:
        self.base = base
        self.meta: Json = (
            copy.deepcopy(base)
            if base is not None
            else {
                "view-uuid": None,
                "format-version": FORMAT_VERSION,
                "location": None,
                "properties": {},
                "schemas": [],
                "current-version-id": None,
                "versions": [],
                "version-log": [],
            }
        )
        self.changes: list[tuple[str, Any]] = []
        self.last_added_schema: int | None = None
        self.last_added_version: int | None = None
        self.history_entry: Json | None = None

    def apply(self, updates: list[Json]) -> None:
        """Apply REST updates in order (Iceberg REST spec, ``ViewUpdate``), as Java's builder does.

        Raises:
            BadRequest: an update that does not apply to views.
            InvalidArgument: an update breaks one of Iceberg's rules (Java's message).
        """
        for update in updates:
            action = update["action"]
            if action == "assign-uuid":
                self.assign_uuid(str(update["uuid"]))
            elif action == "upgrade-format-version":
                self.upgrade_format_version(update["format-version"])
            elif action == "add-schema":
                self.add_schema(update["schema"])
            elif action == "set-location":
                self.set_location(update["location"])
            elif action == "set-properties":
                self.set_properties(update["updates"])
            elif action == "remove-properties":
                self.remove_properties(update["removals"])
            elif action == "add-view-version":
                self.add_version(update["view-version"])
            elif action == "set-current-view-version":
                self.set_current_version(update["view-version-id"])
            else:
                raise BadRequest(f"update {action!r} cannot be applied to a view")

    def _added(self, action: str, detail: Any) -> bool:
        return (action, detail) in self.changes

    def assign_uuid(self, new_uuid: str) -> None:
        """Set the view UUID (``assign-uuid``) of a new view.

        Raises:
            InvalidArgument: the view has another UUID already.
        """
        current = self.meta["view-uuid"]
        _check(current is None or current == new_uuid, "Cannot reassign uuid")
        if current != new_uuid:
            self.meta["view-uuid"] = new_uuid
            self.changes.append(("assign-uuid", None))

    def upgrade_format_version(self, version: int) -> None:
        """Check an ``upgrade-format-version`` update: views have only format version 1.

        Raises:
            InvalidArgument: a downgrade, or any version other than 1.
        """
        current = self.meta["format-version"]
        _check(version >= current, f"Cannot downgrade v{current} view to v{version}")
        _check(version == FORMAT_VERSION, f"Unsupported format version: {version}")

    def set_location(self, location: str | None) -> None:
        """Set the view's location (``set-location``).

        Raises:
            InvalidArgument: ``location`` is None.
        """
        _check(location is not None, "Invalid location: null")
        if location != self.meta["location"]:
            self.meta["location"] = location
            self.changes.append(("set-location", None))

    def set_properties(self, updates: dict[str, str]) -> None:
        """Set view properties (``set-properties``)."""
        if updates:
            self.meta["properties"].update(updates)
            self.changes.append(("set-properties", None))

    def remove_properties(self, removals: list[str]) -> None:
        """Remove view properties (``remove-properties``); absent keys are ignored."""
        if removals:
            for key in removals:
                self.meta["properties"].pop(key, None)
            self.changes.append(("remove-properties", None))

    def add_schema(self, schema: Json) -> int:
        """Add a schema (``add-schema``); its ID. An equal schema keeps its ID and does not count as
        the one added last.
        """
        schemas: list[Json] = self.meta["schemas"]
        new_id = 0
        for existing in schemas:
            if same_schema(existing, schema):
                # an existing schema is reused and does not count as "added last"
                return int(existing["schema-id"])
            if existing["schema-id"] >= new_id:
                new_id = existing["schema-id"] + 1
        schemas.append({**schema, "schema-id": new_id})
        self.changes.append(("add-schema", new_id))
        self.last_added_schema = new_id
        return new_id

    def add_version(self, version: Json) -> int:
        """Add a view version (``add-view-version``); its ID, reusing an equal version's.

        Raises:
            InvalidArgument: ``schema-id`` ``-1`` with no schema added, an unknown schema, or two
                SQL queries for one dialect.
        """
        versions: list[Json] = self.meta["versions"]
        new_id = int(version["version-id"])
        for existing in versions:
            if _same_version(existing, version):
                new_id = int(existing["version-id"])
                break
            if existing["version-id"] >= new_id:
                new_id = existing["version-id"] + 1
        if _by_id(versions, "version-id", new_id) is not None:
            self.last_added_version = new_id if self._added("add-view-version", new_id) else None
            return new_id
        new_version = {**version, "version-id": new_id}
        if new_version["schema-id"] == LAST_ADDED:
            _check(
                self.last_added_schema is not None,
                "Cannot set last added schema: no schema has been added",
            )
            new_version["schema-id"] = self.last_added_schema
        _check(
            _by_id(self.meta["schemas"], "schema-id", new_version["schema-id"]) is not None,
            f"Cannot add version with unknown schema: {new_version['schema-id']}",
        )
        dialects: set[str] = set()
        for representation in new_version.get("representations", []):
            if representation.get("type") == "sql":
                dialect = str(representation["dialect"]).lower()
                _check(
                    dialect not in dialects,
                    f"Invalid view version: Cannot add multiple queries for dialect {dialect}",
                )
                dialects.add(dialect)
        versions.append(new_version)
        self.changes.append(("add-view-version", new_id))
        self.last_added_version = new_id
        return new_id

    def set_current_version(self, version_id: int) -> None:
        """Make ``version_id`` current (``set-current-view-version``); ``-1``: the last added.

        Raises:
            InvalidArgument: ``-1`` with no version added, or an unknown version ID.
        """
        if version_id == LAST_ADDED:
            _check(
                self.last_added_version is not None,
                "Cannot set last version id: no current version id has been set",
            )
            assert self.last_added_version is not None
            version_id = self.last_added_version
        if version_id == self.meta["current-version-id"]:
            return
        version = _by_id(self.meta["versions"], "version-id", version_id)
        _check(version is not None, f"Cannot set current version to unknown version: {version_id}")
        assert version is not None
        self.meta["current-version-id"] = version_id
        self.changes.append(("set-current-view-version", version_id))
        # a version made in this change became current when it was made; an older one, now
        added_here = self._added("add-view-version", version_id)
        self.history_entry = {
            "timestamp-ms": version["timestamp-ms"] if added_here else _now_ms(),
            "version-id": version_id,
        }

    def build(self) -> Json | None:
        """The new metadata document, or None when the updates changed nothing.

        Keeps the newest ``version.history.num-entries`` versions (at least the current one and
        those added now).

        Raises:
            InvalidArgument: no location or no version, the current version is missing, or the
                history size is not positive.
            BadRequest: the new current version drops a SQL dialect of the old one while
                ``replace.drop-dialect.allowed`` is not ``true``.
        """
        if not self.changes:
            return None
        meta = self.meta
        _check(meta["location"] is not None, "Invalid location: null")
        _check(bool(meta["versions"]), "Invalid view: no versions were added")
        meta["view-uuid"] = meta["view-uuid"] or str(uuid.uuid4())
        if self.history_entry is not None:
            meta["version-log"].append(self.history_entry)
        current = _by_id(meta["versions"], "version-id", meta["current-version-id"])
        _check(current is not None, f"Cannot find current version {meta['current-version-id']}")
        assert current is not None
        drop_allowed = meta["properties"].get(DROP_DIALECT_ALLOWED, "false").lower() == "true"
        if self.base is not None and not drop_allowed:
            previous = _by_id(self.base["versions"], "version-id", self.base["current-version-id"])
            if previous is not None and not _dialects(previous) <= _dialects(current):
                raise BadRequest(
                    "Cannot replace view due to loss of view dialects "
                    f"({DROP_DIALECT_ALLOWED}=false):\n"
                    f"Previous dialects: {sorted(_dialects(previous))}\n"
                    f"New dialects: {sorted(_dialects(current))}"
                )
        self._expire_versions()
        return {**{k: meta[k] for k in _FIELD_ORDER}, **meta}

    def _expire_versions(self) -> None:
        """Keep the newest versions (at least those added now and the current one)."""
        meta = self.meta
        try:
            size = int(meta["properties"].get(HISTORY_SIZE, HISTORY_SIZE_DEFAULT))
        except ValueError:
            size = HISTORY_SIZE_DEFAULT
        _check(size > 0, f"{HISTORY_SIZE} must be positive but was {size}")
        keep_at_least = {d for a, d in self.changes if a == "add-view-version"}
        keep_at_least.add(meta["current-version-id"])
        keep = max(len(keep_at_least), size)
        if len(meta["versions"]) <= keep:
            return
        newest_first = sorted((v["version-id"] for v in meta["versions"]), reverse=True)
        retained = {meta["current-version-id"]}
        for version_id in newest_first[:keep]:
            if len(retained) == keep:
                break
            retained.add(version_id)
        meta["versions"] = [v for v in meta["versions"] if v["version-id"] in retained]
        log: list[Json] = []
        for entry in meta["version-log"]:
            if entry["version-id"] in retained:
                log.append(entry)
            else:
                # history before an expired version would skip it: clear it
                log.clear()
        meta["version-log"] = log


def _same_version(one: Json, two: Json) -> bool:
    """Java's ``sameViewVersion``: equal apart from version ID and timestamp."""
    keys = ("summary", "representations", "default-catalog", "default-namespace", "schema-id")
    return all(one.get(key) == two.get(key) for key in keys)


def new_view(schema: Json, version: Json, location: str, properties: dict[str, str]) -> Json:
    """A new view's metadata, as Java's view catalogs create it: schema 0, the client's version.

    Raises:
        InvalidArgument: Iceberg's rules reject the version (two queries for one dialect).
    """
    builder = ViewBuilder(None)
    builder.set_properties(properties)
    builder.set_location(location)
    schema_id = builder.add_schema(schema)
    builder.set_current_version(builder.add_version({**version, "schema-id": schema_id}))
    built = builder.build()
    assert built is not None
    return built
