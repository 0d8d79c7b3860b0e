"""The catalog's own objects inside a lakeFS ref, and the rules for the names that address them.

Layout (every level percent-encoded, see :func:`encode_level`)::

    _vxp/catalog/namespaces/<l1>/<l2>/.namespace.json   {"properties": {...}}
    _vxp/catalog/tables/<l1>/<l2>/<table>.json          {"metadata-location": ..., ...}
    _vxp/catalog/views/<l1>/<l2>/<view>.json            {"metadata-location": ..., ...}

Because these are ordinary objects of the ref, a lakeFS branch branches every namespace, table and
view at once, a tag or commit freezes them, and a merge where both sides moved the same table's
pointer is an ordinary lakeFS conflict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from vxp.catalog.errors import BadRequest
from vxp.catalog.lakefs_api import Session

ROOT = "_vxp/catalog"
NAMESPACES = f"{ROOT}/namespaces"
TABLES = f"{ROOT}/tables"
VIEWS = f"{ROOT}/views"
MARKER = ".namespace.json"
POINTER_SUFFIX = ".json"
# an encoded level above this length would make lakeFS paths unwieldy; no real name gets close
MAX_ENCODED_LEVEL = 255
MAX_DEPTH = 16

Namespace = tuple[str, ...]


def validate_name(kind: str, value: str) -> None:
    """Reject names that are empty, path-like or unprintable, with a message saying which rule."""
    if value == "":
        raise BadRequest(f"{kind} name must not be empty")
    if value in (".", ".."):
        raise BadRequest(f"{kind} name {value!r} is not allowed (it looks like path traversal)")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise BadRequest(f"{kind} name {value!r} contains control characters")
    if len(encode_level(value)) > MAX_ENCODED_LEVEL:
        raise BadRequest(f"{kind} name {value[:40]!r}… is too long")


def validate_namespace(namespace: Namespace) -> None:
    if len(namespace) > MAX_DEPTH:
        raise BadRequest(f"namespace {'.'.join(namespace)!r} has more than {MAX_DEPTH} levels")
    for level in namespace:
        validate_name("namespace level", level)


def encode_level(level: str) -> str:
    """Percent-encode one name so it is exactly one path segment that never starts with a dot.

    Encoding ``/`` and ``%`` makes the mapping reversible; encoding a leading ``.`` keeps every
    encoded name apart from the catalog's own dot-files (``.namespace.json``) and from ``..``.
    """
    encoded = quote(level, safe="")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def decode_level(encoded: str) -> str:
    return unquote(encoded)


def namespace_dir(namespace: Namespace) -> str:
    return NAMESPACES + "/" + "".join(encode_level(level) + "/" for level in namespace)


def namespace_marker(namespace: Namespace) -> str:
    return namespace_dir(namespace) + MARKER


def tables_dir(namespace: Namespace) -> str:
    return TABLES + "/" + "".join(encode_level(level) + "/" for level in namespace)


def table_pointer(namespace: Namespace, name: str) -> str:
    return tables_dir(namespace) + encode_level(name) + POINTER_SUFFIX


def views_dir(namespace: Namespace) -> str:
    return VIEWS + "/" + "".join(encode_level(level) + "/" for level in namespace)


def view_pointer(namespace: Namespace, name: str) -> str:
    return views_dir(namespace) + encode_level(name) + POINTER_SUFFIX


def parse_table_pointer(path: str) -> tuple[Namespace, str] | None:
    """The namespace and table a pointer path names (inverse of :func:`table_pointer`).

    None for any other path, so tools reading a ref's objects or diffs can tell table pointers
    from namespaces and ordinary files.
    """
    rest = path.removeprefix(TABLES + "/")
    if rest == path or not rest.endswith(POINTER_SUFFIX):
        return None
    *levels, name = rest[: -len(POINTER_SUFFIX)].split("/")
    if "" in levels or not name:
        return None
    return tuple(decode_level(level) for level in levels), decode_level(name)


def parse_namespace_marker(path: str) -> Namespace | None:
    """The namespace a marker path names (inverse of :func:`namespace_marker`), else None."""
    rest = path.removeprefix(NAMESPACES + "/")
    if rest == path or not rest.endswith("/" + MARKER):
        return None
    levels = rest[: -len(MARKER) - 1].split("/")
    if "" in levels:
        return None
    return tuple(decode_level(level) for level in levels)


@dataclass(frozen=True)
class Pointer:
    """A table's or view's catalog entry: where its current metadata file is."""

    metadata_location: str
    previous_metadata_location: str | None = None

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {"metadata-location": self.metadata_location}
        if self.previous_metadata_location is not None:
            body["previous-metadata-location"] = self.previous_metadata_location
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Pointer:
        body = json.loads(raw)
        return cls(body["metadata-location"], body.get("previous-metadata-location"))


def namespace_document(properties: dict[str, str]) -> bytes:
    return json.dumps({"properties": properties}, sort_keys=True).encode()


class RefState:
    """Reads the catalog's objects at one ref: a branch name, a tag, or a commit ID.

    Writers read at the branch's head *commit ID*, so what they validate is exactly what their
    temporary branch starts from (see :mod:`catalog.commits`).
    """

    def __init__(self, session: Session, repo: str, ref: str) -> None:
        self.session = session
        self.repo = repo
        self.ref = ref

    def namespace_properties(self, namespace: Namespace) -> dict[str, str] | None:
        """Properties of an existing namespace, None if it does not exist; the root always does."""
        if not namespace:
            return {}
        raw = self.session.get_object(self.repo, self.ref, namespace_marker(namespace))
        if raw is None:
            return None
        return dict(json.loads(raw).get("properties", {}))

    def namespace_exists(self, namespace: Namespace) -> bool:
        return self.namespace_properties(namespace) is not None

    def child_namespaces(self, parent: Namespace, after: str = "") -> Iterator[str]:
        """Encoded names of the namespaces right below ``parent``, after encoded name ``after``."""
        base = namespace_dir(parent)
        start = f"{base}{after}/" if after else ""
        for entry in self.session.list_objects(self.repo, self.ref, base, after=start):
            if entry.is_prefix:
                yield entry.path[len(base) : -1]

    def tables(self, namespace: Namespace, after: str = "") -> Iterator[str]:
        """Encoded names of the tables in ``namespace``, after encoded name ``after``."""
        return self._pointers(tables_dir(namespace), after)

    def views(self, namespace: Namespace, after: str = "") -> Iterator[str]:
        """Encoded names of the views in ``namespace``, after encoded name ``after``."""
        return self._pointers(views_dir(namespace), after)

    def _pointers(self, base: str, after: str) -> Iterator[str]:
        start = f"{base}{after}{POINTER_SUFFIX}" if after else ""
        for entry in self.session.list_objects(self.repo, self.ref, base, after=start):
            if not entry.is_prefix and entry.path.endswith(POINTER_SUFFIX):
                yield entry.path[len(base) : -len(POINTER_SUFFIX)]

    def is_empty(self, namespace: Namespace) -> bool:
        """True when ``namespace`` holds no tables, views or child namespaces."""
        return (
            next(self.tables(namespace), None) is None
            and next(self.views(namespace), None) is None
            and next(self.child_namespaces(namespace), None) is None
        )

    def pointer(self, namespace: Namespace, name: str) -> Pointer | None:
        """The table ``name``'s pointer, None if there is no such table."""
        return self._read_pointer(table_pointer(namespace, name))

    def view_pointer(self, namespace: Namespace, name: str) -> Pointer | None:
        """The view ``name``'s pointer, None if there is no such view."""
        return self._read_pointer(view_pointer(namespace, name))

    def _read_pointer(self, path: str) -> Pointer | None:
        raw = self.session.get_object(self.repo, self.ref, path)
        return None if raw is None else Pointer.from_bytes(raw)
