"""Warehouse garbage collection: delete the files no retained commit can reach.

Table pointers live in lakeFS refs, the files they lead to live in the warehouse outside lakeFS,
so neither lakeFS nor Iceberg's own maintenance can tell which files are still needed: a file
a branch no longer references may be exactly what a tag or an old commit reads. This module
answers that question from lakeFS history (see docs/reference/gc.md for the user-facing rules).

*Retained commits* of a repository are every commit reachable through parent links from any of its
branch heads (hidden ones included, which covers the catalog's ``vxp-catalog-*`` temporary branches
while they exist; those no commit can finish any more are deleted first, and those made ahead
for a commit that has not arrived are not counted: :func:`vxp.catalog.leftovers.made_ahead`) or
tags, at the moment the run starts. Uncommitted pointers on branches are retained too. A commit
only a deleted branch led to is not retained.

A file is *reachable* from a retained commit when it is the metadata file a table pointer at
that commit names, or anything that metadata references: the manifest lists of all its
snapshots, their manifests, every data and delete file those manifests list (deleted entries
included), and its statistics and partition-statistics files. The metadata file a view pointer
names is reachable too; it references no other file (a view's versions are SQL text, held in
that one file). Files named only in a metadata file's ``metadata-log`` (``version-log`` for
views) or in a pointer's ``previous-metadata-location`` are not: no engine reads them to scan a
table, and every earlier version a retained commit can still be read at is named by that
commit's own pointer.

Mark covers every repository of the lakeFS installation, whatever is swept, because nothing
stops a table of one repository from referencing files under another's prefix (``register``, an
explicit table location, ``add_files``). Sweep lists ``<root>/<repo>/`` of the swept repositories
only and deletes files that are unmarked and older than the cut-off, so files of a commit still
in flight (written, pointer not yet merged) survive. Tables and views may also live under the
catalog's allowed locations (``VXP_CATALOG_ALLOWED_LOCATIONS``): their files are marked like any
other, but nothing outside ``<root>/<repo>/`` is ever listed or deleted.

The run refuses to delete anything when storage fails to answer for a retained metadata file, or
a manifest list or manifest under the root or the allowed locations cannot be read or parsed:
what it would reference is unknown. A pointer the catalog refuses to load (not a JSON object with
a text ``metadata-location``; control characters or ``.``/``..`` segments; a metadata location
outside the root and the allowed locations; a metadata file that does not exist or is not table
metadata; anyone who can write a branch can plant one) keeps nothing alive: it is ignored, its
location never read when outside, and listed in the report's ``bad_pointers``. A manifest list
or manifest that retained metadata names outside the root and the allowed locations is never
read either (only a planted metadata file names one: the catalog refuses them at commit), listed
in ``skipped_files``; the rest of that table is marked as usual. gc and the catalog must
therefore be given the same root and allowed locations: a table the catalog loads from a
location gc was not told about would keep nothing alive here.
"""

from __future__ import annotations

import contextlib
import gzip
import posixpath
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

from pyarrow import fs as pafs
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.manifest import ManifestFile, read_manifest_list
from pyiceberg.table.metadata import TableMetadata, TableMetadataUtil

from vxp.catalog import leftovers, s3
from vxp.core.layout import POINTER_SUFFIX, ROOT, TABLES, VIEWS, Pointer, parse_table_pointer
from vxp.lakefs import LakeFSError, Session

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# a writer's files must land in a retained commit within this time, or a run may delete them;
# a day covers ingestion jobs that write for hours before committing (Iceberg's own orphan-file
# removal waits 3 days)
DEFAULT_OLDER_THAN = timedelta(days=1)
# one listing per state finds table and view pointers (and the few namespace markers, skipped):
# listing is what a run spends its time on, so not one listing per kind
CATALOG_PREFIX = ROOT + "/"
TABLE_PREFIX = TABLES + "/"
VIEW_PREFIX = VIEWS + "/"
SAMPLE_SIZE = 20
# lakeFS and object stores are I/O-bound: a few requests in flight hide their latency
DEFAULT_WORKERS = 8
# S3's DeleteObjects limit
DELETE_BATCH = 1000
_GZIP_MAGIC = b"\x1f\x8b"
_S3_SCHEMES = ("s3", "s3a", "s3n")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+[smhdw])+")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")

T = TypeVar("T")
R = TypeVar("R")


class GcError(Exception):
    """The run stopped: while marking (nothing deleted), or while deleting (says how far).

    Also raised for settings gc cannot work with (a warehouse root that is not a URI).
    """


class Progress(Protocol):
    """Where a run reports what it is doing; a CLI draws a progress bar from it."""

    def phase(self, description: str, total: int | None = None) -> None:
        """A new phase starts: ``description``, and ``total`` steps when known."""
        ...

    def advance(self, amount: int = 1) -> None:
        """``amount`` more steps of the current phase are done."""
        ...


class _Quiet:
    def phase(self, description: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


@dataclass(frozen=True)
class Warehouse:
    """The warehouse root every table file lives under, and how to reach it.

    Raises:
        GcError: (on construction) the root or an allowed location is not a ``file:///`` or
            ``s3://`` URI.
    """

    # file:///… or s3://bucket[/prefix], exactly as the catalog server is configured
    root: str
    # pyiceberg FileIO properties (s3.endpoint, s3.access-key-id, …); empty for file://
    properties: dict[str, str] = field(default_factory=dict)
    # the catalog's allowed locations: retained metadata may lie there, files there are marked
    # but never listed or deleted
    allowed_locations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.root.startswith(("file:///", *(f"{s}://" for s in _S3_SCHEMES))):
            raise GcError(f"warehouse root {self.root!r} must be a file:/// or s3:// URI")
        for prefix in self.allowed_locations:
            if not prefix.startswith(("file:/", *(f"{s}://" for s in _S3_SCHEMES))):
                raise GcError(f"allowed location {prefix!r} must be a file:/// or s3:// URI prefix")

    def holds(self, location: str) -> bool:
        """True when ``location`` lies under the root or an allowed location."""
        key = file_key(location)
        return any(
            key.startswith(file_key(prefix).rstrip("/") + "/")
            for prefix in (self.root, *self.allowed_locations)
        )

    def repo_prefix(self, repo: str) -> str:
        """The key every file under ``<root>/<repo>/`` starts with."""
        return file_key(f"{self.root.rstrip('/')}/{repo}") + "/"


@dataclass(frozen=True)
class BadPointer:
    """A retained pointer the catalog refuses to load, which gc therefore ignores.

    Attributes:
        repository: the lakeFS repository holding it.
        ref: the commit ID or branch name it was read at (the first one seen: identical pointer
            objects are read once).
        path: the pointer's lakeFS path (``_vxp/catalog/tables/…`` or ``…/views/…``).
        table: the table's or view's dotted name (``ns.t``), or the path when it is not a
            pointer path the catalog writes.
        reason: why the catalog refuses it, in words.
    """

    repository: str
    ref: str
    path: str
    table: str
    reason: str

    def __str__(self) -> str:
        return f"{self.repository}@{self.ref[:12]}:{self.path} ({self.reason})"

    def to_json(self) -> dict[str, str]:
        """The fields as one JSON object (repository, ref, path, table, reason)."""
        return asdict(self)


@dataclass(frozen=True)
class SkippedFile:
    """A manifest list or manifest that retained metadata names but gc never reads: it lies
    outside the root and the allowed locations (or has control characters, ``.``/``..``).

    The catalog never writes one there and refuses one in a commit, so it comes from a planted
    metadata file; what it would reference is not kept alive (the rest of the table is).

    Attributes:
        kind: ``manifest list`` or ``manifest``.
        location: the file's location, as the referencing file spells it.
        referenced_by: the metadata file or manifest list naming it.
        reason: why it is not read, in words.
    """

    kind: str
    location: str
    referenced_by: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind} {self.location!r} named by {self.referenced_by!r} ({self.reason})"

    def to_json(self) -> dict[str, str]:
        """The fields as one JSON object (kind, location, referenced_by, reason)."""
        return asdict(self)


@dataclass
class Report:
    """What one run did (or, with ``dry_run``, would do).

    Attributes:
        cutoff: files modified at or after this time (UTC) are kept, reachable or not.
        retained_commits: commits reachable from any branch head or tag when the run started.
        deleted_files, deleted_bytes: what was (with ``dry_run``: would be) deleted; bytes.
        missing_reachable: reachable files under a swept prefix that do not exist.
        bad_pointers: retained pointers the catalog refuses to load, ignored (they keep no
            file alive: no engine reads through them), sorted.
        skipped_files: manifest lists and manifests retained metadata names outside the root
            and the allowed locations, never read (what they would reference is not kept).
        leftover_branches: temporary branches of the catalog that no commit can finish any
            more, deleted before marking (:func:`vxp.catalog.leftovers.sweep`).
        sample: up to 20 of the deleted keys.
        seconds: the run's wall-clock time.
    """

    dry_run: bool
    cutoff: datetime
    repositories_marked: list[str] = field(default_factory=list)
    repositories_swept: list[str] = field(default_factory=list)
    retained_commits: int = 0
    # distinct lakeFS states whose pointers were listed: meta-ranges plus branch staging areas
    states_listed: int = 0
    pointers_read: int = 0
    metadata_files: int = 0
    view_metadata_files: int = 0
    reachable_files: int = 0
    files_listed: int = 0
    kept_reachable: int = 0
    kept_young: int = 0
    # with dry_run: what would be deleted
    deleted_files: int = 0
    deleted_bytes: int = 0
    # reachable files under a swept prefix that do not exist: damage done before this run
    missing_reachable: list[str] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    # pointers the catalog refuses to load (not a JSON object with a text metadata-location;
    # control characters, "." or ".." segments; outside the root and allowed locations): ignored
    bad_pointers: list[BadPointer] = field(default_factory=list)
    # manifest lists and manifests outside the root and allowed locations: never read
    skipped_files: list[SkippedFile] = field(default_factory=list)
    # "<repo>/<branch>": catalog temporary branches deleted (with dry_run: to delete) as leftovers
    leftover_branches: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _refusal(location: str, warehouse: Warehouse) -> str | None:
    """Why the catalog refuses to follow ``location`` (a predicate: "is outside …"), or None.

    The same rules as ``MetadataFiles.check_location`` (catalog/metadata.py): no control
    characters, no ``.`` or ``..`` segment, and under the root or an allowed location.
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in location):
        return "has a control character"
    if "/../" in location + "/" or "/./" in location + "/":
        return "has a '.' or '..' segment"
    if not warehouse.holds(location):
        return "is outside the warehouse root and the allowed locations"
    return None


def _table_name(path: str) -> str:
    """``ns.t`` for a table or view pointer path; the path itself for any other."""
    # views share tables' layout (vxp.core.layout.view_pointer)
    rest = path.removeprefix(TABLE_PREFIX if path.startswith(TABLE_PREFIX) else VIEW_PREFIX)
    parsed = parse_table_pointer(TABLE_PREFIX + rest)
    if parsed is None:
        return path
    namespace, name = parsed
    return ".".join((*namespace, name))


def file_key(location: str) -> str:
    """One spelling per physical file, for matching references against a listing.

    Iceberg engines and pyarrow treat everything after ``scheme://`` literally (no percent
    decoding), so only the scheme aliases and local-path spellings are normalised. A spelling
    this function does not know stays as it is and simply never matches a listed file.
    """
    scheme, sep, rest = location.partition("://")
    if not sep:
        if location.startswith("file:/"):
            scheme, rest = "file", location[len("file:") :]
        elif location.startswith("/"):
            scheme, rest = "file", location
        else:
            return location
    scheme = scheme.lower()
    if scheme in _S3_SCHEMES:
        return f"s3://{rest}"
    if scheme == "file":
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        # normpath keeps a leading "//"; local paths have exactly one
        return "file://" + posixpath.normpath("/" + rest.lstrip("/"))
    return f"{scheme}://{rest}"


def parse_duration(text: str) -> timedelta:
    """``0s``, ``90m``, ``36h``, ``7d``, ``1h30m``: integer amounts with units s, m, h, d, w.

    Raises:
        ValueError: ``text`` is not such a duration.
    """
    compact = text.strip().lower()
    if not _DURATION.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration like 0s, 90m, 36h, 7d or 1h30m")
    return timedelta(
        seconds=sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(compact))
    )


def collect(
    session: Session,
    warehouse: Warehouse,
    *,
    repos: list[str] | None = None,
    older_than: timedelta = DEFAULT_OLDER_THAN,
    dry_run: bool = False,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
    lease_seconds: float | None = None,
) -> Report:
    """Mark from every repository's retained commits, then sweep ``repos`` (default: all).

    See the module docstring for what is retained and reachable. Files younger than
    ``older_than`` are kept, so a commit in flight keeps its files.

    Args:
        repos: the repositories whose ``<root>/<repo>/`` is swept, and whose leftover temporary
            branches are deleted first; every repository is marked.
        older_than: the minimum age of a file to delete (default one day).
        dry_run: count what would be deleted, delete nothing.
        workers: threads for lakeFS and storage reads and deletes.
        lease_seconds: the catalog's temporary-branch lease
            (``VXP_CATALOG_TEMP_BRANCH_LEASE_SECONDS``; None: its default, 15 minutes): an older
            one is a leftover.

    Raises:
        GcError: an unknown repository in ``repos``; a retained pointer, metadata file,
            manifest list or manifest that cannot be read (nothing deleted); or a failed
            delete (the message says how many were deleted). A bad pointer is not an error: it
            is listed in the report's ``bad_pointers``.
        LakeFSError: lakeFS refused a listing or cannot be reached (nothing deleted).
        botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError: S3 refused or
            could not be reached while listing or deleting (the count deleted is not reported).
    """
    started = time.monotonic()
    # the cut-off is taken before marking: a file written after this moment may belong to a
    # commit the mark did not see yet
    report = Report(dry_run=dry_run, cutoff=datetime.now(UTC) - older_than)
    # a list: the listing is a generator and is read three times below
    everything = list(session.list_repositories())
    swept = everything if repos is None else repos
    unknown = sorted(set(swept) - set(everything))
    if unknown:
        known = ", ".join(sorted(everything)[:20]) or "none"
        more = " …" if len(everything) > 20 else ""
        raise GcError(
            f"no lakeFS repository named {', '.join(map(repr, unknown))} (there are: {known}{more})"
        )
    report.repositories_marked = sorted(everything)
    report.repositories_swept = sorted(swept)
    # temporary branches a killed catalog left would keep their files forever: delete them
    # first (never one a live commit may still use: see vxp.catalog.leftovers)
    lease = lease_seconds or leftovers.DEFAULT_LEASE_SECONDS
    for repo in report.repositories_swept:
        names = leftovers.sweep(session, repo, lease, dry_run=dry_run)
        report.leftover_branches.extend(f"{repo}/{name}" for name in names)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vxp-gc") as pool:
        run = _Run(session, warehouse, report, progress or _Quiet(), pool)
        try:
            marked = run.mark(report.repositories_marked)
        except GcError as exc:
            raise GcError(f"{exc}; nothing was deleted") from exc
        run.sweep(report.repositories_swept, marked)
    report.seconds = time.monotonic() - started
    return report


@dataclass(frozen=True)
class _State:
    """One lakeFS state whose pointers are listed: a commit ID, or a branch with its staging."""

    repo: str
    ref: str
    is_commit: bool


class _Run:
    def __init__(
        self,
        session: Session,
        warehouse: Warehouse,
        report: Report,
        progress: Progress,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.session = session
        self.warehouse = warehouse
        self.report = report
        self.progress = progress
        self.pool = pool
        self.io = PyArrowFileIO(warehouse.properties)
        self._lock = threading.Lock()

    def _map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``items`` on the pool, in order, advancing the progress bar per result."""
        for result in self.pool.map(fn, items):
            self.progress.advance()
            yield result

    # --- mark ----------------------------------------------------------------------------

    def mark(self, repos: list[str]) -> set[str]:
        states: list[_State] = []
        self.progress.phase("walking lakeFS history")
        for repo in repos:
            states.extend(self._retained_states(repo))
        self.report.states_listed = len(states)

        self.progress.phase("listing table and view pointers", len(states))
        # identical pointer objects (same checksum) name the same metadata file: read one;
        # the kind is part of the key because it decides how that file is read
        distinct: dict[tuple[str, bool, str], tuple[_State, str]] = {}
        for state, entries in zip(states, self._map(self._list_pointers, states), strict=True):
            for path, checksum in entries:
                is_view = path.startswith(VIEW_PREFIX)
                key = (state.repo, is_view, checksum or f"{state.ref}:{path}")
                distinct.setdefault(key, (state, path))
        self.report.pointers_read = len(distinct)

        self.progress.phase("reading table and view pointers", len(distinct))
        metadata_locations: set[str] = set()
        view_locations: set[str] = set()
        # the pointers naming each table metadata file, to report them when it is no metadata
        named_by: dict[str, list[tuple[_State, str]]] = {}
        locations = self._map(self._read_pointer, distinct.values())
        for (_, is_view, _), item, location in zip(
            distinct, distinct.values(), locations, strict=True
        ):
            if location is not None:
                (view_locations if is_view else metadata_locations).add(location)
                if not is_view:
                    named_by.setdefault(location, []).append(item)
        self.report.metadata_files = len(metadata_locations)
        self.report.view_metadata_files = len(view_locations)

        # a view's metadata file references no other file: marking it is all a view needs
        marked = {file_key(location) for location in metadata_locations | view_locations}
        self.progress.phase("reading table metadata", len(metadata_locations))
        manifest_lists: set[str] = set()
        ordered = sorted(metadata_locations)
        for location, read in zip(ordered, self._map(self._read_metadata, ordered), strict=True):
            if isinstance(read, str):
                # a pointer the catalog refuses to load: it keeps nothing alive (its metadata
                # file, if any, stays marked: it lies where a bad pointer is all it costs)
                for state, path in named_by[location]:
                    bad = BadPointer(state.repo, state.ref, path, _table_name(path), read)
                    self.report.bad_pointers.append(bad)
                continue
            lists, statistics = read
            manifest_lists.update(self._readable(lists, "manifest list", location))
            marked.update(file_key(path) for path in statistics)
        self.report.bad_pointers.sort(key=lambda b: (b.repository, b.path, b.ref))
        marked.update(file_key(path) for path in manifest_lists)

        self.progress.phase("reading manifest lists", len(manifest_lists))
        manifests: dict[str, ManifestFile] = {}
        ordered = sorted(manifest_lists)
        for location, listed in zip(
            ordered, self._map(self._read_manifest_list, ordered), strict=True
        ):
            paths = {m.manifest_path for m in listed}
            readable = set(self._readable(sorted(paths), "manifest", location))
            for manifest in listed:
                if manifest.manifest_path in readable:
                    manifests.setdefault(manifest.manifest_path, manifest)
        marked.update(file_key(path) for path in manifests)
        self.report.skipped_files.sort(key=lambda f: (f.location, f.referenced_by))

        self.progress.phase("reading manifests", len(manifests))
        for files in self._map(self._read_manifest, list(manifests.values())):
            marked.update(file_key(path) for path in files)
        self.report.reachable_files = len(marked)
        return marked

    def _readable(self, locations: Iterable[str], kind: str, referenced_by: str) -> list[str]:
        """``locations`` gc may read; the others are recorded in ``skipped_files`` (never read:
        a planted metadata file may name any file of this host, or another host)."""
        readable = []
        for location in locations:
            reason = _refusal(location, self.warehouse)
            if reason is None:
                readable.append(location)
            else:
                self.report.skipped_files.append(
                    SkippedFile(kind, location, referenced_by, f"it {reason}")
                )
        return readable

    def _retained_states(self, repo: str) -> list[_State]:
        """Every retained commit of ``repo`` (one per distinct meta-range), then every branch."""
        heads = {
            name: head
            for name, head in self.session.branch_heads(repo, hidden=True).items()
            # a branch the catalog made ahead sits on a commit a branch had: it holds nothing
            if not leftovers.made_ahead(name)
        }
        tags = self.session.tag_commits(repo)
        closed: dict[str, str] = {}  # commit ID → meta-range ID; ancestors all known too
        for start in sorted({*heads.values(), *tags.values()}):
            if start not in closed:
                closed.update(self._walk(repo, start, closed))
        self.report.retained_commits += len(closed)
        by_range: dict[str, str] = {}
        for commit_id, meta_range in sorted(closed.items()):
            by_range.setdefault(meta_range or commit_id, commit_id)
        # a branch name lists its head plus uncommitted changes: pointers staged but not
        # committed yet are retained too
        return [_State(repo, c, True) for c in by_range.values()] + [
            _State(repo, b, False) for b in heads
        ]

    def _walk(self, repo: str, start: str, closed: dict[str, str]) -> dict[str, str]:
        """Commits reachable from ``start`` that ``closed`` lacks.

        lakeFS's log lists every ancestor, so it is only read until each parent of a newly seen
        commit has shown up or was already known: a second branch off a long history costs a page
        or so, not the whole history again.
        """
        found: dict[str, str] = {}
        pending = {start}
        for commit in self.session.log(repo, start):
            if commit.id in closed or commit.id in found:
                continue
            pending.discard(commit.id)
            found[commit.id] = commit.meta_range_id
            pending.update(p for p in commit.parents if p not in closed and p not in found)
            self.progress.advance()
            if not pending:
                return found
        raise GcError(
            f"the lakeFS log of {repo!r} from {start[:12]} lacks ancestor commit(s) "
            f"{', '.join(sorted(c[:12] for c in pending))}; refusing to guess what they hold"
        )

    def _list_pointers(self, state: _State) -> list[tuple[str, str]]:
        """Table and view pointers at ``state``: (path, checksum)."""
        entries = self.session.list_objects(state.repo, state.ref, CATALOG_PREFIX, delimiter="")
        try:
            return [
                (e.path, e.checksum)
                for e in entries
                if e.path.startswith((TABLE_PREFIX, VIEW_PREFIX))
                and e.path.endswith(POINTER_SUFFIX)
            ]
        except LakeFSError as exc:
            # a branch deleted since the run started (the catalog's temporary branches come and
            # go) retains nothing any more; commit IDs never disappear, so they never get here
            if exc.status == 404 and not state.is_commit:
                return []
            raise

    def _read_pointer(self, item: tuple[_State, str]) -> str | None:
        state, path = item
        raw = self.session.get_object(state.repo, state.ref, path)
        if raw is None and state.is_commit:
            raise GcError(f"{state.repo}@{state.ref[:12]}:{path} was listed but cannot be read")
        if raw is None:
            # a branch's pointer removed since the listing: nothing retains what it named
            return None
        try:
            location: str | None = Pointer.from_bytes(raw).metadata_location
        except ValueError:
            location = None
        if location is None:
            reason: str | None = "not a JSON object with a text metadata-location"
        else:
            refusal = _refusal(location, self.warehouse)
            reason = None if refusal is None else f"its metadata location {refusal}"
            if refusal is not None and "control" not in refusal:
                reason = f"its metadata location {location!r} {refusal}"
        if reason is not None:
            # the catalog refuses to load such a pointer (anyone who can write a branch can
            # plant one), so no engine reads files through it: it keeps nothing alive, it is
            # never read (gc must not fetch what an attacker names), and it must not stop gc for
            # the whole installation; gc deletes only under <root>/<repo>/ anyway
            bad = BadPointer(state.repo, state.ref, path, _table_name(path), reason)
            with self._lock:
                self.report.bad_pointers.append(bad)
            return None
        return location

    def _read(self, location: str, what: str) -> bytes:
        try:
            with self.io.new_input(location).open(seekable=False) as stream:
                return stream.read()
        except OSError as exc:
            raise GcError(f"cannot read {what} {location!r}: {exc}") from exc

    def _read_metadata(self, location: str) -> tuple[list[str], list[str]] | str:
        """The manifest lists and statistics files of the metadata file at ``location``, or why
        the catalog refuses to load a table from it (missing, or not table metadata).

        Raises:
            GcError: storage answered with another error (what the file references is unknown).
        """
        try:
            raw = self._read(location, "table metadata")
        except GcError as exc:
            if isinstance(exc.__cause__, FileNotFoundError):
                # the catalog answers 404 for such a table: no engine reads through it
                return f"its metadata file {location!r} does not exist"
            raise
        try:
            if raw[:2] == _GZIP_MAGIC:
                raw = gzip.decompress(raw)
            metadata: TableMetadata = TableMetadataUtil.parse_raw(raw.decode())
        except Exception:
            # the catalog answers 400 for such a table (MetadataFiles.read_raw)
            return f"its metadata file {location!r} is not Iceberg table metadata"
        lists = [snapshot.manifest_list for snapshot in metadata.snapshots]
        statistics = [s.statistics_path for s in metadata.statistics]
        statistics += [s.statistics_path for s in metadata.partition_statistics]
        return lists, statistics

    def _read_manifest_list(self, location: str) -> list[ManifestFile]:
        try:
            return list(read_manifest_list(self.io.new_input(location)))
        except Exception as exc:
            raise GcError(f"cannot read manifest list {location!r}: {exc}") from exc

    def _read_manifest(self, manifest: ManifestFile) -> list[str]:
        # deleted entries too: their files are still live in the snapshot before the deletion
        try:
            entries = manifest.fetch_manifest_entry(self.io, discard_deleted=False)
        except Exception as exc:
            raise GcError(f"cannot read manifest {manifest.manifest_path!r}: {exc}") from exc
        return [entry.data_file.file_path for entry in entries]

    # --- sweep ---------------------------------------------------------------------------

    def sweep(self, repos: list[str], marked: set[str]) -> None:
        store = _store(self.warehouse)
        candidates: list[_File] = []
        self.progress.phase("listing the warehouse")
        for repo in repos:
            prefix = self.warehouse.repo_prefix(repo)
            present: set[str] = set()
            for found in store.files(prefix):
                # a listing never leaves its prefix; checked anyway, deleting is irreversible
                if not found.key.startswith(prefix):
                    raise GcError(f"listing {prefix!r} returned {found.key!r}, outside of it")
                self.progress.advance()
                present.add(found.key)
                if found.key in marked:
                    self.report.kept_reachable += 1
                elif found.mtime is None or found.mtime >= self.report.cutoff:
                    self.report.kept_young += 1
                else:
                    candidates.append(found)
            self.report.files_listed += len(present)
            self.report.missing_reachable += sorted(
                k for k in marked if k.startswith(prefix) and k not in present
            )
        self.report.sample = [found.key for found in candidates[:SAMPLE_SIZE]]
        self.report.deleted_files = len(candidates)
        self.report.deleted_bytes = sum(found.size for found in candidates)
        if self.report.dry_run or not candidates:
            return

        self.progress.phase("deleting", len(candidates))
        keys = [found.key for found in candidates]
        batches = [keys[i : i + DELETE_BATCH] for i in range(0, len(keys), DELETE_BATCH)]
        done = 0
        try:
            for batch, _ in zip(batches, self.pool.map(store.delete, batches), strict=True):
                done += len(batch)
                self.progress.advance(len(batch))
        except (GcError, OSError) as exc:
            raise GcError(f"deleted {done} of {len(keys)} files, then: {exc}") from exc


@dataclass(frozen=True)
class _File:
    key: str  # as :func:`file_key` spells it
    size: int
    mtime: datetime | None


class _Store(Protocol):
    """Listing and deleting warehouse files, keyed as :func:`file_key` spells them."""

    def files(self, prefix: str) -> Iterator[_File]: ...

    def delete(self, keys: list[str]) -> None: ...


def _store(warehouse: Warehouse) -> _Store:
    if file_key(warehouse.root).startswith("s3://"):
        return _S3Store(warehouse.properties)
    return _LocalStore()


class _LocalStore:
    def __init__(self) -> None:
        self._fs = pafs.LocalFileSystem()

    def files(self, prefix: str) -> Iterator[_File]:
        base = prefix.removeprefix("file://").rstrip("/")
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        for info in self._fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                yield _File(file_key(f"file://{info.path}"), info.size or 0, info.mtime)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            # already gone (a concurrent run) is as good as deleted
            with contextlib.suppress(FileNotFoundError):
                self._fs.delete_file(key.removeprefix("file://"))


class _S3Store:
    """boto3 rather than pyarrow: pyarrow's delete writes a directory marker object into every
    parent it deletes from, and boto3 deletes a thousand keys per request."""

    def __init__(self, properties: dict[str, str]) -> None:
        self._s3: S3Client = s3.client(properties)

    def files(self, prefix: str) -> Iterator[_File]:
        bucket, key_prefix = s3.split(prefix)
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
        for page in pages:
            for item in page.get("Contents", []):
                # zero-byte "dir/" markers some tools write are not files
                if not item["Key"].endswith("/"):
                    key = f"s3://{bucket}/{item['Key']}"
                    yield _File(key, item.get("Size", 0), item.get("LastModified"))

    def delete(self, keys: list[str]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for key in keys:
            bucket, name = s3.split(key)
            by_bucket.setdefault(bucket, []).append(name)
        for bucket, names in by_bucket.items():
            answer = self._s3.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": name} for name in names], "Quiet": True},
            )
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise GcError(
                    f"S3 refused to delete {len(errors)} object(s), e.g. "
                    f"s3://{bucket}/{first.get('Key')}: {first.get('Message')}"
                )
