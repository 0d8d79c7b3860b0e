"""The content-addressed local cache of object bytes: ``$VXP_CACHE/objects/<sha256[:2]>/<sha256>``.

Materializers read lakeFS objects through it (:mod:`vxp.datasets.materialize`), so a second
materialization of the same lockfile, or of another lockfile sharing files, downloads nothing.

Rules that keep it trustworthy:

- An object enters the cache only after its bytes were hashed while they were written and the
  digest and size equal what the lockfile says: a download goes to ``objects/tmp/`` first and is
  renamed into place (``os.replace``, atomic on POSIX), so a crash leaves at most a stray
  temporary file, never a wrong object under a checksum's name.
- Cached objects are read-only (mode 0444). Outputs are hardlinks to them where the file system
  allows (same device, links supported), so they are read-only too: an edit in place of an output
  would otherwise change the cache. Editors that save by writing a new file and renaming it
  replace the link and leave the cache alone.
- Deleting ``$VXP_CACHE/objects`` at any time is safe: objects are fetched again when needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import IO

from vxp.core.errors import InvalidInput, VxpError
from vxp.core.home import Home

__all__ = ["ChecksumMismatch", "ObjectCache", "Placed", "remove_partial", "sha256_of"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: the temporary files vxp writes before renaming them into place: ``.<name>.<uuid hex>.part``
PARTIAL = re.compile(r"^\..+\.[0-9a-f]{32}\.part$")
#: bytes read at a time when hashing a local file
_CHUNK = 1 << 20


class ChecksumMismatch(VxpError):
    """Bytes read from lakeFS do not have the sha256 or size the lockfile pins."""


class Placed(StrEnum):
    """How :meth:`ObjectCache.place` put an object at its destination."""

    LINKED = "linked"  # a hardlink to the cached object
    COPIED = "copied"  # a copy (the destination's file system refused a hardlink)
    PRESENT = "present"  # the destination already held these bytes


def sha256_of(path: Path) -> str:
    """The SHA-256 (hex) of a local file, read in 1 MiB chunks.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def remove_partial(root: Path, *, skip: tuple[str, ...] = ()) -> int:
    """Delete the temporary files (``.<name>.<uuid hex>.part``) an interrupted run left under
    ``root``, except in top-level folders named in ``skip``; how many were deleted.

    Only vxp writes files of that shape (a name, a 128-bit random hex, ``.part``), so nothing
    of the user's is touched.
    """
    removed = 0
    for folder, dirs, files in os.walk(root):
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            if PARTIAL.match(name):
                with contextlib.suppress(FileNotFoundError):
                    Path(folder, name).unlink()
                    removed += 1
    return removed


class _HashingWriter:
    """A binary file that hashes and counts what is written to it, reporting each chunk."""

    def __init__(self, stream: IO[bytes], on_bytes: Callable[[int], None] | None) -> None:
        self._stream = stream
        self._on_bytes = on_bytes
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        written = self._stream.write(data)
        if self._on_bytes is not None:
            self._on_bytes(len(data))
        return written


class ObjectCache:
    """Object bytes by SHA-256 under ``root`` (``$VXP_CACHE/objects`` by default).

    Safe to share between threads and processes: every write goes to a temporary file of its
    own and is renamed into place.

    Args:
        root: the cache folder; created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # folders known to exist: a materialization of 10,000 files needs ~100 mkdir calls
        self._folders: set[Path] = set()

    def sweep(self, older_than: float = 3600.0) -> int:
        """Delete downloads an interrupted run left in ``tmp/`` that were not written to for
        ``older_than`` seconds (a live download writes continuously); how many.
        """
        folder = self.root / "tmp"
        if not folder.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(folder):
            with contextlib.suppress(FileNotFoundError):
                if PARTIAL.match(entry.name) and entry.stat().st_mtime < cutoff:
                    Path(entry.path).unlink()
                    removed += 1
        return removed

    @classmethod
    def default(cls) -> ObjectCache:
        """The cache of this machine: ``$VXP_CACHE/objects`` (default ``~/.cache/vxp/objects``)."""
        return cls(Home.from_env().cache / "objects")

    def path(self, sha256: str) -> Path:
        """Where the object with this SHA-256 lives (whether or not it is cached).

        Raises:
            InvalidInput: ``sha256`` is not 64 lowercase hex digits.
        """
        if not _HEX64.fullmatch(sha256):
            raise InvalidInput(f"{sha256!r} is not a lowercase hex SHA-256")
        return Path(f"{self.root}/{sha256[:2]}/{sha256}")

    def has(self, sha256: str, size: int) -> bool:
        """True when the object is cached with the expected size.

        The bytes were verified when they entered the cache; the size is checked again here
        (cheap) so a truncated file is never trusted.
        """
        try:
            return self.path(sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    def fill(
        self,
        sha256: str,
        size: int,
        write: Callable[[IO[bytes]], object],
        *,
        what: str,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Path:
        """Cache an object by letting ``write`` stream its bytes; its cached path.

        Args:
            sha256, size: what the bytes must be (from the lockfile).
            write: called with a binary file to write the bytes to (e.g.
                ``lambda f: session.download(repo, commit, path, f)``).
            what: how to name the object in an error (``repo@commit:path``).
            on_bytes: called with the length of every chunk written (progress).

        Raises:
            ChecksumMismatch: the bytes written have another SHA-256 or size; nothing is cached.
            OSError: the cache folder cannot be written.
            Exception: whatever ``write`` raises (nothing is cached).
        """
        target = self.path(sha256)
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f".{sha256}.{uuid.uuid4().hex}.part"
        try:
            with tmp.open("wb") as stream:
                writer = _HashingWriter(stream, on_bytes)
                write(writer)  # type: ignore[arg-type]
            got = writer.digest.hexdigest()
            if got != sha256 or writer.size != size:
                raise ChecksumMismatch(
                    f"{what}: the bytes read have sha256 {got} and {writer.size} bytes; the "
                    f"lockfile pins sha256 {sha256} and {size} bytes",
                    hint="the object store was changed behind lakeFS's back, or the lockfile "
                    "was edited; nothing was cached",
                )
            tmp.chmod(0o444)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return target

    def place(self, sha256: str, dest: Path, *, link: bool = True) -> Placed:
        """Put the cached object at ``dest``: a hardlink where possible, else a copy.

        An existing ``dest`` that is already this object (the same inode, or the same size and
        SHA-256) is left as it is, so a resumed materialization does no work twice; any other
        ``dest`` is replaced atomically.

        Args:
            link: False always copies (outputs independent of the cache, writable).

        Raises:
            FileNotFoundError: the object is not cached.
            OSError: ``dest`` cannot be written.
        """
        source = self.path(sha256)
        parent = dest.parent
        if parent not in self._folders:
            parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(parent)
        if link:
            try:
                # the common case, one system call: a new output, a hardlink
                os.link(source, dest)
                return Placed.LINKED
            except FileExistsError:
                pass
            except OSError:
                # another device (EXDEV), no hardlinks (EPERM), too many links (EMLINK)
                link = False
        source_stat = source.stat()
        try:
            existing = dest.stat()
        except FileNotFoundError:
            existing = None
        if existing is not None:
            if (existing.st_ino, existing.st_dev) == (source_stat.st_ino, source_stat.st_dev):
                return Placed.PRESENT
            if existing.st_size == source_stat.st_size and sha256_of(dest) == sha256:
                return Placed.PRESENT
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        placed = Placed.COPIED
        try:
            if link:
                try:
                    os.link(source, tmp)
                    placed = Placed.LINKED
                except OSError:
                    placed = Placed.COPIED
            if placed is Placed.COPIED:
                shutil.copyfile(source, tmp)
            tmp.replace(dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return placed
