"""Ingestion runs: one delivery of one source, landed on its own branch, merged into the layers.

The run model shared by ``vxp ingest study`` and ``vxp ingest files`` (DESIGN.md, "Versioning
model"):

1. validate the delivery (nothing is written when it has an error);
2. cut ``ingest-<source>-<run>`` from ``source``; upload every file byte for byte to
   ``raw/<source>/<run>/…`` with ``_manifest.json``; commit; write the typed raw tables;
3. merge it into ``source`` (``--no-merge`` stops before);
4. cut ``integrate-<source>-<run>`` from ``integration``, merge ``source`` into it, write the
   integration tables and resources, and merge it into ``integration``.

A run's state lives in the refs themselves, so nothing is lost when a process dies:
``_vxp/ingest/<source>/landed.json`` (written by the landing step, so it reaches ``source``) and
``_vxp/ingest/<source>/integrated.json`` (written by the integration step, so it reaches
``integration``) name the last run of that source a ref holds and the sha256 of its delivery.
Two objects, not one: both layers would otherwise change the same object and every later run's
merge would conflict on it. A re-run of the same delivery finds it there and either does nothing
("unchanged") or completes the integration step that a killed run left undone.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from vxp.core.errors import Conflict, InvalidInput, NotFound
from vxp.lakefs import LakeFSConflict, LakeFSNotFound, LakeFSPreconditionFailed, Session

from .delivery import DeliveredFile, sha256_file

if TYPE_CHECKING:
    from .report import Progress

__all__ = [
    "REPLANS",
    "SOURCE_BRANCH",
    "DeliveryManifest",
    "ManifestEntry",
    "RunNames",
    "RunStart",
    "SourceState",
    "Stage",
    "Transfer",
    "cleanup_run",
    "delivery_sha256",
    "integrate_and_merge",
    "integration_step",
    "land_delivery",
    "land_files",
    "new_run_id",
    "read_state",
    "start_run",
    "unfinished_run",
    "validate_source_name",
]

#: commit-metadata keys of ingestion commits
RUN_KEY = "vxp.ingest.run"
SOURCE_KEY = "vxp.ingest.source"
STAGE_KEY = "vxp.ingest.stage"
DELIVERY_KEY = "vxp.ingest.delivery-sha256"

# lowercase so a source is a valid Iceberg namespace, lakeFS branch part and path segment alike
_SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RUN = re.compile(r"^\d{8}t\d{6}z-[0-9a-f]{6}$")


class Stage(StrEnum):
    """How far a run has come; recorded in commit metadata and in the source state."""

    LANDED = "landed"  # files and raw tables committed on the ingest branch
    INTEGRATED = "integrated"  # integration tables written and merged into `integration`


def validate_source_name(source: str) -> None:
    """Raises InvalidInput unless ``source`` is 1-40 lowercase letters, digits and ``_``,
    starting with a letter (it names an Iceberg namespace, a branch part and a path)."""
    if not _SOURCE.match(source):
        raise InvalidInput(
            f"invalid source name {source!r}",
            hint="use 1-40 lower-case letters, digits and '_', starting with a letter "
            "(it becomes the namespaces raw_<source> and <source>)",
        )


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: ``20261130t201905z-1a2b3c``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dt%H%M%Sz}-{uuid.uuid4().hex[:6]}"


def check_run_id(run: str) -> None:
    """Raises InvalidInput unless ``run`` is a run id made by :func:`new_run_id`."""
    if not _RUN.match(run):
        raise InvalidInput(
            f"{run!r} is not a run id",
            hint="`vxp ingest list` shows the runs, e.g. 20261130t201905z-1a2b3c",
        )


@dataclass(frozen=True)
class RunNames:
    """The branches and paths of one run of one source."""

    source: str
    run: str

    @property
    def ingest_branch(self) -> str:
        return f"ingest-{self.source}-{self.run}"

    @property
    def integrate_branch(self) -> str:
        return f"integrate-{self.source}-{self.run}"

    @property
    def raw_prefix(self) -> str:
        return f"raw/{self.source}/{self.run}/"

    @property
    def manifest_path(self) -> str:
        return f"{self.raw_prefix}_manifest.json"

    @property
    def lineage_path(self) -> str:
        return f"_vxp/lineage/{self.run}.jsonl"

    def raw_path(self, relative_path: str) -> str:
        return self.raw_prefix + relative_path

    @property
    def quarantine_prefix(self) -> str:
        """``quarantine/<source>/<run>/``: where ``--quarantine`` keeps the files that failed."""
        return f"quarantine/{self.source}/{self.run}/"


def state_path(source: str, stage: Stage, kind: str = "study") -> str:
    """Where a ref records the last run of ``source`` of ``kind`` that reached ``stage`` (landed
    or integrated).

    A study run and a files run may share a source (a trial's clinical data and its imaging
    under one ``trial/<source>``): each kind keeps its own state (study runs at the original
    ``_vxp/ingest/<source>/<stage>.json``, others under ``_vxp/ingest/<source>/<kind>/``), so
    alternating kinds never take each other's last run for their own.
    """
    if kind == "study":
        return f"_vxp/ingest/{source}/{stage}.json"
    return f"_vxp/ingest/{source}/{kind}/{stage}.json"


@dataclass(frozen=True)
class ManifestEntry:
    """One delivered file: its path in the delivery, sha256, size (bytes), media type."""

    path: str
    sha256: str
    size: int
    media_type: str = "application/octet-stream"
    #: the object that already holds these bytes (the same path and sha256 landed in an
    #: earlier run of the source); None: this run uploads them to raw/<source>/<run>/<path>
    stored_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
        }
        if self.stored_at is not None:
            body["stored_at"] = self.stored_at
        return body


@dataclass(frozen=True)
class DeliveryManifest:
    """``raw/<source>/<run>/_manifest.json``: the run's id, options and every file."""

    source: str
    run: str
    kind: str  # "study" or "files"
    files: tuple[ManifestEntry, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    #: files kept under quarantine/<source>/<run>/ (``--quarantine``); no resource uses them
    quarantined: tuple[ManifestEntry, ...] = ()
    #: options that change what the run produces (e.g. subject rules): part of its identity
    identity_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def delivery_sha256(self) -> str:
        return delivery_sha256(
            self.files, quarantined=self.quarantined, options=self.identity_options
        )

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {
            "source": self.source,
            "run": self.run,
            "kind": self.kind,
            "delivery_sha256": self.delivery_sha256,
            "options": {**self.options, **self.identity_options},
            "files": [entry.to_json() for entry in self.files],
        }
        if self.quarantined:
            body["quarantined"] = [entry.to_json() for entry in self.quarantined]
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def delivery_sha256(
    files: Iterable[ManifestEntry],
    *,
    quarantined: Iterable[ManifestEntry] = (),
    options: Mapping[str, Any] | None = None,
) -> str:
    """The identity of a delivery: sha256 over its files' paths and checksums, in path order.

    Two deliveries with the same files, byte for byte, under the same paths have the same
    identity, whatever their folder's name or the files' times. Quarantined files and the
    options that change what a run produces are part of it when given (without them the
    identity is the files' alone, as it always was).
    """
    import hashlib

    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda e: e.path):
        digest.update(f"{entry.path}\0{entry.sha256}\n".encode())
    for entry in sorted(quarantined, key=lambda e: e.path):
        digest.update(f"quarantine\0{entry.path}\0{entry.sha256}\n".encode())
    if options:
        digest.update(b"options\0" + json.dumps(dict(options), sort_keys=True).encode())
    return digest.hexdigest()


def checksum_files(
    files: Sequence[DeliveredFile],
    jobs: int,
    media_type: Callable[[DeliveredFile], str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ManifestEntry, ...]:
    """sha256 of every file, streamed, ``jobs`` files at a time; entries in path order."""

    def one(file: DeliveredFile) -> ManifestEntry:
        entry = ManifestEntry(
            file.relative_path,
            sha256_file(file.path),
            file.size,
            media_type(file) if media_type else "application/octet-stream",
        )
        if progress is not None:
            progress(file.size)
        return entry

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        entries = list(pool.map(one, files))
    return tuple(sorted(entries, key=lambda e: e.path))


@dataclass(frozen=True)
class SourceState:
    """``_vxp/ingest/<source>/<stage>.json`` at a ref: the last run of the source it holds."""

    source: str
    run: str
    delivery_sha256: str
    stage: Stage
    kind: str
    date: str

    def to_bytes(self) -> bytes:
        return (
            json.dumps(
                {
                    "source": self.source,
                    "run": self.run,
                    "delivery_sha256": self.delivery_sha256,
                    "stage": str(self.stage),
                    "kind": self.kind,
                    "date": self.date,
                },
                indent=2,
                sort_keys=True,
            )
            + "\n"
        ).encode()


def read_state(
    session: Session, repo: str, ref: str, source: str, stage: Stage, kind: str = "study"
) -> SourceState | None:
    """The last run of ``source`` of ``kind`` that reached ``stage`` as ``ref`` holds it, or
    None."""
    raw = session.get_object(repo, ref, state_path(source, stage, kind))
    return None if raw is None else _state(raw)


def _state(raw: bytes) -> SourceState:
    body = json.loads(raw)
    return SourceState(
        source=str(body["source"]),
        run=str(body["run"]),
        delivery_sha256=str(body["delivery_sha256"]),
        stage=Stage(body["stage"]),
        kind=str(body.get("kind", "study")),
        date=str(body.get("date", "")),
    )


@dataclass(frozen=True)
class Transfer:
    """What one landing sent: files and bytes uploaded, files found already landed (a resumed
    run) and files not sent because an earlier run holds the same bytes (``stored_at``)."""

    files: int = 0
    bytes: int = 0
    already_landed: int = 0
    stored_earlier: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "files_sent": self.files,
            "bytes_sent": self.bytes,
            "files_already_landed": self.already_landed,
            "files_stored_earlier": self.stored_earlier,
        }


def bytes_to_send(manifest: DeliveryManifest) -> int:
    """The bytes :func:`land_files` may upload for ``manifest`` (files not ``stored_at`` an
    earlier run, and quarantined files): the total of the upload progress bar."""
    return sum(e.size for e in manifest.files if e.stored_at is None) + sum(
        e.size for e in manifest.quarantined
    )


def land_files(
    session: Session,
    repo: str,
    names: RunNames,
    files: Sequence[DeliveredFile],
    manifest: DeliveryManifest,
    *,
    jobs: int = 4,
    progress: Callable[[int], None] | None = None,
) -> Transfer:
    """Upload every file of ``manifest`` byte for byte to the run's raw prefix on its ingest
    branch (quarantined ones to its quarantine prefix), after ``_manifest.json``.

    The manifest goes first, so a run killed half-way is found by its delivery's identity and
    resumed (:func:`unfinished_run`). Files already staged or committed on the branch with the
    same size (a resumed run) are not sent again, and entries ``stored_at`` an earlier run are
    copied from there inside lakeFS (metadata only).
    Uploads stream from disk, ``jobs`` at a time; nothing goes through memory whole or through a
    temporary file. ``progress`` gets each file's size once it is done (or found landed).

    Raises:
        LakeFSError: lakeFS refused an upload; what landed stays on the run's branch only.
    """
    by_path = {f.relative_path: f for f in files}
    session.upload_object(repo, names.ingest_branch, names.manifest_path, manifest.to_bytes())
    prefixes = [names.raw_prefix] + ([names.quarantine_prefix] if manifest.quarantined else [])
    landed = {
        entry.path: entry.size_bytes
        for prefix in prefixes
        for entry in session.list_objects(repo, names.ingest_branch, prefix, delimiter="")
    }
    work = [(names.raw_path(e.path), e) for e in manifest.files if e.stored_at is None]
    work += [(names.quarantine_prefix + e.path, e) for e in manifest.quarantined]

    def one(item: tuple[str, ManifestEntry]) -> int:
        target, entry = item
        if landed.get(target) == entry.size:
            if progress is not None:
                progress(entry.size)
            return -1
        with by_path[entry.path].path.open("rb") as handle:
            session.upload_object(repo, names.ingest_branch, target, handle)
        if progress is not None:
            progress(entry.size)
        return entry.size

    def copy(entry: ManifestEntry) -> None:
        # the run's folder holds every delivered file (DESIGN, "What a ref holds"); bytes an
        # earlier run landed are copied inside lakeFS, which moves metadata, not data
        target = names.raw_path(entry.path)
        if landed.get(target) != entry.size and entry.stored_at is not None:
            session.copy_object(repo, names.ingest_branch, entry.stored_at, target)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, work))
        list(pool.map(copy, [e for e in manifest.files if e.stored_at is not None]))
    sent = [size for size in results if size >= 0]
    return Transfer(
        files=len(sent),
        bytes=sum(sent),
        already_landed=len(results) - len(sent),
        stored_earlier=sum(1 for e in manifest.files if e.stored_at is not None),
    )


def ensure_branch(session: Session, repo: str, name: str, source: str) -> bool:
    """Create branch ``name`` from ``source`` unless it exists; True when it was created.

    Raises:
        NotFound: the repository or ``source`` does not exist.
    """
    if session.branch_head(repo, name) is not None:
        return False
    try:
        session.create_branch(repo, name, source)
    except LakeFSNotFound as exc:
        raise NotFound(f"cannot branch {name!r} from {source!r} in {repo!r}: not found") from exc
    return True


def merge_into_layer(
    session: Session, repo: str, branch: str, layer: str, names: RunNames, stage: Stage
) -> str:
    """Merge a run's branch into a layer branch; the merge commit.

    Raises:
        Conflict: the layer changed the same tables or objects meanwhile; nothing changed.
        PreconditionFailed: a hook on the layer refused the run (the checks' reasons).
    """
    try:
        return session.merge(
            repo,
            branch,
            layer,
            f"ingest {names.source} run {names.run} into {layer}",
            {RUN_KEY: names.run, SOURCE_KEY: names.source, STAGE_KEY: str(stage)},
        )
    except LakeFSConflict as exc:
        raise Conflict(
            f"merging run {names.run} of {names.source!r} into {layer!r} conflicts: another "
            "change to the same tables landed meanwhile; nothing was changed",
            hint=f"run the same command again: it re-plans against the new {layer!r}",
        ) from exc
    except LakeFSPreconditionFailed as exc:
        from vxp.checks.refusals import explain_refusal

        # a hook on the layer refused the run: say which check and why, not a bare 412
        raise explain_refusal(session, repo, layer, exc) from exc


def write_state(
    session: Session, repo: str, branch: str, manifest: DeliveryManifest, stage: Stage
) -> None:
    """Stage the source state object for ``manifest``'s run on ``branch`` (not committed)."""
    state = SourceState(
        source=manifest.source,
        run=manifest.run,
        delivery_sha256=manifest.delivery_sha256,
        stage=stage,
        kind=manifest.kind,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    session.upload_object(
        repo, branch, state_path(manifest.source, stage, manifest.kind), state.to_bytes()
    )


def integrated_run(
    session: Session, repo: str, ref: str, source: str, delivery_sha256: str, kind: str = "study"
) -> SourceState | None:
    """The run that integrated this delivery of ``source`` when it is the latest delivery of
    its kind that ``ref`` integrated; else None.

    Only the latest counts: sending an earlier delivery again is a new delivery (it reverts
    the data to it), while sending the latest again changes nothing.
    """
    state = read_state(session, repo, ref, source, Stage.INTEGRATED, kind)
    return state if state is not None and state.delivery_sha256 == delivery_sha256 else None


def read_manifest(session: Session, repo: str, ref: str, names: RunNames) -> dict[str, Any]:
    """The run's ``_manifest.json`` at ``ref``.

    Raises:
        NotFound: the run did not land at ``ref``.
    """
    raw = session.get_object(repo, ref, names.manifest_path)
    if raw is None:
        raise NotFound(f"run {names.run} of {names.source!r} has no manifest at {ref!r}")
    body: dict[str, Any] = json.loads(raw)
    return body


@dataclass(frozen=True)
class RunInfo:
    """An unfinished run: its source, id, and the branches it still has."""

    source: str
    run: str
    ingest_branch: str | None
    integrate_branch: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "run": self.run,
            "ingest_branch": self.ingest_branch,
            "integrate_branch": self.integrate_branch,
        }


_RUN_BRANCH = re.compile(r"^(ingest|integrate)-([a-z][a-z0-9_]{0,39})-(\d{8}t\d{6}z-[0-9a-f]{6})$")


def list_runs(session: Session, repo: str) -> list[RunInfo]:
    """Runs whose branches still exist (not merged, or stopped with ``--no-merge``), oldest first.

    Raises:
        LakeFSNotFound: no such repository.
    """
    found: dict[tuple[str, str], dict[str, str]] = {}
    for branch in session.branch_heads(repo):
        match = _RUN_BRANCH.match(branch)
        if match:
            kind, source, run = match.groups()
            found.setdefault((source, run), {})[kind] = branch
    return [
        RunInfo(source, run, kinds.get("ingest"), kinds.get("integrate"))
        for (source, run), kinds in sorted(found.items(), key=lambda item: item[0][1])
    ]


def find_run(session: Session, repo: str, run: str) -> RunInfo:
    """The unfinished run ``run``.

    Raises:
        NotFound: no branch of that run exists (merged and cleaned up, discarded, or a typo).
    """
    check_run_id(run)
    for info in list_runs(session, repo):
        if info.run == run:
            return info
    raise NotFound(
        f"run {run} has no branches in {repo!r}: it was merged, discarded, or never existed",
        hint=f"`vxp ingest list --repo {repo}` shows the unfinished runs",
    )


def merge_run(session: Session, repo: str, run: str) -> dict[str, str]:
    """Merge an unfinished run's branches into ``source`` and ``integration``, then delete
    them; layer → merge commit.

    Raises:
        NotFound: no such run. Conflict: a layer changed the same tables meanwhile (re-run
        the ingestion to re-plan, or discard the run).
    """
    info = find_run(session, repo, run)
    names = RunNames(info.source, info.run)
    commits: dict[str, str] = {}
    if info.ingest_branch is not None and _ahead(session, repo, info.ingest_branch, "source"):
        try:
            commits["source"] = merge_into_layer(
                session, repo, info.ingest_branch, "source", names, Stage.LANDED
            )
        except Conflict:
            # another run of this source landed first: land on top of it
            catch_up_with_source(session, repo, names)
            commits["source"] = merge_into_layer(
                session, repo, info.ingest_branch, "source", names, Stage.LANDED
            )
    if info.integrate_branch is not None and _ahead(
        session, repo, info.integrate_branch, "integration"
    ):
        try:
            commits["integration"] = merge_into_layer(
                session, repo, info.integrate_branch, "integration", names, Stage.INTEGRATED
            )
        except Conflict as exc:
            landed = " (source holds the run now)" if "source" in commits else ""
            raise Conflict(
                f"run {names.run} of {names.source!r}: 'integration' changed the same tables "
                f"since this run planned its integration step; integration is unchanged{landed}",
                hint="ingest the same delivery again (`vxp ingest study DIR …`): it completes "
                "the integration step against the new 'integration'",
            ) from exc
    for branch in (info.ingest_branch, info.integrate_branch):
        if branch is not None:
            session.delete_branch(repo, branch)
    return commits


def _ahead(session: Session, repo: str, branch: str, layer: str) -> bool:
    """True when ``branch`` has changes ``layer`` does not (a merged run's branch has none:
    merging it again would only fail)."""
    return next(session.diff_refs(repo, layer, branch, three_dot=True), None) is not None


def discard_run(session: Session, repo: str, run: str) -> RunInfo:
    """Delete an unfinished run's branches; the layers never saw it.

    Raises:
        NotFound: no such run.
    """
    info = find_run(session, repo, run)
    for branch in (info.ingest_branch, info.integrate_branch):
        if branch is not None:
            session.delete_branch(repo, branch)
    return info


def source_owned(source: str, path: str) -> bool:
    """True for the objects only ``source``'s ingestion writes: its raw and quarantined files,
    its raw tables' catalog entries and its landing states (of every kind of run). The source
    layer is their authority."""
    return path.startswith(
        (
            f"raw/{source}/",
            f"quarantine/{source}/",
            f"_vxp/catalog/tables/raw_{source}/",
            f"_vxp/catalog/namespaces/raw_{source}/",
            f"_vxp/ingest/{source}/landed.json",
        )
    ) or (path.startswith(f"_vxp/ingest/{source}/") and path.endswith("/landed.json"))


def catch_up_with_source(session: Session, repo: str, names: RunNames) -> str:
    """Merge ``source`` into the run's ingest branch after another run of the same source
    landed first; the merge commit.

    Both runs changed the source's own objects (its raw tables, its landing state); this run
    lands later, so its versions stay (lakeFS's ``dest-wins``). A conflict on anything else
    is a real one.

    Raises:
        Conflict: a conflicting object the source does not own; nothing was changed.
    """
    return _merge_source_owned(
        session,
        repo,
        names,
        SOURCE_BRANCH,
        names.ingest_branch,
        f"bring source up to date for run {names.run} of {names.source}",
        winner="dest-wins",
        hint=f"`vxp ingest discard {names.run}` and ingest the delivery again",
    )


def bring_upstream(session: Session, repo: str, names: RunNames, upstream: str) -> str:
    """Merge the run's landed delivery (``upstream``: its ingest branch, or ``source``) into its
    integration branch; the merge commit.

    Both layers hold the source's raw objects, and lakeFS may pick an old merge base between
    the two lines of history (measured on lakeFS 1.86: the base of a branch of ``source`` and
    one of ``integration`` was the repository's first commit once both had merged runs), so
    the source's own objects can show up as changed on both sides. Those are resolved for
    the source layer, their authority; a conflict on any other object fails the run.

    Raises:
        Conflict: a conflicting object the source does not own; nothing was changed.
    """
    return _merge_source_owned(
        session,
        repo,
        names,
        upstream,
        names.integrate_branch,
        f"bring run {names.run} of {names.source} to its integration step",
        winner="source-wins",
        hint="`vxp diff source integration` shows what differs",
    )


def _merge_source_owned(
    session: Session,
    repo: str,
    names: RunNames,
    source: str,
    destination: str,
    message: str,
    *,
    winner: str,
    hint: str,
) -> str:
    """Merge ``source`` into ``destination``, resolving conflicts on the run's source-owned
    objects with lakeFS strategy ``winner``; any other conflict raises :class:`Conflict`, a
    hook's refusal :class:`~vxp.core.errors.PreconditionFailed` with the checks' reasons."""
    conflicting = [
        d.path
        for d in session.diff_refs(repo, destination, source, three_dot=True)
        if d.type == "conflict"
    ]
    foreign = [path for path in conflicting if not source_owned(names.source, path)]
    if foreign:
        raise Conflict(
            f"run {names.run} of {names.source!r}: {source!r} and {destination!r} both changed "
            f"{', '.join(foreign[:5])}{' …' if len(foreign) > 5 else ''}; nothing was changed",
            hint=hint,
        )
    try:
        return session.merge(
            repo,
            source,
            destination,
            message,
            {RUN_KEY: names.run, SOURCE_KEY: names.source},
            strategy=winner if conflicting else None,
        )
    except LakeFSPreconditionFailed as exc:
        from vxp.checks.refusals import explain_refusal

        raise explain_refusal(session, repo, destination, exc) from exc


# --- the steps every kind of run shares (``vxp ingest study``, ``vxp ingest files``) ---------

#: the layer every run lands in first
SOURCE_BRANCH = "source"
#: how often a run re-plans its integration step after losing a merge race
REPLANS = 3

T = TypeVar("T")


@dataclass(frozen=True)
class RunStart:
    """Where a run of one delivery starts (:func:`start_run`).

    Attributes:
        run: the run id (new, or the earlier run of the same delivery).
        unchanged: the delivery is integrated already: nothing to do, no commit.
        resumed: an earlier run of this delivery was interrupted; this one completes it.
        landed_on_source: that run reached ``source``: only the integration step is left.
    """

    run: str
    unchanged: bool = False
    resumed: bool = False
    landed_on_source: bool = False


def start_run(
    session: Session, repo: str, source: str, kind: str, digest: str, now: datetime
) -> RunStart:
    """Find out whether the delivery with identity ``digest`` (:func:`delivery_sha256`) is
    integrated, half done, or new.

    In order: the latest delivery ``integration`` integrated → unchanged; its run reached
    ``source`` (the landed state of ``kind`` names it) → resume at integration; an ingest
    branch holds its manifest (:func:`unfinished_run`) → resume the landing; else a new run.
    """
    from vxp.core.names import DEFAULT_BRANCH

    integrated = integrated_run(session, repo, DEFAULT_BRANCH, source, digest, kind)
    if integrated is not None:
        return RunStart(integrated.run, unchanged=True)
    on_source = read_state(session, repo, SOURCE_BRANCH, source, Stage.LANDED, kind)
    if on_source is not None and on_source.delivery_sha256 == digest:
        return RunStart(on_source.run, resumed=True, landed_on_source=True)
    unfinished = unfinished_run(session, repo, source, kind, digest)
    if unfinished is not None:
        return RunStart(unfinished, resumed=True)
    return RunStart(new_run_id(now))


def unfinished_run(session: Session, repo: str, source: str, kind: str, digest: str) -> str | None:
    """The run whose ingest branch holds the manifest of this delivery (landed wholly or in
    part, never merged), or None. :func:`land_files` writes the manifest before any file, so
    a run killed half-way is found."""
    for branch in sorted(session.branch_heads(repo)):
        match = _RUN_BRANCH.match(branch)
        if match is None or match.group(1) != "ingest" or match.group(2) != source:
            continue
        raw = session.get_object(repo, branch, RunNames(source, match.group(3)).manifest_path)
        if raw is None:
            continue
        body = json.loads(raw)
        if body.get("kind", "study") == kind and body.get("delivery_sha256") == digest:
            return match.group(3)
    return None


def land_delivery(
    session: Session,
    repo: str,
    names: RunNames,
    files: Sequence[DeliveredFile],
    manifest: DeliveryManifest,
    *,
    jobs: int,
    progress: Progress,
    extra: Mapping[str, bytes] | None = None,
) -> tuple[Transfer, str | None]:
    """The landing step: cut the ingest branch from ``source`` (unless a resumed run has it),
    upload the files (:func:`land_files`) and the ``extra`` objects (path → content, e.g. a
    quarantine report), stage the landed state and commit; what was sent and the commit (None
    when a resumed run had committed everything already).

    Raises:
        NotFound: no ``source`` branch. LakeFSError: an upload or the commit was refused;
            what landed stays on the run's branch, and running again resumes.
    """
    ensure_branch(session, repo, names.ingest_branch, SOURCE_BRANCH)
    progress.phase(
        "upload",
        bytes_to_send(manifest),
        unit="bytes",
        items=sum(1 for e in manifest.files if e.stored_at is None) + len(manifest.quarantined),
    )
    transfer = land_files(
        session, repo, names, files, manifest, jobs=jobs, progress=progress.advance
    )
    for path, content in (extra or {}).items():
        session.upload_object(repo, names.ingest_branch, path, content)
    write_state(session, repo, names.ingest_branch, manifest, Stage.LANDED)
    if not session.has_uncommitted(repo, names.ingest_branch):
        return transfer, None
    commit = session.commit(
        repo,
        names.ingest_branch,
        f"land {names.source} delivery as run {names.run}",
        {
            RUN_KEY: names.run,
            SOURCE_KEY: names.source,
            STAGE_KEY: str(Stage.LANDED),
            DELIVERY_KEY: manifest.delivery_sha256,
        },
    )
    return transfer, commit


def integration_step(
    session: Session,
    repo: str,
    names: RunNames,
    upstream: str,
    manifest: DeliveryManifest,
    write: Callable[[], T],
    lineage: Callable[[T], bytes],
) -> T:
    """The integration step on a fresh ``integrate-…`` branch: cut from ``integration``,
    ``upstream`` (the ingest branch, or ``source``) merged in (:func:`bring_upstream`), the
    tables written by ``write`` at that branch, the integrated state and the run's lineage
    (``lineage`` of ``write``'s result) staged, all committed. What ``write`` returned.

    A branch left by a killed run is deleted first: the step starts again from the layer.

    Raises:
        Conflict: the upstream conflicts with ``integration`` (:func:`bring_upstream`).
    """
    from vxp.core.names import DEFAULT_BRANCH

    if session.branch_head(repo, names.integrate_branch) is not None:
        session.delete_branch(repo, names.integrate_branch)
    session.create_branch(repo, names.integrate_branch, DEFAULT_BRANCH)
    bring_upstream(session, repo, names, upstream)
    result = write()
    write_state(session, repo, names.integrate_branch, manifest, Stage.INTEGRATED)
    # the run's lineage is committed with the data it describes
    session.upload_object(repo, names.integrate_branch, names.lineage_path, lineage(result))
    session.commit(
        repo,
        names.integrate_branch,
        f"integrate {names.source} run {names.run}",
        {
            RUN_KEY: names.run,
            SOURCE_KEY: names.source,
            STAGE_KEY: str(Stage.INTEGRATED),
            DELIVERY_KEY: manifest.delivery_sha256,
        },
    )
    return result


def integrate_and_merge(
    session: Session,
    repo: str,
    names: RunNames,
    *,
    landed_on_source: bool,
    merge: bool,
    step: Callable[[str], T],
    commits: dict[str, str],
    say: Callable[[str], None],
) -> tuple[T, bool]:
    """Run the integration ``step`` (given its upstream) and merge: the ingest branch into
    ``source`` (unless the run is there already), then the integrate branch into
    ``integration``; delete both branches. ``commits`` receives the merge commits (``source``,
    ``integration``). Returns the last ``step`` result and whether it merged (False with
    ``merge=False``: both branches are left for ``vxp ingest merge``).

    When ``integration`` changed the same tables meanwhile (a lost race), the step is planned
    again from the new head, up to :data:`REPLANS` times.

    Raises:
        Conflict: still conflicting after the re-plans; ``integration`` is unchanged.
    """
    from vxp.core.names import DEFAULT_BRANCH

    attempt = 0
    while True:
        upstream = SOURCE_BRANCH if landed_on_source else names.ingest_branch
        result = step(upstream)
        if not merge:
            return result, False
        if not landed_on_source:
            try:
                commits["source"] = merge_into_layer(
                    session, repo, names.ingest_branch, SOURCE_BRANCH, names, Stage.LANDED
                )
            except Conflict:
                # another run of this source landed first: take its commits in, this run's
                # delivery staying the latest, then land on top of it
                say("source changed meanwhile; landing on top of it")
                catch_up_with_source(session, repo, names)
                commits["source"] = merge_into_layer(
                    session, repo, names.ingest_branch, SOURCE_BRANCH, names, Stage.LANDED
                )
            landed_on_source = True
        try:
            commits["integration"] = merge_into_layer(
                session, repo, names.integrate_branch, DEFAULT_BRANCH, names, Stage.INTEGRATED
            )
        except Conflict:
            if attempt == REPLANS:
                raise
            attempt += 1
            # another run changed the same tables: start the step again from its result
            say("integration changed meanwhile; re-planning against it")
            session.delete_branch(repo, names.integrate_branch)
            continue
        break
    cleanup_run(session, repo, names)
    return result, True


def cleanup_run(session: Session, repo: str, names: RunNames) -> None:
    """Delete the run's branches once both layers hold it (their commits stay reachable)."""
    for branch in (names.ingest_branch, names.integrate_branch):
        if session.branch_head(repo, branch) is not None:
            session.delete_branch(repo, branch)
