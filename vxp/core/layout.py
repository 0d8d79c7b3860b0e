"""The layout of what a lakeFS ref holds under ``_vxp/``: the paths of the catalog's entries.

Layout (every level percent-encoded, see :func:`encode_level`)::

    _vxp/catalog/namespaces/<l1>/<l2>/.namespace.json   {"properties": {...}}
    _vxp/catalog/tables/<l1>/<l2>/<table>.json          {"metadata-location": ..., ...}
    _vxp/catalog/views/<l1>/<l2>/<view>.json            {"metadata-location": ..., ...}
    _vxp/lineage/<run>.jsonl                            OpenLineage events of a run
    _vxp/contracts/<namespace>.<table>.yaml             data contracts

Because these are ordinary objects of the ref, a lakeFS branch branches every namespace, table and
view at once, a tag or commit freezes them, and a merge where both sides moved the same table's
pointer is an ordinary lakeFS conflict (DESIGN.md, "Catalog invariants" 1 and 5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

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
LINEAGE = "_vxp/lineage"
CONTRACTS = "_vxp/contracts"


def encode_level(level: str) -> str:
    """Percent-encode one name so it is exactly one path segment that never starts with a dot.

    Encoding ``/`` and ``%`` makes the mapping reversible; encoding a leading ``.`` keeps every
    encoded name apart from the catalog's own dot-files (``.namespace.json``) and from ``..``.
    """
    encoded = quote(level, safe="")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def decode_level(encoded: str) -> str:
    """One name from its path segment: the inverse of :func:`encode_level`."""
    return unquote(encoded)


def namespace_dir(namespace: Namespace) -> str:
    """The folder of ``namespace``'s marker and of its child namespaces' folders.

    Args:
        namespace: the levels, outermost first; ``()`` is the root (``_vxp/catalog/namespaces/``).

    Returns:
        A path ending in ``/``, each level encoded with :func:`encode_level`.
    """
    return NAMESPACES + "/" + "".join(encode_level(level) + "/" for level in namespace)


def namespace_marker(namespace: Namespace) -> str:
    """The path of the object that makes ``namespace`` exist (``<dir>/.namespace.json``)."""
    return namespace_dir(namespace) + MARKER


def tables_dir(namespace: Namespace) -> str:
    """The folder holding the table pointers of ``namespace`` (ends in ``/``)."""
    return TABLES + "/" + "".join(encode_level(level) + "/" for level in namespace)


def table_pointer(namespace: Namespace, name: str) -> str:
    """The path of table ``name``'s pointer in ``namespace``.

    That is ``_vxp/catalog/tables/<levels>/<name>.json``; its content is a :class:`Pointer`
    (:meth:`Pointer.to_bytes`).
    """
    return tables_dir(namespace) + encode_level(name) + POINTER_SUFFIX


def views_dir(namespace: Namespace) -> str:
    """The folder holding the view pointers of ``namespace`` (ends in ``/``)."""
    return VIEWS + "/" + "".join(encode_level(level) + "/" for level in namespace)


def view_pointer(namespace: Namespace, name: str) -> str:
    """The path of view ``name``'s pointer in ``namespace`` (views share tables' layout)."""
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
    """A table's or view's catalog entry: where its current metadata file is.

    Attributes:
        metadata_location: the URI of the current metadata file (``file:///…`` or ``s3://…``),
            the REST spec's ``metadata-location``.
        previous_metadata_location: the one it replaced, or None for a new entry.
    """

    metadata_location: str
    previous_metadata_location: str | None = None

    def to_bytes(self) -> bytes:
        """The pointer object's content: JSON with sorted keys, as lakeFS stores it."""
        body: dict[str, Any] = {"metadata-location": self.metadata_location}
        if self.previous_metadata_location is not None:
            body["previous-metadata-location"] = self.previous_metadata_location
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Pointer:
        """A pointer from an object's content (the inverse of :meth:`to_bytes`).

        Anyone who can write a branch can write this object, so every part is checked.

        Raises:
            ValueError: ``raw`` is not UTF-8 JSON, not a JSON object, has no text
                ``metadata-location``, or a ``previous-metadata-location`` that is not text;
                the message says which.
        """
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError(f"not a JSON object but {_json_kind(body)}")
        if "metadata-location" not in body:
            raise ValueError("no 'metadata-location'")
        location = body["metadata-location"]
        if not isinstance(location, str):
            raise ValueError(f"'metadata-location' is {_json_kind(location)}, not a string")
        previous = body.get("previous-metadata-location")
        if previous is not None and not isinstance(previous, str):
            raise ValueError(
                f"'previous-metadata-location' is {_json_kind(previous)}, not a string"
            )
        return cls(location, previous)


def _json_kind(value: object) -> str:
    """What ``value`` is in JSON's words (RFC 8259, section 3), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def namespace_document(properties: dict[str, str]) -> bytes:
    """The content of a namespace marker: ``{"properties": {...}}``, sorted keys."""
    return json.dumps({"properties": properties}, sort_keys=True).encode()
