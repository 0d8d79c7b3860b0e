"""``vxp materialize``: lockfiles → folders, through materializer plugins.

One run:

1. reads and checks every lockfile (:func:`.lockfile.read_lockfiles`: all problems at once);
2. finds the materializers by name in the entry-point group ``vxp.materializers`` (the
   built-in ``files``, ``clinical-to-csv`` and ``bids`` are there too);
3. checks the output folder: empty, or an earlier materialization of the same lockfiles (which
   is then resumed: what is there and correct is kept, the rest is done);
4. runs each materializer on ``<output>/<name>/`` with a :class:`.base.MaterializeContext`,
   whose downloads read only the lockfile's pinned commits, verify every sha256 and go through
   the content-addressed cache (:mod:`vxp.datasets.cache`);
5. writes ``<output>/.vxp/materialize.json`` (what was materialized, from which commits, with
   what result) and the OpenLineage events ``<output>/.vxp/lineage/<run>.jsonl``.

Everything outside ``<output>/.vxp/`` depends only on the lockfiles (and the versions of the
materializers and of dcm2niix): materializing the same lockfiles again, today or after the
branch moved on and ``vxp gc`` ran, gives byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from vxp import __version__
from vxp.core.errors import InvalidInput, VxpError
from vxp.core.settings import Settings
from vxp.domain.refs import resolve
from vxp.ingestion.report import Progress, SilentProgress
from vxp.lakefs import LakeFSNotFound, Session, open_session
from vxp_client import PlatformClient

from ..cache import ChecksumMismatch, ObjectCache, remove_partial
from .base import MaterializeContext, Materializer, MaterializerResult
from .lineage import MaterializeLineage
from .lockfile import LockedFile, Lockfile, read_lockfiles, unique_resources

__all__ = [
    "ENTRY_POINT_GROUP",
    "MaterializeReport",
    "available_materializers",
    "materialize",
]

#: the entry-point group materializer plugins register in (pyproject.toml)
ENTRY_POINT_GROUP = "vxp.materializers"
#: the run record inside the output folder
STATE = Path(".vxp") / "materialize.json"
#: lakeFS's connection pool holds 64 connections; more workers would only wait for one
MAX_JOBS = 64


def _builtin() -> dict[str, type[Any]]:
    from .bids import BidsMaterializer
    from .clinical import ClinicalCsvMaterializer
    from .files import FilesMaterializer

    return {m.name: m for m in (FilesMaterializer, ClinicalCsvMaterializer, BidsMaterializer)}


def available_materializers() -> dict[str, type[Any]]:
    """Every materializer by name: the built-ins and the ``vxp.materializers`` entry points.

    Raises:
        InvalidInput: an entry point cannot be loaded or is not a materializer class (a name,
            a description and a ``materialize`` method); the message names it.
    """
    found = _builtin()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:
            raise InvalidInput(
                f"materializer plugin {entry.name!r} ({entry.value}) cannot be loaded: {exc}",
                hint="fix or uninstall the package that registers it",
            ) from exc
        if not (
            isinstance(loaded, type)
            and isinstance(getattr(loaded, "name", None), str)
            and callable(getattr(loaded, "materialize", None))
        ):
            raise InvalidInput(
                f"materializer plugin {entry.name!r} ({entry.value}) is not a class with a "
                "name and a materialize(resources, context) method",
                hint="docs/how-to/write-a-materializer.md",
            )
        declared = getattr(loaded, "name", None)
        if declared != entry.name:
            raise InvalidInput(
                f"materializer plugin {entry.name!r} ({entry.value}) calls itself "
                f"{declared!r}; the entry point's name and the class's name must agree"
            )
        found[entry.name] = loaded
    return dict(sorted(found.items()))


@dataclass
class MaterializeReport:
    """What a materialization did.

    Attributes:
        output: the output folder.
        locks: the lockfiles read.
        commits: every (repository, commit) the lockfiles pin.
        resources: how many distinct resources were materialized.
        results: per materializer, what it did.
        downloaded: objects fetched from lakeFS (``files``, ``bytes``); ``cached``: objects
            found in the local cache.
        resumed: the output held an earlier, unfinished run of the same lockfiles.
        seconds: wall time.
        lineage: the OpenLineage events file.
    """

    output: Path
    locks: list[Lockfile]
    commits: list[tuple[str, str]]
    resources: int
    results: dict[str, MaterializerResult] = field(default_factory=dict)
    downloaded: dict[str, int] = field(default_factory=lambda: {"files": 0, "bytes": 0})
    cached: int = 0
    resumed: bool = False
    seconds: float = 0.0
    lineage: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` summary."""
        return {
            "output": str(self.output),
            "lockfiles": [lock.to_json() for lock in self.locks],
            "commits": [{"repository": r, "commit": c} for r, c in self.commits],
            "resources": self.resources,
            "materializers": {name: r.to_json() for name, r in self.results.items()},
            "downloaded": self.downloaded,
            "cached": self.cached,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "lineage": str(self.lineage) if self.lineage else None,
        }


class _Fetcher:
    """Parallel, verified downloads of locked files into the cache; thread-safe counters."""

    def __init__(self, session: Session, cache: ObjectCache, jobs: int, link: bool) -> None:
        self.session = session
        self.cache = cache
        self.jobs = jobs
        self.link = link
        self.downloaded_files = 0
        self.downloaded_bytes = 0
        self.downloaded: set[str] = set()
        self.cache_hits: set[str] = set()
        self._lock = threading.Lock()

    def fetch(self, files: Sequence[tuple[str, str, LockedFile]], progress: Progress) -> None:
        """Download every (repository, commit, file) not cached yet, ``jobs`` at a time."""
        wanted: dict[str, tuple[str, str, LockedFile]] = {}
        for repository, commit, file in files:
            if file.sha256 in wanted:
                continue
            if self.cache.has(file.sha256, file.size):
                self.cache_hits.add(file.sha256)
                continue
            wanted[file.sha256] = (repository, commit, file)
        if not wanted:
            return
        total = sum(entry[2].size for entry in wanted.values())
        progress.phase("download", total, unit="bytes", items=len(wanted))
        problems: list[str] = []
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="vxp-fetch") as pool:
            futures: dict[Future[None], tuple[str, str, LockedFile]] = {
                pool.submit(self._one, *entry): entry for entry in wanted.values()
            }
            try:
                for future in as_completed(futures):
                    repository, commit, file = futures[future]
                    error = future.exception()
                    if error is None:
                        progress.advance(file.size)
                    elif isinstance(error, ChecksumMismatch):
                        problems.append(error.message)
                    elif isinstance(error, LakeFSNotFound):
                        problems.append(
                            f"{repository}@{commit[:12]}:{file.path}: no such object at the "
                            "pinned commit"
                        )
                    else:
                        # lakeFS unreachable, disk full: nothing else will work either
                        raise error
            except BaseException:
                for other in futures:
                    other.cancel()
                raise
        if problems:
            raise VxpError(
                f"{len(problems)} file(s) could not be materialized byte for byte:\n"
                + "\n".join(sorted(problems)[:50]),
                hint="the lockfile pins commits and checksums; lakeFS must still hold those "
                "commits (a retained ref: tag the commit with `vxp snapshot create`)",
            )

    def _one(self, repository: str, commit: str, file: LockedFile) -> None:
        def write(target: Any) -> None:
            self.session.download(repository, commit, file.path, target)

        self.cache.fill(
            file.sha256, file.size, write, what=f"{repository}@{commit[:12]}:{file.path}"
        )
        with self._lock:
            self.downloaded_files += 1
            self.downloaded_bytes += file.size
            self.downloaded.add(file.sha256)


class _Clients:
    """One pinned :class:`PlatformClient` per (repository, commit), closed together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._open: dict[tuple[str, str], PlatformClient] = {}
        self._lock = threading.Lock()

    def get(self, repository: str, commit: str) -> PlatformClient:
        with self._lock:
            client = self._open.get((repository, commit))
            if client is None:
                client = PlatformClient(repository, commit, settings=self.settings)
                self._open[(repository, commit)] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._open.values():
                client.close()
            self._open.clear()


def _check_output(
    output: Path, locks: Sequence[Lockfile], options: Mapping[str, Mapping[str, str]]
) -> bool:
    """True when ``output`` holds an earlier run of the same lockfiles (a resume).

    Raises:
        InvalidInput: ``output`` is a file, or a non-empty folder that is not a materialization
            of these lockfiles, or was made with other options for a materializer asked for
            again (its files would mix two configurations).
    """
    if output.exists() and not output.is_dir():
        raise InvalidInput(f"{output} is a file; -o names a folder")
    state = output / STATE
    if state.is_file():
        try:
            earlier = json.loads(state.read_text())
            digests = sorted(item["sha256"] for item in earlier["lockfiles"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{state} is damaged ({exc})", hint="use a new -o folder") from exc
        if digests != sorted(lock.sha256 for lock in locks):
            raise InvalidInput(
                f"{output} holds a materialization of other lockfiles",
                hint="use a new -o folder (or delete this one)",
            )
        before = earlier.get("options") or {}
        changed = sorted(
            name
            for name in set(before) | set(options)
            if name in earlier.get("materializers", ())
            and name in options
            and dict(before.get(name, {})) != dict(options[name])
        )
        if changed:
            raise InvalidInput(
                f"{output} was materialized with other options for: " + ", ".join(changed),
                hint="use the options of the first run, or a new -o folder",
            )
        return True
    if output.is_dir() and any(output.iterdir()):
        raise InvalidInput(
            f"{output} is not empty and holds no vxp materialization",
            hint="use a new or empty -o folder",
        )
    return False


def _write_state(output: Path, body: Mapping[str, Any]) -> None:
    path = output / STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def materialize(
    lockfiles: Sequence[Path],
    materializers: Sequence[str],
    output: Path,
    *,
    settings: Settings | None = None,
    jobs: int = 8,
    cache: ObjectCache | None = None,
    options: Mapping[str, Mapping[str, str]] | None = None,
    link: bool = True,
    progress: Progress | None = None,
) -> MaterializeReport:
    """Materialize the resources of ``lockfiles`` with each of ``materializers`` into
    ``output/<materializer>/``.

    Args:
        lockfiles: ``resources.<split>.jsonl`` files (DESIGN.md, "Lockfiles"); the resources of
            all of them are materialized together (an id in two files must pin one version).
        materializers: names (``files``, ``clinical-to-csv``, ``bids`` or a plugin's), in order.
        output: the folder to write (created; must be empty or hold an unfinished run of the
            same lockfiles, which is resumed).
        settings: where the platform is (default :meth:`Settings.load`).
        jobs: parallel downloads (1..64) and conversions.
        cache: the object cache (default ``$VXP_CACHE/objects``).
        options: per materializer name, its options (e.g. ``{"bids": {"map": "map.yaml"}}``).
        link: hardlink outputs to the cache where possible (False: always copy).
        progress: where phases are reported (default: nowhere).

    Returns:
        The :class:`MaterializeReport` (also written to ``output/.vxp/materialize.json``).

    Raises:
        InvalidInput: bad lockfiles (every problem listed), an unknown materializer, a bad
            option, or an output folder holding something else.
        NotFound: a pinned repository or commit does not exist.
        VxpError: bytes that do not match their sha256, or a materializer's own refusal.
        Unavailable: lakeFS or the catalog cannot be reached.
    """
    began = time.monotonic()
    if not materializers:
        raise InvalidInput(
            "no materializer given", hint="pass -m files, -m clinical-to-csv or -m bids"
        )
    if not 1 <= jobs <= MAX_JOBS:
        raise InvalidInput(f"--jobs must be between 1 and {MAX_JOBS}, got {jobs}")
    locks = read_lockfiles(lockfiles)
    known = available_materializers()
    unknown = [name for name in materializers if name not in known]
    if unknown:
        raise InvalidInput(
            "unknown materializer(s): " + ", ".join(unknown),
            hint="available: " + ", ".join(known) + " (`vxp materialize --list`)",
        )
    names = list(dict.fromkeys(materializers))
    extra = sorted(set(options or {}) - set(names))
    if extra:
        raise InvalidInput(
            "options for materializer(s) not asked for: " + ", ".join(extra),
            hint="an option is -O NAME.KEY=VALUE for a materializer passed with -m NAME",
        )
    resources = unique_resources(locks)
    output = Path(output).absolute()
    chosen = {name: dict((options or {}).get(name, {})) for name in names}
    resumed = _check_output(output, locks, chosen)
    settings = settings or Settings.load()
    progress = progress or SilentProgress()
    session = open_session(settings)
    commits = sorted({(r.repository, r.commit) for r in resources})
    for repository, commit in commits:
        # a commit that lost every ref retaining it is gone after lakeFS's own GC: say so first
        resolve(session, repository, commit)

    output.mkdir(parents=True, exist_ok=True)
    if resumed:
        # files an interrupted run was writing when it stopped: never part of an output
        remove_partial(output, skip=(".vxp",))
    report = MaterializeReport(
        output=output,
        locks=locks,
        commits=commits,
        resources=len(resources),
        resumed=resumed,
    )
    state: dict[str, Any] = {
        "vxp_version": __version__,
        "lockfiles": [lock.to_json() for lock in locks],
        "materializers": names,
        "options": chosen,
        "commits": [{"repository": r, "commit": c} for r, c in commits],
        "completed": False,
    }
    _write_state(output, state)
    cache = cache or ObjectCache.default()
    cache.sweep()
    fetcher = _Fetcher(session, cache, min(jobs, MAX_JOBS), link)
    clients = _Clients(settings)
    lineage = MaterializeLineage(
        resources, [output / name for name in names], "materialize." + "+".join(names)
    )
    lineage.start()
    try:
        for name in names:
            plugin: Materializer = known[name]()
            context = MaterializeContext(
                root=output,
                name=name,
                locks=locks,
                options=(options or {}).get(name, {}),
                jobs=jobs,
                progress=progress,
                fetcher=fetcher,
                clients=clients,
            )
            progress.say(f"• {name}: {plugin.description}")
            context.output.mkdir(parents=True, exist_ok=True)
            report.results[name] = plugin.materialize(resources, context)
    except BaseException as exc:
        lineage.fail(str(exc) or type(exc).__name__)
        lineage.write(output / ".vxp" / "lineage")
        raise
    finally:
        clients.close()
    lineage.complete()
    report.lineage = lineage.write(output / ".vxp" / "lineage")
    report.downloaded = {"files": fetcher.downloaded_files, "bytes": fetcher.downloaded_bytes}
    # objects found in the cache that this run did not put there itself
    report.cached = len(fetcher.cache_hits - fetcher.downloaded)
    shutil.rmtree(output / ".vxp" / "tmp", ignore_errors=True)
    report.seconds = time.monotonic() - began
    _write_state(output, {**state, "completed": True, "report": report.to_json()})
    return report
