"""``vxp checkout REF``: a working copy of a ref's files, pinned to a commit recorded beside them.

The folder holds the objects of the commit ``REF`` named (a branch, tag/snapshot, commit ID or
ref expression), at their paths in the ref (``--path PREFIX`` keeps only those under a
prefix), and ``.vxp-checkout.json``: the repository, the ref asked for, the commit checked out,
and per file its lakeFS checksum, its sha256, size and modification time.

Running it again after the ref moved is incremental, like ``git checkout``:

- the new commit is listed once (lakeFS's object listing, 1,000 per page) and compared with the
  recorded files **by checksum** (lakeFS's content checksum of each object): only objects that
  are new or whose checksum changed are downloaded; files whose object was deleted are removed;
- a **local edit** is a file whose size or mtime differ from the record *and* whose sha256
  differs (git's stat-then-hash rule: unchanged files are never re-read). Local edits are never
  overwritten or removed — the run stops before changing anything and names every such file —
  unless ``force``; an edited file whose object did not change is left as it is. A new object
  whose path holds an untracked local file is refused the same way. A tracked file deleted
  locally is downloaded again.
- the record is updated file by file (saved every few seconds and at the end), so a run that
  was interrupted resumes where it stopped; the recorded commit changes only when every file
  is in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any

from vxp.core.errors import Conflict, InvalidInput
from vxp.datasets.cache import remove_partial
from vxp.domain.refs import resolve
from vxp.ingestion.report import Progress, SilentProgress
from vxp.lakefs import Entry, Session

__all__ = ["STATE_FILE", "CheckoutReport", "checkout", "read_state"]

#: the record of a checkout, at the top of its folder
STATE_FILE = ".vxp-checkout.json"
#: how often (seconds) the record is saved while files are transferred
SAVE_EVERY = 5.0
_FORMAT = 1


@dataclass
class _Tracked:
    checksum: str  # lakeFS's checksum of the object
    sha256: str
    size: int
    mtime_ns: int

    def to_json(self) -> dict[str, Any]:
        return {
            "checksum": self.checksum,
            "sha256": self.sha256,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
        }


@dataclass
class _State:
    repository: str
    ref: str
    commit: str | None
    prefix: str
    files: dict[str, _Tracked] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "repository": self.repository,
            "ref": self.ref,
            "commit": self.commit,
            "prefix": self.prefix,
            "files": {path: self.files[path].to_json() for path in sorted(self.files)},
        }


def read_state(directory: Path) -> dict[str, Any] | None:
    """The record of the checkout in ``directory`` as JSON, or None when there is none.

    Raises:
        InvalidInput: the record exists but is damaged.
    """
    state = _load(Path(directory))
    return None if state is None else state.to_json()


def _load(directory: Path) -> _State | None:
    path = directory / STATE_FILE
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return _State(
            repository=str(body["repository"]),
            ref=str(body["ref"]),
            commit=body["commit"],
            prefix=str(body.get("prefix") or ""),
            files={
                str(p): _Tracked(
                    str(f["checksum"]), str(f["sha256"]), int(f["size"]), int(f["mtime_ns"])
                )
                for p, f in body["files"].items()
            },
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(
            f"{path} is damaged ({type(exc).__name__}: {exc})",
            hint="delete it and check out into a new folder",
        ) from exc


def _save(directory: Path, state: _State) -> None:
    path = directory / STATE_FILE
    tmp = directory / f".{STATE_FILE}.{uuid.uuid4().hex}.part"
    tmp.write_text(json.dumps(state.to_json(), indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


@dataclass
class CheckoutReport:
    """What a checkout did.

    Attributes:
        directory: the working copy; repository, ref, commit: what it now holds.
        previous: the commit it held before (None for a new checkout).
        added, updated, removed, restored: paths downloaded as new, downloaded because their
            object changed, removed because their object was deleted, downloaded again after
            a local deletion.
        kept: local edits left alone (their object did not change).
        overwritten: local edits replaced or removed (only with ``force``).
        unchanged: files left as they were.
        skipped: object paths that cannot be files here, with the reason.
        bytes: bytes downloaded; seconds: wall time.
    """

    directory: Path
    repository: str
    ref: str
    commit: str
    previous: str | None
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` summary (path lists in full)."""
        return {
            "directory": str(self.directory),
            "repository": self.repository,
            "ref": self.ref,
            "commit": self.commit,
            "previous_commit": self.previous,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "restored": self.restored,
            "kept_local_edits": self.kept,
            "overwritten_local_edits": self.overwritten,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "bytes_downloaded": self.bytes,
            "seconds": round(self.seconds, 3),
        }


def _unsafe(path: str) -> str | None:
    """Why an object path cannot be a file under the folder, or None."""
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return "has an empty, '.' or '..' segment"
    if parts[0] == STATE_FILE or parts[-1].startswith(f".{STATE_FILE}"):
        return f"is vxp's own {STATE_FILE}"
    if any("\x00" in p or "\\" in p for p in parts):
        return "has a NUL or backslash"
    return None


def _local_status(directory: Path, path: str, tracked: _Tracked) -> str:
    """``clean``, ``edited`` or ``missing`` for a tracked file (stat first, hash on doubt)."""
    target = f"{directory}/{path}"
    try:
        stat = os.stat(target)  # noqa: PTH116 - a plain path string, hot loop
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    if not S_ISREG(stat.st_mode):
        return "edited"
    if stat.st_size == tracked.size and stat.st_mtime_ns == tracked.mtime_ns:
        return "clean"
    if stat.st_size != tracked.size:
        return "edited"
    if _digest(target, "sha256") == tracked.sha256:
        tracked.mtime_ns = stat.st_mtime_ns  # touched, not edited: remember the new mtime
        return "clean"
    return "edited"


def _digest(path: str, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:  # noqa: PTH123 - a plain path string, hot loop
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _holds(directory: Path, path: str, entry: Entry) -> _Tracked | None:
    """The record of a local file that already holds the object's bytes, else None.

    lakeFS's checksum of an object written in one part is the MD5 of its bytes (the S3 ETag
    rule), so a file an interrupted run downloaded but did not record yet is recognised and
    not called a local edit. A multipart ETag (``…-N``) never matches: such a file stays a
    local edit.
    """
    target = f"{directory}/{path}"
    try:
        stat = os.stat(target)  # noqa: PTH116 - a plain path string, hot loop
    except OSError:
        return None
    if not S_ISREG(stat.st_mode) or stat.st_size != entry.size_bytes:
        return None
    if _digest(target, "md5") != entry.checksum:
        return None
    return _Tracked(entry.checksum, _digest(target, "sha256"), stat.st_size, stat.st_mtime_ns)


def _download(session: Session, repository: str, commit: str, path: str, target: Path) -> _Tracked:
    """Stream an object to ``target`` atomically; its record (checksum filled by the caller)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    digest = hashlib.sha256()

    class _Sink:
        def __init__(self, stream: Any) -> None:
            self.stream = stream

        def write(self, data: bytes) -> int:
            digest.update(data)
            written: int = self.stream.write(data)
            return written

    try:
        with tmp.open("wb") as stream:
            size = session.download(repository, commit, path, _Sink(stream))  # type: ignore[arg-type]
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return _Tracked("", digest.hexdigest(), size, target.stat().st_mtime_ns)


def checkout(
    session: Session,
    repository: str | None,
    ref: str,
    directory: Path,
    *,
    prefix: str = "",
    force: bool = False,
    jobs: int = 8,
    progress: Progress | None = None,
    now: Callable[[], float] = time.monotonic,
) -> CheckoutReport:
    """Make ``directory`` a working copy of ``ref``'s files (module docstring).

    Args:
        session: lakeFS, with the caller's keys.
        repository: the repository; None: the one ``directory`` was checked out from.
        ref: a branch, tag (snapshot), commit ID or ref expression.
        directory: the working copy (created).
        prefix: only objects whose path starts with it (``raw/basel/``); they keep their
            full paths.
        force: overwrite or remove local edits (and untracked files in the way) instead of
            refusing.
        jobs: parallel downloads.
        progress: where phases are reported.

    Returns:
        The :class:`CheckoutReport`.

    Raises:
        InvalidInput: no repository known, ``directory`` is a checkout of another repository
            (without ``force``), or its record is damaged.
        Conflict: local edits or untracked files would be overwritten or removed; every such
            path is named and nothing was changed.
        NotFound: no such repository or ref.
        Unavailable: lakeFS cannot be reached.
    """
    began = now()
    progress = progress or SilentProgress()
    directory = Path(directory).absolute()
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory} is a file; --to names a folder")
    state = _load(directory)
    if repository is None:
        if state is None:
            raise InvalidInput(
                "no repository given", hint="pass --repo NAME or export VXP_REPO=NAME"
            )
        repository = state.repository
    if state is not None and state.repository != repository and not force:
        raise InvalidInput(
            f"{directory} is a checkout of {state.repository!r}, not {repository!r}",
            hint="check out into another folder (or --force to replace it)",
        )
    commit = resolve(session, repository, ref)
    if state is not None and state.commit is None:
        # an interrupted run: its temporary files are no one's
        remove_partial(directory)
    previous = state.commit if state is not None and state.repository == repository else None
    tracked = dict(state.files) if state is not None else {}

    remote: dict[str, Entry] = {}
    report = CheckoutReport(directory, repository, ref, commit, previous)
    for entry in session.list_objects(repository, commit, prefix, delimiter=""):
        why = _unsafe(entry.path)
        if why is not None:
            report.skipped.append(f"{entry.path}: {why}")
            continue
        remote[entry.path] = entry
    folders = {"/".join(p.split("/")[:i]) for p in remote for i in range(1, p.count("/") + 1)}
    for path in sorted(folders & remote.keys()):
        report.skipped.append(f"{path}: is also a folder of other objects here")
        del remote[path]

    downloads: list[tuple[str, str]] = []  # (path, why)
    removals: list[str] = []
    conflicts: list[str] = []
    for path, entry in sorted(remote.items()):
        known = tracked.get(path)
        if known is None:
            target = directory / path
            if target.exists() or target.is_symlink():
                adopted = _holds(directory, path, entry)
                if adopted is not None:
                    tracked[path] = adopted
                    report.unchanged += 1
                    continue
                if not force:
                    conflicts.append(f"{path}: an untracked local file would be overwritten")
                    continue
                report.overwritten.append(path)
            downloads.append((path, "added"))
            continue
        status = _local_status(directory, path, known)
        if known.checksum == entry.checksum:
            if status == "clean":
                report.unchanged += 1
            elif status == "missing":
                downloads.append((path, "restored"))
            else:
                report.kept.append(path)
            continue
        if status == "edited":
            adopted = _holds(directory, path, entry)
            if adopted is not None:
                tracked[path] = adopted
                report.unchanged += 1
                continue
            if not force:
                conflicts.append(f"{path}: edited locally, and changed in {ref} ({commit[:12]})")
                continue
            report.overwritten.append(path)
        downloads.append((path, "updated"))
    for path in sorted(tracked.keys() - remote.keys()):
        status = _local_status(directory, path, tracked[path])
        if status == "missing":
            del tracked[path]
            continue
        if status == "edited":
            if not force:
                conflicts.append(f"{path}: edited locally, and deleted in {ref} ({commit[:12]})")
                continue
            report.overwritten.append(path)
        removals.append(path)
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} local change(s) in {directory} would be lost; nothing was "
            "changed:\n"
            + "\n".join(conflicts[:100])
            + (f"\n… and {len(conflicts) - 100} more" if len(conflicts) > 100 else ""),
            hint="save them elsewhere, or pass --force to overwrite them",
        )

    directory.mkdir(parents=True, exist_ok=True)
    # until every file is in place the record names no commit; each file's own entry is
    # current as soon as it lands (saved every SAVE_EVERY seconds and when the run stops)
    new_state = _State(repository, ref, None, prefix, tracked)
    lock = threading.Lock()
    last_save = [now()]

    def one(path: str) -> int:
        record = _download(session, repository, commit, path, directory / path)
        record.checksum = remote[path].checksum
        with lock:
            tracked[path] = record
            if now() - last_save[0] > SAVE_EVERY:
                _save(directory, new_state)
                last_save[0] = now()
        return record.size

    try:
        if downloads:
            total = sum(remote[p].size_bytes for p, _ in downloads)
            progress.phase("download", total, unit="bytes", items=len(downloads))
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="vxp-checkout") as pool:
                futures: dict[Future[int], tuple[str, str]] = {
                    pool.submit(one, path): (path, why) for path, why in downloads
                }
                try:
                    for future in as_completed(futures):
                        path, why = futures[future]
                        report.bytes += future.result()
                        progress.advance(remote[path].size_bytes)
                        getattr(report, why).append(path)
                except BaseException:
                    for other in futures:
                        other.cancel()
                    raise
        for path in removals:
            with contextlib.suppress(FileNotFoundError):
                (directory / path).unlink()
            del tracked[path]
            report.removed.append(path)
            _prune(directory, path)
        new_state.commit = commit
    finally:
        _save(directory, new_state)
    for name in ("added", "updated", "restored"):
        getattr(report, name).sort()
    report.seconds = now() - began
    return report


def _prune(directory: Path, path: str) -> None:
    """Remove the folders a removed file leaves empty, up to ``directory``."""
    folder = (directory / path).parent
    while folder != directory and folder.is_relative_to(directory):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def summary(report: CheckoutReport) -> Mapping[str, int]:
    """Counts of the report's path lists (for one line of output)."""
    return {
        "added": len(report.added),
        "updated": len(report.updated),
        "removed": len(report.removed),
        "restored": len(report.restored),
        "kept": len(report.kept),
        "unchanged": report.unchanged,
    }
