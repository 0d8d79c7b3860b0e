"""Table metadata files: where they go, and reading and writing them in object storage.

Metadata files are written once under a fresh name and never overwritten, so a file read once can
be cached forever by its location; engines read the same files directly, lakeFS is not involved.
"""

from __future__ import annotations

import gzip
import re
import threading
import uuid
from collections import OrderedDict

from pyiceberg.io import FileIO, load_file_io
from pyiceberg.table.metadata import TableMetadata, TableMetadataUtil

from catalog.errors import BadRequest
from catalog.settings import Settings
from catalog.state import Namespace

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_VERSION = re.compile(r"/(\d+)-[^/]*\.metadata\.json$")
_GZIP_MAGIC = b"\x1f\x8b"


def _slug(name: str) -> str:
    # Locations only need to be readable, not reversible (the table's UUID makes them unique), so
    # any character an engine's URI handling might trip over becomes "_".
    return _UNSAFE.sub("_", name).lstrip(".") or "_"


class MetadataFiles:
    """Reads and writes metadata files under the warehouse root, with an LRU cache by location."""

    def __init__(self, settings: Settings, cache_bytes: int = 64 << 20) -> None:
        self.root = settings.root
        self._io: FileIO = load_file_io(settings.file_io_properties(), self.root)
        self._cache: OrderedDict[str, tuple[bytes, TableMetadata | None]] = OrderedDict()
        self._cache_size = 0
        self._cache_limit = cache_bytes
        self._lock = threading.Lock()

    # --- locations -----------------------------------------------------------------------

    def new_table_location(self, repo: str, namespace: Namespace, name: str) -> str:
        """A location no other table (not even a dropped one of the same name) ever had."""
        path = "/".join(_slug(level) for level in namespace)
        return f"{self.root}/{repo}/{path}/{_slug(name)}-{uuid.uuid4().hex}"

    @staticmethod
    def new_metadata_location(table_location: str, previous: str | None) -> str:
        match = _VERSION.search(previous) if previous else None
        version = int(match.group(1)) + 1 if match else 0
        return f"{table_location.rstrip('/')}/metadata/{version:05d}-{uuid.uuid4()}.metadata.json"

    def check_location(self, location: str, what: str) -> None:
        """Refuse locations outside the warehouse root: the catalog only hands out, reads and
        garbage-collects files under it (and must not read arbitrary server files for a client)."""
        inside = location == self.root or location.startswith(self.root + "/")
        if not inside or "/../" in location + "/" or "/./" in location + "/":
            raise BadRequest(f"{what} {location!r} is outside the warehouse root {self.root!r}")

    # --- files ---------------------------------------------------------------------------

    def read_raw(self, location: str) -> bytes:
        """The metadata JSON at ``location`` (decompressed), from cache when possible."""
        with self._lock:
            cached = self._cache.get(location)
            if cached is not None:
                self._cache.move_to_end(location)
                return cached[0]
        try:
            with self._io.new_input(location).open(seekable=False) as stream:
                raw = stream.read()
        except FileNotFoundError as exc:
            raise BadRequest(f"metadata file {location!r} does not exist") from exc
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
        self._remember(location, raw, None)
        return raw

    def read(self, location: str) -> TableMetadata:
        with self._lock:
            cached = self._cache.get(location)
            if cached is not None and cached[1] is not None:
                self._cache.move_to_end(location)
                return cached[1]
        raw = self.read_raw(location)
        try:
            metadata = TableMetadataUtil.parse_raw(raw.decode())
        except Exception as exc:
            raise BadRequest(f"{location!r} is not valid Iceberg table metadata: {exc}") from exc
        self._remember(location, raw, metadata)
        return metadata

    def write(self, metadata: TableMetadata, location: str) -> bytes:
        """Write a new metadata file (never over an existing one); its bytes, now also cached."""
        raw = metadata.model_dump_json(exclude_none=True).encode()
        with self._io.new_output(location).create(overwrite=False) as stream:
            stream.write(raw)
        self._remember(location, raw, metadata)
        return raw

    def _remember(self, location: str, raw: bytes, metadata: TableMetadata | None) -> None:
        with self._lock:
            previous = self._cache.pop(location, None)
            if previous is not None:
                self._cache_size -= len(previous[0])
                metadata = metadata or previous[1]
            self._cache[location] = (raw, metadata)
            self._cache_size += len(raw)
            while self._cache_size > self._cache_limit and len(self._cache) > 1:
                _, (old, _) = self._cache.popitem(last=False)
                self._cache_size -= len(old)
