"""Reads of the catalog's objects inside a lakeFS ref, and the rules for the names that address
them. The paths themselves are the core's (:mod:`vxp.core.layout`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from vxp.catalog.errors import BadRequest
from vxp.core.layout import (
    MAX_DEPTH,
    MAX_ENCODED_LEVEL,
    POINTER_SUFFIX,
    Namespace,
    Pointer,
    encode_level,
    namespace_dir,
    namespace_marker,
    table_pointer,
    tables_dir,
    view_pointer,
    views_dir,
)
from vxp.lakefs import Session


def validate_name(kind: str, value: str) -> None:
    """Reject names that are empty, path-like or unprintable, with a message saying which rule.

    Args:
        kind: what is named (``table``, ``namespace level``, ``ref``), for the message.

    Raises:
        BadRequest: ``value`` is empty, ``.`` or ``..``, holds a control character, or is
            longer than 255 characters once encoded.
    """
    if value == "":
        raise BadRequest(f"{kind} name must not be empty")
    if value in (".", ".."):
        raise BadRequest(f"{kind} name {value!r} is not allowed (it looks like path traversal)")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise BadRequest(f"{kind} name {value!r} contains control characters")
    if len(encode_level(value)) > MAX_ENCODED_LEVEL:
        raise BadRequest(f"{kind} name {value[:40]!r}… is too long")


def validate_namespace(namespace: Namespace) -> None:
    """Check a namespace's depth and each of its levels (:func:`validate_name`).

    Raises:
        BadRequest: more than 16 levels, or a level breaks a name rule.
    """
    if len(namespace) > MAX_DEPTH:
        raise BadRequest(f"namespace {'.'.join(namespace)!r} has more than {MAX_DEPTH} levels")
    for level in namespace:
        validate_name("namespace level", level)


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
        """Properties of an existing namespace, None if it does not exist; the root always does.

        Raises:
            BadRequest: the namespace marker is malformed (anyone who can write a branch can
                write one).
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        if not namespace:
            return {}
        path = namespace_marker(namespace)
        raw = self.session.get_object(self.repo, self.ref, path)
        if raw is None:
            return None
        try:
            properties = json.loads(raw).get("properties", {})
        except (ValueError, AttributeError) as exc:
            raise BadRequest(_malformed(path, self.ref)) from exc
        if not isinstance(properties, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in properties.items()
        ):
            raise BadRequest(_malformed(path, self.ref))
        return properties

    def namespace_exists(self, namespace: Namespace) -> bool:
        """True when ``namespace`` has a marker at this ref (the root always exists).

        Raises:
            BadRequest: the namespace marker is malformed (anyone who can write a branch can
                write one).
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        return self.namespace_properties(namespace) is not None

    def child_namespaces(self, parent: Namespace, after: str = "") -> Iterator[str]:
        """Encoded names of the namespaces right below ``parent``, after encoded name ``after``.

        Listed in name order, a page at a time as they are consumed.

        Raises:
            LakeFSNotFound: the repository or ref does not exist (raised while iterating).
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        base = namespace_dir(parent)
        start = f"{base}{after}/" if after else ""
        for entry in self.session.list_objects(self.repo, self.ref, base, after=start):
            if entry.is_prefix:
                yield entry.path[len(base) : -1]

    def tables(self, namespace: Namespace, after: str = "") -> Iterator[str]:
        """Encoded names of the tables in ``namespace`` after encoded name ``after``, in name order.

        Raises:
            LakeFSNotFound: the repository or ref does not exist (raised while iterating).
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        return self._pointers(tables_dir(namespace), after)

    def views(self, namespace: Namespace, after: str = "") -> Iterator[str]:
        """Encoded names of the views in ``namespace`` after encoded name ``after``, in name order.

        Raises:
            LakeFSNotFound: the repository or ref does not exist (raised while iterating).
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        return self._pointers(views_dir(namespace), after)

    def _pointers(self, base: str, after: str) -> Iterator[str]:
        start = f"{base}{after}{POINTER_SUFFIX}" if after else ""
        for entry in self.session.list_objects(self.repo, self.ref, base, after=start):
            if not entry.is_prefix and entry.path.endswith(POINTER_SUFFIX):
                yield entry.path[len(base) : -len(POINTER_SUFFIX)]

    def is_empty(self, namespace: Namespace) -> bool:
        """True when ``namespace`` holds no tables, views or child namespaces.

        Raises:
            LakeFSNotFound: the repository or ref does not exist.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        return (
            next(self.tables(namespace), None) is None
            and next(self.views(namespace), None) is None
            and next(self.child_namespaces(namespace), None) is None
        )

    def pointer(self, namespace: Namespace, name: str) -> Pointer | None:
        """The table ``name``'s pointer, None if there is no such table.

        Raises:
            BadRequest: the pointer object is malformed (anyone who can write a branch can
                write one).
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        return self._read_pointer(table_pointer(namespace, name))

    def view_pointer(self, namespace: Namespace, name: str) -> Pointer | None:
        """The view ``name``'s pointer, None if there is no such view.

        Raises:
            BadRequest: the pointer object is malformed.
            LakeFSError: lakeFS refused otherwise or cannot be reached (rendered by
                :func:`vxp.catalog.errors.install`'s handlers).
        """
        return self._read_pointer(view_pointer(namespace, name))

    def _read_pointer(self, path: str) -> Pointer | None:
        raw = self.session.get_object(self.repo, self.ref, path)
        if raw is None:
            return None
        # anyone who can write a branch can write this object: a malformed one is a 400 for this
        # entry alone, never a 500
        try:
            return Pointer.from_bytes(raw)
        except ValueError as exc:
            raise BadRequest(_malformed(path, self.ref)) from exc


def _malformed(path: str, ref: str) -> str:
    return (
        f"the catalog object {path[:300]!r} at ref {ref!r} is malformed; fix or delete it with "
        "lakeFS"
    )
