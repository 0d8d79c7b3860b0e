"""The materializer plugin interface: what a materializer is given and what it returns.

A materializer turns the resources of one or more lockfiles into files on disk. It is a class
with a ``name`` and a ``materialize(resources, context)`` method, registered in the entry-point
group ``vxp.materializers`` (docs/how-to/write-a-materializer.md)::

    class Thumbnails:
        name = "thumbnails"
        description = "a PNG of the middle slice of every volume"

        def materialize(
            self, resources: Sequence[LockedResource], context: MaterializeContext
        ) -> MaterializerResult:
            volumes = [r for r in resources if r.type == "Volume"]
            context.fetch(volumes)  # parallel, verified, through the local cache
            for volume in volumes:
                data = context.cached(volume.files[0]).read_bytes()
                context.write_bytes(f"{volume.subject}.png", render(data))
            return MaterializerResult(files=len(volumes))

The context reads only the pinned commits of the lockfile (every download names the line's
``repository`` and ``commit``) and verifies every byte against its sha256; a materializer never
talks to lakeFS by branch name.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from vxp.core.errors import InvalidInput

from ..cache import ObjectCache, Placed
from .lockfile import LockedFile, LockedResource, Lockfile

if TYPE_CHECKING:
    from vxp.ingestion.report import Progress
    from vxp_client import PlatformClient

__all__ = ["MaterializeContext", "Materializer", "MaterializerResult"]


@dataclass
class MaterializerResult:
    """What one materializer did.

    Attributes:
        files: files it wrote (or found written by an interrupted earlier run).
        skipped: resources it left out, each with the reason (``"<id>: <why>"``).
        details: anything else worth reporting (counts, tool versions): JSON values.
    """

    files: int = 0
    skipped: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"files", "skipped", "details"}``."""
        return {"files": self.files, "skipped": self.skipped, "details": self.details}


@runtime_checkable
class Materializer(Protocol):
    """A plugin that writes a lockfile's resources in one format.

    Attributes:
        name: the ``-m`` name (``bids``); also the output subfolder ``<output>/<name>/``.
        description: one line for ``vxp materialize --list``.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def materialize(
        self, resources: Sequence[LockedResource], context: MaterializeContext
    ) -> MaterializerResult:
        """Write ``resources`` (every locked resource, sorted by id) under ``context.output``.

        Must be idempotent: a run after an interruption calls it again on the same, partly
        written folder, and the result must be the same bytes as an uninterrupted run. The
        context's :meth:`~MaterializeContext.place` and :meth:`~MaterializeContext.write_bytes`
        are atomic and skip what is already there.

        Raises:
            VxpError: the resources cannot be written in this format (the message says which).
        """
        ...


class MaterializeContext:
    """What a materializer may use: its output folder, verified object bytes through the local
    cache, pinned clients, options and progress. Made by :func:`~vxp.datasets.materialize.
    materialize`; one per materializer.

    Attributes:
        root: the whole materialization's folder (``-o DIR``).
        output: this materializer's folder, ``root / name``.
        locks: the lockfiles being materialized.
        options: this materializer's options (``--option name.key=value``, e.g. ``bids.map``).
        jobs: parallel downloads and conversions.
        progress: where to report phases.
    """

    def __init__(
        self,
        *,
        root: Path,
        name: str,
        locks: Sequence[Lockfile],
        options: Mapping[str, str],
        jobs: int,
        progress: Progress,
        fetcher: Any,
        clients: Any,
    ) -> None:
        self.root = root
        self.output = root / name
        self.locks = tuple(locks)
        self.options = dict(options)
        self.jobs = jobs
        self.progress = progress
        self._fetcher = fetcher
        self._clients = clients

    # --- bytes ---------------------------------------------------------------------------

    @property
    def cache(self) -> ObjectCache:
        """The content-addressed cache objects are fetched into."""
        cache: ObjectCache = self._fetcher.cache
        return cache

    def fetch(self, resources: Sequence[LockedResource]) -> None:
        """Make every file of ``resources`` available in the cache: downloaded in parallel
        (``jobs`` at a time) from each resource's repository at its pinned commit, each checked
        against its sha256 and size; files cached already are not downloaded again.

        Raises:
            ChecksumMismatch: bytes that do not match the lockfile (every such file named).
            NotFound: an object missing at its commit (every such file named).
            Unavailable: lakeFS cannot be reached.
        """
        self._fetcher.fetch(
            [(r.repository, r.commit, file) for r in resources for file in r.files], self.progress
        )

    def fetch_objects(self, repository: str, commit: str, files: Sequence[LockedFile]) -> None:
        """Like :meth:`fetch`, for objects that are no locked resource's (a run's manifest
        names them with their sha256: a study's dictionary).

        Raises:
            ChecksumMismatch: bytes that do not match (every such file named).
            NotFound: an object missing at the commit.
            Unavailable: lakeFS cannot be reached.
        """
        self._fetcher.fetch([(repository, commit, file) for file in files], self.progress)

    def cached(self, file: LockedFile) -> Path:
        """The cached, verified bytes of ``file`` (read-only: never write to it).

        Raises:
            FileNotFoundError: ``file`` was not fetched first (:meth:`fetch`).
        """
        path = self.cache.path(file.sha256)
        if not self.cache.has(file.sha256, file.size):
            raise FileNotFoundError(f"{file.path} is not cached: fetch() its resource first")
        return path

    def place(self, file: LockedFile, relative: str) -> Placed:
        """Put ``file``'s bytes at ``output / relative``: a hardlink to the cache where the file
        system allows, else a copy; nothing is done when the bytes are there already.

        Raises:
            InvalidInput: ``relative`` leaves the output folder.
            FileNotFoundError: ``file`` was not fetched first.
        """
        return self.cache.place(file.sha256, self.path(relative), link=self._fetcher.link)

    def path(self, relative: str) -> Path:
        """``output / relative``, refusing paths that would leave the output folder.

        Raises:
            InvalidInput: ``relative`` is absolute or has a ``..`` or empty segment.
        """
        parts = relative.split("/")
        if relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidInput(f"output path {relative!r} would leave {self.output}")
        return self.output.joinpath(*parts)

    def write_bytes(self, relative: str, data: bytes) -> Path:
        """Write ``data`` to ``output / relative`` atomically (temporary file, then rename);
        a file holding exactly ``data`` already is left untouched.

        Raises:
            InvalidInput: ``relative`` leaves the output folder.
            OSError: the file cannot be written.
        """
        target = self.path(relative)
        with contextlib.suppress(OSError):
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            tmp.write_bytes(data)
            tmp.replace(target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return target

    def write_text(self, relative: str, text: str) -> Path:
        """:meth:`write_bytes` of ``text`` in UTF-8 with ``\\n`` line ends.

        Raises:
            InvalidInput: ``relative`` leaves the output folder.
            OSError: the file cannot be written.
        """
        return self.write_bytes(relative, text.encode("utf-8"))

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A temporary folder on the output's file system (so cached files can be hardlinked
        into it), removed afterwards."""
        base = self.root / ".vxp" / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=base) as folder:
            yield Path(folder)

    # --- tables and resources at the pinned commit ---------------------------------------

    def client(self, repository: str, commit: str) -> PlatformClient:
        """A :class:`vxp_client.PlatformClient` of ``repository`` pinned to ``commit``, shared by
        the materializers of one run and closed at its end (do not close it).

        Raises:
            NotFound: the repository or commit does not exist.
        """
        client: PlatformClient = self._clients.get(repository, commit)
        return client

    def read_object(self, repository: str, commit: str, path: str) -> bytes | None:
        """An object's bytes at a pinned commit (small objects: manifests, dictionaries), or
        None when it does not exist there."""
        data: bytes | None = self._fetcher.session.get_object(repository, commit, path)
        return data

    def list_objects(self, repository: str, commit: str, prefix: str) -> list[str]:
        """The paths directly under ``prefix`` at a pinned commit (folders end with ``/``)."""
        return [
            entry.path for entry in self._fetcher.session.list_objects(repository, commit, prefix)
        ]
