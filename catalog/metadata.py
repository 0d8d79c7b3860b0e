"""Table and view metadata files: where they go, and reading and writing them in object storage.

Metadata files are written once under a fresh name and never overwritten, so a file read once can
be cached forever by its location; engines read the same files directly, lakeFS is not involved.

Locations: the catalog hands out locations under the warehouse root and accepts client-chosen
ones (a table's ``location``, ``write.metadata.path``, a registered metadata file) there or under
one of the operator's ``allowed_locations``. Anything else is refused, because the server reads
and writes these paths with its own credentials on the client's behalf.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import uuid
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg.io import FileIO, load_file_io

from vxp.catalog import s3
from vxp.catalog.errors import BadRequest, NotFound
from vxp.catalog.settings import Settings
from vxp.core.layout import Namespace

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_VERSION = re.compile(r"/(\d+)-[^/]*\.metadata\.json$")
_GZIP_MAGIC = b"\x1f\x8b"
# where Iceberg writes metadata files when a table or view sets it, instead of <location>/metadata
METADATA_PATH_PROPERTY = "write.metadata.path"


def _comparable(location: str) -> str:
    """``location`` in one spelling per place: ``file:/x``, ``file:///x`` and ``file://localhost/x``
    all name the local path ``/x``, and Java clients send the first form."""
    if location.startswith("file:"):
        parts = urlsplit(location)
        if parts.netloc in ("", "localhost"):
            return "file://" + parts.path
    return location


def _slug(name: str) -> str:
    # Locations only need to be readable, not reversible (the table's UUID makes them unique), so
    # any character an engine's URI handling might trip over becomes "_".
    return _UNSAFE.sub("_", name).lstrip(".") or "_"


class MetadataFiles:
    """Reads and writes metadata files, with an LRU cache of their bytes by location.

    Args:
        settings: the warehouse root, allowed locations and S3 settings of the server.
        cache_bytes: the cache's bound, in bytes of decompressed JSON (default 64 MiB).
    """

    def __init__(self, settings: Settings, cache_bytes: int = 64 << 20) -> None:
        self.root = settings.root
        self._allowed = tuple(
            _comparable(prefix).rstrip("/") for prefix in (self.root, *settings.allowed_locations)
        )
        self._io: FileIO = load_file_io(settings.file_io_properties(), self.root)
        # new files on S3 are written with one conditional PutObject (catalog.s3)
        self._s3: S3Client | None = (
            s3.client(settings.file_io_properties()) if settings.s3 is not None else None
        )
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = 0
        self._cache_limit = cache_bytes
        self._lock = threading.Lock()

    # --- locations -----------------------------------------------------------------------

    def namespace_location(self, repo: str, namespace: Namespace) -> str:
        """The directory under which the tables of ``namespace`` get their locations:
        ``<root>/<repo>/<level>/…``, each level made URI-safe.
        """
        return f"{self.root}/{repo}/" + "/".join(_slug(level) for level in namespace)

    def new_table_location(self, repo: str, namespace: Namespace, name: str) -> str:
        """A location no other table (not even a dropped one of the same name) ever had:
        ``<namespace location>/<name>-<uuid hex>``, the name cut so the folder's name stays within
        the 255 bytes file systems allow per path segment.
        """
        slug = _slug(name)[: 255 - 33]
        return f"{self.namespace_location(repo, namespace)}/{slug}-{uuid.uuid4().hex}"

    @staticmethod
    def new_metadata_location(
        table_location: str, previous: str | None, properties: dict[str, str] | None = None
    ) -> str:
        """A fresh metadata file name: the next version number, a UUID against races.

        ``<write.metadata.path or location/metadata>/<version:05d>-<uuid>.metadata.json``, the name
        Iceberg's Java writers use; the version is one more than ``previous``'s (0 for a new table).
        """
        match = _VERSION.search(previous) if previous else None
        version = int(match.group(1)) + 1 if match else 0
        directory = (properties or {}).get(METADATA_PATH_PROPERTY) or (
            f"{table_location.rstrip('/')}/metadata"
        )
        return f"{directory.rstrip('/')}/{version:05d}-{uuid.uuid4()}.metadata.json"

    def check_location(self, location: str, what: str) -> None:
        """Refuse locations outside the warehouse root and the allowed locations (see the module
        docstring): the server must not read or write arbitrary paths for a client.

        Args:
            what: what ``location`` is, for the message (``location``, ``metadata path``, …).

        Raises:
            BadRequest: ``location`` is outside them, or holds a ``.`` or ``..`` segment.
        """
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in location):
            raise BadRequest(f"{what} {location[:200]!r} contains control characters")
        path = _comparable(location)
        inside = any(path == prefix or path.startswith(prefix + "/") for prefix in self._allowed)
        if not inside or "/../" in path + "/" or "/./" in path + "/":
            others = ""
            if len(self._allowed) > 1:
                others = f" and the allowed locations {list(self._allowed[1:])}"
            raise BadRequest(
                f"{what} {location!r} is outside the warehouse root {self.root!r}{others}"
            )

    def check_metadata_locations(self, location: str, properties: dict[str, str]) -> None:
        """Check where a table or view and its metadata files (``write.metadata.path``) go.

        Raises:
            BadRequest: either is outside the warehouse root and the allowed locations.
        """
        self.check_location(location.rstrip("/"), "location")
        if properties.get(METADATA_PATH_PROPERTY):
            self.check_location(properties[METADATA_PATH_PROPERTY].rstrip("/"), "metadata path")

    # --- files ---------------------------------------------------------------------------

    def read_raw(self, location: str, *, check_exists: bool = False) -> bytes:
        """The metadata JSON at ``location`` (decompressed), from cache when possible.

        ``check_exists`` asks storage whether the file is still there even when it is cached:
        a table whose metadata file vanished must fail to load here too, not be served from
        memory while every engine fails to read it.

        A location comes from a pointer in a ref, which anyone who can write a branch can plant:
        it is checked against the warehouse root and the allowed locations on every read, and
        the bytes are returned only when they parse as Iceberg metadata (a JSON object with a
        ``format-version``), so the catalog never hands out an arbitrary file of its host.

        Raises:
            BadRequest: ``location`` is outside the warehouse and the allowed locations, or the
                file is not Iceberg metadata.
            NotFound: there is no file at ``location`` (the message is Iceberg Java's).
            OSError: storage cannot be read (any other failure of the FileIO).
        """
        self.check_location(location, "metadata location")
        with self._lock:
            cached = self._cache.get(location)
            if cached is not None:
                self._cache.move_to_end(location)
        if cached is not None and not (check_exists and not self._exists(location)):
            return cached
        try:
            with self._io.new_input(location).open(seekable=False) as stream:
                raw = stream.read()
        except FileNotFoundError as exc:
            raise NotFound(f"Failed to open input stream for file: {location}") from exc
        try:
            if raw[:2] == _GZIP_MAGIC:
                raw = gzip.decompress(raw)
            document = json.loads(raw)
        except (ValueError, EOFError, zlib.error) as exc:
            raise BadRequest(f"{location!r} is not an Iceberg metadata file") from exc
        if not isinstance(document, dict) or "format-version" not in document:
            raise BadRequest(f"{location!r} is not an Iceberg metadata file")
        self._remember(location, raw)
        return raw

    def read_json(self, location: str) -> Any:
        """The metadata JSON at ``location``, parsed.

        Raises:
            NotFound: there is no file at ``location``.
            BadRequest: the file is not JSON.
            OSError: storage cannot be read.
        """
        raw = self.read_raw(location)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise BadRequest(f"{location!r} is not a JSON metadata file: {exc}") from exc

    def _exists(self, location: str) -> bool:
        try:
            return self._io.new_input(location).exists()
        except OSError:
            return False

    def make_metadata_directory(self, location: str, properties: dict[str, str]) -> None:
        """On a file:// warehouse, create the directory a new table's metadata files go to.

        A staged create writes no file there, and DuckDB writes a staged table's first manifests
        into it without creating directories (object stores have none to create).

        Raises:
            OSError: the directory cannot be created.
        """
        directory = properties.get(METADATA_PATH_PROPERTY) or f"{location.rstrip('/')}/metadata"
        if directory.startswith("file:"):
            Path(urlsplit(directory).path).mkdir(parents=True, exist_ok=True)

    def write_json(self, document: dict[str, Any], location: str) -> bytes:
        """Write a new metadata file (never over an existing one); its bytes, now also cached.

        Raises:
            FileExistsError: a file exists at ``location`` already.
            OSError: storage cannot be written.
        """
        raw = self.encode(document)
        self.write_raw(location, raw)
        return raw

    @staticmethod
    def encode(document: dict[str, Any]) -> bytes:
        """A metadata document's bytes, as :meth:`write_json` writes them (compact JSON)."""
        return json.dumps(document, separators=(",", ":")).encode()

    def write_raw(self, location: str, raw: bytes) -> None:
        """Write :meth:`encode`'s bytes to a new metadata file (see :meth:`write_json`); they are
        cached too.

        On S3 this is one ``PutObject`` with ``If-None-Match: *``, which the store refuses (412)
        when the object exists (S3 and MinIO conditional writes); elsewhere pyiceberg's FileIO
        checks first.

        Raises:
            FileExistsError: a file exists at ``location`` already.
            OSError: storage cannot be written.
        """
        if self._s3 is not None and location.startswith("s3://"):
            bucket, key = s3.split(location)
            try:
                self._s3.put_object(Bucket=bucket, Key=key, Body=raw, IfNoneMatch="*")
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412:
                    raise FileExistsError(f"{location} exists already") from exc
                raise OSError(f"cannot write {location}: {exc}") from exc
            except BotoCoreError as exc:
                raise OSError(f"cannot write {location}: {exc}") from exc
        else:
            with self._io.new_output(location).create(overwrite=False) as stream:
                stream.write(raw)
        self._remember(location, raw)

    def _remember(self, location: str, raw: bytes) -> None:
        with self._lock:
            previous = self._cache.pop(location, None)
            if previous is not None:
                self._cache_size -= len(previous)
            self._cache[location] = raw
            self._cache_size += len(raw)
            while self._cache_size > self._cache_limit and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cache_size -= len(old)
