"""Reading lockfiles as materializers consume them (DESIGN.md, "Lockfiles").

``resources.<split>.jsonl`` holds one resource per line, canonical JSON: ``id``, ``type``,
``version``, ``repository``, ``commit``, ``attributes``, ``files`` (a list of ``{path, sha256,
size}``). Lines are checked against that contract here, every problem of every file is
collected, and :func:`read_lockfiles` raises once with all of them (``file:line:column:
message``), so a broken lockfile is fixed in one go. Keys this reader does not know are ignored:
a newer lock may add some.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxp.core.errors import InvalidInput
from vxp.core.names import validate_repository_name
from vxp.ingestion.resources import InvalidId, ResourceType, decode_segment, parse_id

__all__ = [
    "LockProblem",
    "LockedFile",
    "LockedResource",
    "Lockfile",
    "read_lockfiles",
    "split_of",
    "unique_resources",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_REQUIRED = ("id", "type", "version", "repository", "commit", "attributes", "files")
#: the lock's summary beside the ``resources.<split>.jsonl`` files
LOCK_FILE = "dataset.lock.json"
_SPLIT = re.compile(r"^resources\.(?P<split>.+)\.jsonl$")


@dataclass(frozen=True)
class LockedFile:
    """One object a locked resource's bytes are in.

    Attributes:
        path: the object's path in the repository at the pinned commit
            (``raw/<source>/<run>/<relative path>``).
        sha256: the SHA-256 (hex) its bytes must have.
        size: its size in bytes.
    """

    path: str
    sha256: str
    size: int

    @property
    def relative_path(self) -> str:
        """The path as delivered: ``path`` without ``raw/<source>/<run>/`` (the whole path for
        an object outside ``raw/``)."""
        parts = self.path.split("/", 3)
        return parts[3] if len(parts) == 4 and parts[0] == "raw" else self.path


@dataclass(frozen=True)
class LockedResource:
    """One line of a ``resources.<split>.jsonl``.

    Attributes:
        id: the resource id (``trial/basel/subject/BASEL-001/…``).
        type: its type (:class:`~vxp.ingestion.resources.ResourceType`).
        version: the ``version`` of its row in ``vxp.resources`` at the commit.
        repository: the lakeFS repository; commit: the commit ID it was locked at.
        attributes: its attributes as locked.
        files: the objects holding its bytes (empty for a trial, subject or visit).
        split: the split it was locked into (from the file name).
        lockfile: the file it was read from; line: its line number (1-based).
    """

    id: str
    type: ResourceType
    version: int
    repository: str
    commit: str
    attributes: Mapping[str, Any]
    files: tuple[LockedFile, ...]
    split: str
    lockfile: Path = field(default=Path(), compare=False)
    line: int = field(default=0, compare=False)

    @property
    def source(self) -> str:
        """The source of the resource (``trial/<source>/…``)."""
        return self.id.split("/")[1]

    def ancestor(self, type: ResourceType) -> str | None:
        """The id of the nearest resource of ``type`` at or above this one, or None.

        Ids are paths (DESIGN.md, "The resource model"), so ``…/subject/P-7/dicom-study/…``
        hangs under ``trial/<source>/subject/P-7``.
        """
        parts = self.id.split("/")
        kind = {
            ResourceType.TRIAL: "trial",
            ResourceType.SUBJECT: "subject",
            ResourceType.VISIT: "visit",
            ResourceType.DICOM_STUDY: "dicom-study",
        }.get(type)
        if kind is None:
            return self.id if self.type is type else None
        found = None
        for index in range(0, len(parts), 2):
            if parts[index] == kind:
                found = "/".join(parts[: index + 2])
        return found

    @property
    def subject(self) -> str | None:
        """The subject value (``BASEL-001``) of the nearest ``Subject`` at or above, or None."""
        subject = self.ancestor(ResourceType.SUBJECT)
        return None if subject is None else decode_segment(subject.rsplit("/", 1)[1])

    @property
    def visit(self) -> str | None:
        """The visit value (``2``) of the nearest ``Visit`` at or above, or None."""
        visit = self.ancestor(ResourceType.VISIT)
        return None if visit is None else decode_segment(visit.rsplit("/", 1)[1])


@dataclass(frozen=True)
class LockProblem:
    """One thing wrong with a lockfile: where (file, 1-based line and column) and what."""

    file: Path
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Lockfile:
    """A read ``resources.<split>.jsonl``: its split, SHA-256 and resources in file order."""

    path: Path
    split: str
    sha256: str
    resources: tuple[LockedResource, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"path", "split", "sha256", "resources"}`` (resources: the count)."""
        return {
            "path": str(self.path),
            "split": self.split,
            "sha256": self.sha256,
            "resources": len(self.resources),
        }


def split_of(path: Path) -> str:
    """The split a lockfile holds: ``train`` for ``resources.train.jsonl``, else the file's
    stem (a renamed copy still reads)."""
    match = _SPLIT.match(path.name)
    return match.group("split") if match else path.stem


def _column(line: str, key: str) -> int:
    # the column of the key's first occurrence: good enough to point an editor at it
    index = line.find(f'"{key}"')
    return index + 1 if index >= 0 else 1


def _check_files(value: Any, where: Callable[[str], None]) -> tuple[LockedFile, ...]:
    if not isinstance(value, list):
        where("files must be a list of {path, sha256, size}")
        return ()
    files = []
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            where(f"files[{n}] must be an object {{path, sha256, size}}")
            continue
        path, sha, size = item.get("path"), item.get("sha256"), item.get("size")
        ok = True
        if not isinstance(path, str) or not path or path.startswith("/"):
            where(f"files[{n}].path must be a non-empty relative object path, got {path!r}")
            ok = False
        elif any(part in ("", ".", "..") for part in path.split("/")):
            where(f"files[{n}].path {path!r} has an empty, '.' or '..' segment")
            ok = False
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            where(f"files[{n}].sha256 must be 64 lowercase hex digits, got {sha!r}")
            ok = False
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            where(f"files[{n}].size must be a non-negative integer, got {size!r}")
            ok = False
        if ok:
            files.append(LockedFile(str(path), str(sha), int(str(size))))
    return tuple(files)


def _parse_line(
    path: Path, number: int, line: str, split: str, problems: list[LockProblem]
) -> LockedResource | None:
    def at(key: str) -> Callable[[str], None]:
        return lambda message: problems.append(
            LockProblem(path, number, _column(line, key), message)
        )

    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        problems.append(LockProblem(path, number, exc.colno, f"not JSON: {exc.msg}"))
        return None
    if not isinstance(row, dict):
        problems.append(LockProblem(path, number, 1, "a line must be a JSON object"))
        return None
    missing = [key for key in _REQUIRED if key not in row]
    if missing:
        problems.append(LockProblem(path, number, 1, "missing key(s): " + ", ".join(missing)))
        return None
    before = len(problems)
    rid, rtype = row["id"], row["type"]
    resource_type: ResourceType | None = None
    try:
        resource_type = ResourceType(rtype)
    except ValueError:
        at("type")(
            f"type {rtype!r} is not a resource type (one of "
            + ", ".join(t.value for t in ResourceType)
            + ")"
        )
    if not isinstance(rid, str):
        at("id")(f"id must be a string, got {rid!r}")
    else:
        try:
            pairs = parse_id(rid)
            if resource_type is not None and pairs[-1][0] != _KIND[resource_type]:
                at("type")(f"id {rid!r} names a {pairs[-1][0]}, not a {rtype}")
        except InvalidId as exc:
            at("id")(str(exc))
    version = row["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        at("version")(f"version must be an integer >= 1, got {version!r}")
    repository = row["repository"]
    try:
        if not isinstance(repository, str):
            raise InvalidInput(f"repository must be a string, got {repository!r}")
        validate_repository_name(repository)
    except InvalidInput as exc:
        at("repository")(exc.message)
    commit = row["commit"]
    if not isinstance(commit, str) or not _HEX64.fullmatch(commit):
        at("commit")(f"commit must be a lakeFS commit ID (64 hex digits), got {commit!r}")
    attributes = row["attributes"]
    if not isinstance(attributes, dict):
        at("attributes")("attributes must be a JSON object")
    files = _check_files(row["files"], at("files"))
    if len(problems) > before or resource_type is None:
        return None
    return LockedResource(
        id=rid,
        type=resource_type,
        version=version,
        repository=repository,
        commit=commit,
        attributes=attributes,
        files=files,
        split=split,
        lockfile=path,
        line=number,
    )


_KIND = {
    ResourceType.TRIAL: "trial",
    ResourceType.SUBJECT: "subject",
    ResourceType.VISIT: "visit",
    ResourceType.DICOM_STUDY: "dicom-study",
    ResourceType.DICOM_SERIES: "dicom-series",
    ResourceType.VOLUME: "volume",
    ResourceType.DOCUMENT: "document",
    ResourceType.FILE: "file",
}


def _read_one(path: Path, problems: list[LockProblem]) -> Lockfile | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(LockProblem(path, 0, 0, f"cannot be read: {exc.strerror or exc}"))
        return None
    split = split_of(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        problems.append(LockProblem(path, bad_line, 1, "not UTF-8"))
        return None
    resources: list[LockedResource] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        resource = _parse_line(path, number, line, split, problems)
        if resource is None:
            continue
        if resource.id in seen:
            problems.append(
                LockProblem(
                    path,
                    number,
                    _column(line, "id"),
                    f"resource {resource.id!r} is locked twice (first on line {seen[resource.id]})",
                )
            )
            continue
        seen[resource.id] = number
        resources.append(resource)
    digest = hashlib.sha256(data).hexdigest()
    _check_against_lock(path, digest, problems)
    return Lockfile(path, split, digest, tuple(resources))


def _check_against_lock(path: Path, digest: str, problems: list[LockProblem]) -> None:
    """When ``dataset.lock.json`` lies beside the lockfile and names it, its sha256 must match
    (DESIGN.md, "Lockfiles": the lock records the sha256 of each jsonl)."""
    lock = path.parent / LOCK_FILE
    try:
        body = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    splits = body.get("splits") if isinstance(body, dict) else None
    if not isinstance(splits, dict):
        return
    for name, entry in splits.items():
        if not isinstance(entry, dict) or entry.get("file") != path.name:
            continue
        if entry.get("sha256") != digest:
            problems.append(
                LockProblem(
                    path,
                    0,
                    0,
                    f"its sha256 is {digest}, but {lock.name} records {entry.get('sha256')} "
                    f"for split {name!r}: the lockfile was changed after it was locked",
                )
            )


def read_lockfiles(paths: Sequence[Path]) -> list[Lockfile]:
    """Read and check ``resources.<split>.jsonl`` files.

    Args:
        paths: one or more lockfiles (``resources.train.jsonl``, …).

    Returns:
        One :class:`Lockfile` per path, in the order given.

    Raises:
        InvalidInput: no path given, a file cannot be read, or any line breaks the contract
            (DESIGN.md, "Lockfiles"); the message lists every problem of every file, each as
            ``file:line:column: what``.
    """
    if not paths:
        raise InvalidInput(
            "no lockfile given", hint="pass -f resources.<split>.jsonl (`vxp datasets lock`)"
        )
    problems: list[LockProblem] = []
    read = [_read_one(Path(p), problems) for p in paths]
    if problems:
        shown = problems[:50]
        more = f"\n… and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise InvalidInput(
            f"{len(problems)} problem(s) in the lockfile(s):\n"
            + "\n".join(str(p) for p in shown)
            + more,
            hint="lockfiles are written by `vxp datasets lock`; DESIGN.md 'Lockfiles' has the "
            "format",
        )
    return [lock for lock in read if lock is not None]


def unique_resources(locks: Iterable[Lockfile]) -> list[LockedResource]:
    """The resources of all ``locks`` with each id once, sorted by id.

    The same id in two lockfiles (e.g. a subject in train and test) is kept once when both
    lines pin the same repository, commit and version.

    Raises:
        InvalidInput: one id locked at two different repositories, commits or versions; every
            such id is named.
    """
    chosen: dict[str, LockedResource] = {}
    clashes: list[str] = []
    for lock in locks:
        for resource in lock.resources:
            first = chosen.setdefault(resource.id, resource)
            if (first.repository, first.commit, first.version) != (
                resource.repository,
                resource.commit,
                resource.version,
            ):
                clashes.append(
                    f"{resource.id}: {first.lockfile}:{first.line} pins "
                    f"{first.repository}@{first.commit[:12]} v{first.version}, "
                    f"{resource.lockfile}:{resource.line} pins "
                    f"{resource.repository}@{resource.commit[:12]} v{resource.version}"
                )
    if clashes:
        raise InvalidInput(
            "the lockfiles pin one resource to different versions:\n" + "\n".join(clashes),
            hint="materialize lockfiles of one lock run together",
        )
    return [chosen[key] for key in sorted(chosen)]
