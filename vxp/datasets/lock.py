"""``vxp datasets lock``: run a recipe at one commit and pin what it selected in lockfiles.

The format is DESIGN.md "Lockfiles" (docs/reference/lockfile.md): per split
``resources.<split>.jsonl``, one resource per line, sorted by id, canonical JSON (sorted keys,
no insignificant whitespace, UTF-8, ``\\n`` after every line) with ``id``, ``type``, ``version``,
``repository``, ``commit``, ``attributes``, ``files``; and ``dataset.lock.json`` naming the
recipe, the ref asked for and the commit pinned, the vxp version, the hash algorithm and each
split's count and sha256. Locking the same recipe at the same commit gives byte-identical files.

How it runs:

1. the ref is resolved to a commit ID (and the commit's date) in this process;
2. a child process (``python -c``, a session of its own) loads the recipe file, runs it with a
   :class:`vxp_client.PlatformClient` pinned to that commit, checks the result
   (:func:`vxp.datasets.recipe.selection_of`), resolves every id to its current row of
   ``vxp.resources`` *at the commit* with the same client (one DuckDB connection for the
   recipe and the lock), maps each resource to its files, checks for leakage, and writes the
   ``.jsonl`` files into a temporary folder next to the destination. A child can be stopped:
   past ``timeout`` its whole process group is killed;
3. any problem — the recipe does not import, raises, returns the wrong shape, selects ids that
   do not exist at the commit, leaks a subject, runs too long — raises :class:`RecipeError`
   listing all of them, and the temporary folder is removed: nothing is written;
4. this process writes ``dataset.lock.json`` and ``lineage.jsonl`` (the run's OpenLineage events)
   into the temporary folder and renames it into place.

**Files of a resource** (``files``, in the order of the resource's ``paths``): a ``Volume``,
``Document`` or ``File`` is one object: its path, with the resource's ``checksum`` and
``size_bytes``. A ``DICOMSeries`` is its instances and a ``DICOMStudy`` the instances of all its
series: each path's sha256 and size come from the manifest of the run that landed it,
``raw/<source>/<run>/_manifest.json`` (the source layer's record of every delivered file); a
series' ``checksum`` is checked against its members'
(:func:`~vxp.ingestion.resources.member_checksum`) and every resource's ``size_bytes`` against
the sum of its files. A ``Trial``, ``Subject`` or
``Visit`` has no files of its own (``[]``): select its children to lock their bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vxp import __version__
from vxp.core.errors import InvalidInput, NotFound, VxpError
from vxp.core.names import DEFAULT_BRANCH
from vxp.core.settings import Settings
from vxp.domain.lineage import FileInput, RunLineage, TableOutput
from vxp.domain.refs import resolve
from vxp.ingestion.resources import InvalidId, ResourceType, parse_id
from vxp.lakefs import LakeFS

from .leakage import find_leakage
from .recipe import RecipeError, Selection, load_recipe, recipe_traceback, selection_of

if TYPE_CHECKING:
    import pyarrow as pa

    from vxp_client import PlatformClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "HASH_ALGORITHM",
    "LINEAGE_FILE",
    "LOCK_FILE",
    "LOCK_FORMAT",
    "LockResult",
    "LockedSplit",
    "canonical_line",
    "lock",
    "lockfile_name",
]

#: the lock's summary file, next to the split files
LOCK_FILE = "dataset.lock.json"
#: the lock run's OpenLineage events, next to the lockfiles
LINEAGE_FILE = "lineage.jsonl"
#: the hash every checksum of a lock is made with
HASH_ALGORITHM = "sha256"
#: the version of this format; a reader refuses a lock of a newer format
LOCK_FORMAT = 1
#: seconds a recipe may run (resolving its ids included) before it is stopped
DEFAULT_TIMEOUT = 1800.0
#: the child writes its outcome here, in the temporary folder
_RESULT = ".result.json"

_SINGLE_FILE = frozenset({ResourceType.VOLUME, ResourceType.DOCUMENT, ResourceType.FILE})
# the columns a lock reads; `paths`, `checksum` and `size_bytes` give the files
_COLUMNS = ("id", "type", "version", "attributes", "paths", "checksum", "size_bytes")
# canonical JSON, as vxp.ingestion.resources.canonical_json, with the encoder made once
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def lockfile_name(split: str) -> str:
    """``resources.<split>.jsonl``."""
    return f"resources.{split}.jsonl"


def canonical_line(record: Mapping[str, Any]) -> str:
    """One lockfile line: ``record`` as canonical JSON (sorted keys, ``,``/``:`` separators, no
    other whitespace, non-ASCII as UTF-8, no NaN) and ``\\n``.

    Raises:
        ValueError: NaN or infinity in ``record``; TypeError: a value is not JSON.
    """
    return _ENCODER.encode(record) + "\n"


@dataclass(frozen=True)
class LockedSplit:
    """One split of a lock: its name, file name, resource count and the file's sha256."""

    name: str
    file: str
    count: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """``{"file", "count", "sha256"}`` (the name is the key it is stored under)."""
        return {"file": self.file, "count": self.count, "sha256": self.sha256}


@dataclass(frozen=True)
class LockResult:
    """What ``lock`` wrote: the folder and the content of its ``dataset.lock.json``."""

    directory: Path
    name: str
    version: int | None
    recipe_file: str
    recipe_sha256: str
    entrypoint: str
    repository: str
    ref: str
    commit: str
    commit_date: str
    splits: tuple[LockedSplit, ...]
    leakage: Mapping[str, Any] = field(default_factory=dict)

    def lock_json(self) -> dict[str, Any]:
        """The content of ``dataset.lock.json`` (docs/reference/lockfile.md)."""
        return {
            "format": LOCK_FORMAT,
            "name": self.name,
            "version": self.version,
            "recipe": {
                "file": self.recipe_file,
                "sha256": self.recipe_sha256,
                "entrypoint": self.entrypoint,
            },
            "repository": self.repository,
            "ref": self.ref,
            "commit": self.commit,
            "commit_date": self.commit_date,
            "vxp_version": __version__,
            "hash_algorithm": HASH_ALGORITHM,
            "splits": {s.name: s.to_json() for s in self.splits},
            "leakage": dict(self.leakage),
        }

    def to_json(self) -> dict[str, Any]:
        """The lock's summary and the folder it is in."""
        return {"directory": str(self.directory), **self.lock_json()}


# --- this process ----------------------------------------------------------------------------


def lock(
    recipe_file: Path,
    *,
    settings: Settings,
    repository: str,
    ref: str = DEFAULT_BRANCH,
    output: Path | None = None,
    name: str | None = None,
    version: int | None = None,
    entrypoint: str | None = None,
    recipe_label: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    allow_leakage: bool = False,
) -> LockResult:
    """Run the recipe in ``recipe_file`` at ``ref``'s commit and write its lock to ``output``.

    Args:
        recipe_file: the recipe (Python, one ``@vxp_client.dataset_compilation_entrypoint()``).
        settings: where the platform is.
        repository: the lakeFS repository to read; ref: the branch, tag or commit to pin.
        output: the lock's folder: created, or replaced when it holds a lock and nothing else;
            default ``./<name>`` (``./<name>-v<version>`` with a version).
        name, version: the dataset's name and version in the lock (a registered recipe's);
            default the recipe's own (``dataset_compilation_entrypoint(name=…, version=…)``,
            else the function's name and no version).
        entrypoint: the recipe function, when the file has several.
        recipe_label: how ``dataset.lock.json`` names the recipe file (a registry's
            ``script_location``); default the path as given, relative to the working folder
            when under it.
        timeout: seconds the recipe may run, resolving its ids included.
        allow_leakage: write the lock even when a subject's resources are in two splits (the
            lock records them under ``leakage``).

    Returns:
        The lock written.

    Raises:
        RecipeError: the recipe does not load, raises, returns the wrong shape, selects ids
            that do not exist at the commit, leaks (without ``allow_leakage``) or runs longer
            than ``timeout``; every problem is listed and nothing is written.
        NotFound: no such repository or ref.
        InvalidInput: ``output`` exists and holds files other than a lock's; a bad timeout.
        Unavailable: lakeFS or the catalog cannot be reached.
    """
    recipe_file = Path(recipe_file)
    if not recipe_file.is_file():
        raise RecipeError(f"recipe file {recipe_file} does not exist or is not a file")
    if not timeout > 0:
        raise InvalidInput(f"timeout {timeout!r} is not a number of seconds above 0")
    if output is not None:
        _check_destination(Path(output))
    recipe_bytes = recipe_file.read_bytes()
    # the child starts first: its imports overlap with resolving the ref and the START event
    child = _start_child()
    try:
        with LakeFS(settings.lakefs_endpoint) as lakefs:
            session = lakefs.as_user(
                settings.lakefs_access_key_id, settings.lakefs_secret_access_key.reveal()
            )
            commit = resolve(session, repository, ref)
            info = session.get_commit(repository, commit)
        if info is None:  # pragma: no cover - resolve() just found it
            raise NotFound(f"commit {commit} of {repository!r} vanished")
        parent = Path(output).resolve().parent if output is not None else Path.cwd()
        parent.mkdir(parents=True, exist_ok=True)
        work = parent / f".vxp-lock-{secrets.token_hex(6)}"
        work.mkdir()
    except BaseException:
        _kill(child)
        raise
    commit_date = info.date.strftime("%Y-%m-%dT%H:%M:%SZ")
    # one job per dataset; each lock is a run of it
    job = f"datasets-lock.{name or recipe_file.stem}"
    run = RunLineage.for_run(repository, job, secrets.token_hex(16))
    try:
        run.start([_resources_input(commit)])
        outcome = _run_child(
            child,
            {
                "recipe": str(recipe_file.resolve()),
                "entrypoint": entrypoint,
                "repository": repository,
                "commit": commit,
                "allow_leakage": allow_leakage,
                "work": str(work),
                "settings": settings.to_values(),
            },
            work,
            timeout,
            recipe_file,
        )
        lock_name = name or str(outcome["name"])
        lock_version = version if version is not None else outcome["version"]
        destination = (
            Path(output).absolute()
            if output is not None
            else Path.cwd()
            / (lock_name if lock_version is None else f"{lock_name}-v{lock_version}")
        )
        _check_destination(destination)
        result = LockResult(
            directory=destination,
            name=lock_name,
            version=lock_version,
            recipe_file=recipe_label or _label(recipe_file),
            recipe_sha256=hashlib.sha256(recipe_bytes).hexdigest(),
            entrypoint=str(outcome["entrypoint"]),
            repository=repository,
            ref=ref,
            commit=commit,
            commit_date=commit_date,
            splits=tuple(LockedSplit(**s) for s in outcome["splits"]),
            leakage={"allowed": allow_leakage, **outcome["leakage"]},
        )
        (work / LOCK_FILE).write_text(
            json.dumps(result.lock_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        inputs = [_resources_input(commit)] + [FileInput(**f) for f in outcome["inputs"]]
        run.complete(inputs, _outputs(destination, result.splits), commit)
        (work / LINEAGE_FILE).write_bytes(run.to_jsonl())
        (work / _RESULT).unlink()
        _place(work, destination)
        return result
    except BaseException as exc:
        with contextlib.suppress(Exception):
            run.fail([_resources_input(commit)], str(exc))
        shutil.rmtree(work, ignore_errors=True)
        raise


def _label(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _resources_input(commit: str) -> FileInput:
    # the lock reads the table vxp.resources at the commit: as an input dataset its name is the
    # table's (as ingestion runs name their output) and its version the commit
    return FileInput("vxp.resources", commit, 0)


def _outputs(directory: Path, splits: Sequence[LockedSplit]) -> list[TableOutput]:
    columns = (
        ("id", "string"),
        ("type", "string"),
        ("version", "int"),
        ("repository", "string"),
        ("commit", "string"),
        ("attributes", "object"),
        ("files", "array"),
    )
    return [TableOutput(str(directory.resolve() / s.file), columns, s.count) for s in splits]


_LOCK_NAMES = (LOCK_FILE, LINEAGE_FILE)


def _is_lock_file(name: str) -> bool:
    return name in _LOCK_NAMES or (name.startswith("resources.") and name.endswith(".jsonl"))


def _check_destination(destination: Path) -> None:
    if not destination.exists():
        return
    if not destination.is_dir():
        raise InvalidInput(f"{destination} exists and is not a folder", hint="pass -o NEW_FOLDER")
    others = sorted(p.name for p in destination.iterdir() if not _is_lock_file(p.name))
    if others:
        raise InvalidInput(
            f"{destination} holds files that are not a lock's ({', '.join(others[:5])}"
            + (", …" if len(others) > 5 else "")
            + "): a lock replaces its whole folder",
            hint="pass -o with a new folder, or one that holds only an earlier lock",
        )


def _place(work: Path, destination: Path) -> None:
    """Rename the finished folder into place; an earlier lock there is replaced whole (stale
    split files of it must not survive), the swap taking two renames."""
    destination = destination.resolve()
    if not destination.exists():
        work.rename(destination)
        return
    _check_destination(destination)
    old = destination.with_name(f".{destination.name}.old-{secrets.token_hex(4)}")
    destination.rename(old)
    try:
        work.rename(destination)
    except BaseException:
        old.rename(destination)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _start_child() -> subprocess.Popen[bytes]:
    """Start the lock's child process; it imports what it needs, then waits for its job on
    stdin. It leads a process group of its own, so stopping it also stops any process the
    recipe started."""
    return subprocess.Popen(
        [sys.executable, "-c", "from vxp.datasets.lock import _child_main; _child_main()"],
        stdin=subprocess.PIPE,
        # the recipe's prints go to stderr: stdout stays the command's
        stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
        start_new_session=True,
    )


def _run_child(
    child: subprocess.Popen[bytes],
    job: Mapping[str, Any],
    work: Path,
    timeout: float,
    recipe: Path,
) -> dict[str, Any]:
    """Give ``child`` its ``job`` and wait for it, at most ``timeout`` seconds; its outcome, or
    the :class:`RecipeError` it reported."""
    try:
        assert child.stdin is not None
        # the settings hold secrets: they travel through the pipe, never a file
        child.stdin.write(json.dumps(job).encode())
        child.stdin.close()
        code = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(child)
        raise RecipeError(
            f"recipe {recipe} ran longer than the {timeout:g} s allowed and was stopped",
            hint="pass --timeout SECONDS to allow more",
        ) from None
    except BaseException:
        _kill(child)
        raise
    result_path = work / _RESULT
    if not result_path.is_file():
        raise RecipeError(
            f"recipe {recipe} ended its process (exit code {code}) before it returned",
            hint="a recipe must return its splits, not exit (sys.exit, os._exit) or crash",
        )
    outcome: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    if not outcome.get("ok"):
        error = outcome["error"]
        raise RecipeError(error["message"], error.get("problems", ()), hint=error.get("hint"))
    return outcome


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _kill(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


# --- the child process -----------------------------------------------------------------------


def _child_main() -> None:
    """Entry of the child: import what every lock needs while the parent resolves the ref, read
    the job from stdin, write the outcome to the work folder."""
    import duckdb  # noqa: F401
    import pyarrow as pa
    import pyarrow.compute

    import vxp_client  # noqa: F401

    # pyarrow imports pandas, when installed, the first time it builds a table
    pa.table({"x": [1]})
    job = json.loads(sys.stdin.read())
    work = Path(job["work"])
    try:
        outcome = _child(job)
    except VxpError as exc:
        outcome = {
            "ok": False,
            "error": {
                "message": getattr(exc, "summary", exc.message),
                "problems": getattr(exc, "problems", []),
                "hint": exc.hint,
            },
        }
    except BaseException as exc:
        # an error of vxp's own (not the recipe's): say what, with its traceback
        outcome = {
            "ok": False,
            "error": {
                "message": f"locking failed: {type(exc).__name__}: {exc}",
                "problems": recipe_traceback(exc, []),
            },
        }
    (work / _RESULT).write_text(json.dumps(outcome), encoding="utf-8")
    # skip interpreter teardown (DuckDB, thread pools): the outcome is on disk
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _child(job: Mapping[str, Any]) -> dict[str, Any]:
    import vxp_client

    recipe_path = Path(job["recipe"])
    recipe = load_recipe(recipe_path, job.get("entrypoint"))
    label = f"{recipe_path.name}:{recipe.entrypoint}"
    settings = Settings.from_values(job["settings"], origin="the lock's parent process")
    with vxp_client.PlatformClient(job["repository"], job["commit"], settings=settings) as client:
        try:
            returned = recipe(client)
        except BaseException as exc:
            if isinstance(exc, SystemExit):
                message = f"recipe {label} called sys.exit({exc.code!r})"
            else:
                message = f"recipe {label} raised {type(exc).__name__}: {exc}"
            raise RecipeError(
                message,
                recipe_traceback(exc, [recipe_path]),
                hint="the traceback's last lines are where it happened",
            ) from None
        selection = selection_of(returned, recipe=label)
        leakage = find_leakage(selection.splits)
        problems: list[str] = []
        rows = _resolve(client, selection, problems)
        if leakage and not job["allow_leakage"]:
            problems += leakage.problems()
            hint = (
                "split by subject (vxp_client.split_by_subject), or pass --allow-leakage to "
                "lock it anyway"
            )
        else:
            hint = "fix the recipe; `vxp resources list` shows what exists at a ref"
        inputs: dict[str, FileInput] = {}
        lines = [] if problems else _lines(client, job, rows, problems, inputs)
        if problems:
            raise RecipeError(
                f"cannot lock recipe {label}: {len(problems)} problem(s)", problems, hint
            )
        splits = _write(Path(job["work"]), selection, rows["id"].combine_chunks(), lines)
    return {
        "ok": True,
        "name": recipe.name,
        "version": recipe.version,
        "entrypoint": recipe.entrypoint,
        "splits": [s.__dict__ for s in splits],
        "inputs": [f.__dict__ for f in sorted(inputs.values(), key=lambda f: f.path)],
        "leakage": leakage.to_json(),
    }


def _resolve(client: PlatformClient, selection: Selection, problems: list[str]) -> pa.Table:
    """The current rows of the selected ids at the client's commit, sorted by id; ids that are
    not there (or not ids at all) and versions that differ from what the recipe gave are added
    to ``problems``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from vxp.domain.engines.duckdb import quote

    selected = selection.ids
    ids = pa.array(list(selected), pa.string())
    empty = pa.table({c: pa.array([], pa.string()) for c in _COLUMNS})
    # narrow the scan to the trials and types selected (an id names both: its first two
    # segments, and the second-last)
    trials: set[str] = set()
    kinds: set[str] = set()
    for resource_id in selected:
        end = resource_id.find("/", 6)
        trials.add(resource_id if end < 0 else resource_id[:end])
        parts = resource_id.rsplit("/", 2)
        if len(parts) > 1:
            kinds.add(parts[-2])
    trials = {t for t in trials if _TRIAL_ID.fullmatch(t)}
    types = sorted(_KIND_TYPES[k].value for k in kinds if k in _KIND_TYPES)
    table = empty
    if trials and types:
        where = " OR ".join(
            f"starts_with(id, {quote(t + '/')}) OR id = {quote(t)}" for t in sorted(trials)
        )
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM vxp.resources WHERE is_current "  # noqa: S608
            f"AND type IN ({', '.join(quote(t) for t in types)}) AND ({where})"
        )
        try:
            table = client.query(sql)
        except InvalidInput as exc:
            if "resources" not in exc.message or "not exist" not in exc.message:
                raise
    found = table.filter(pc.is_in(table["id"], value_set=ids)).sort_by("id")
    commit = client.commit[:12]
    if found.num_rows < len(ids):
        unknown = selected - set(found["id"].to_pylist())
        splits_of: dict[str, list[str]] = {}
        for split, members in selection.splits.items():
            for resource_id in members:
                if resource_id in unknown:
                    splits_of.setdefault(resource_id, []).append(split)
        for resource_id in sorted(unknown):
            where = "split " + ", ".join(splits_of[resource_id])
            try:
                parse_id(resource_id)
            except InvalidId as exc:
                problems.append(f"{exc} ({where})")
                continue
            problems.append(f"resource {resource_id} does not exist at commit {commit} ({where})")
    if selection.versions:
        for resource_id, version in zip(
            found["id"].to_pylist(), found["version"].to_pylist(), strict=True
        ):
            claimed = selection.versions.get(resource_id)
            if claimed is not None and claimed != version:
                problems.append(
                    f"resource {resource_id} is version {version} at commit {commit}, but the "
                    f"recipe gave version {claimed} (read at another commit? use the client "
                    "the recipe is given)"
                )
    return found


_TRIAL_ID = re.compile(r"trial/[^/]+")
_KIND_TYPES = {
    "trial": ResourceType.TRIAL,
    "subject": ResourceType.SUBJECT,
    "visit": ResourceType.VISIT,
    "dicom-study": ResourceType.DICOM_STUDY,
    "dicom-series": ResourceType.DICOM_SERIES,
    "volume": ResourceType.VOLUME,
    "document": ResourceType.DOCUMENT,
    "file": ResourceType.FILE,
}


class _Manifests:
    """Manifests of runs, ``raw/<source>/<run>/_manifest.json`` at the commit, each read once;
    the ones read are inputs of the lock's lineage."""

    def __init__(self, client: PlatformClient, inputs: dict[str, FileInput]) -> None:
        self._client = client
        self._inputs = inputs

    def table(self, prefixes: Sequence[str], problems: list[str]) -> pa.Table:
        """The entries of the manifests of run folders ``prefixes`` (``raw/<source>/<run>/``):
        ``path`` (the object's path: the prefix and the delivered path), ``sha256``, ``size``.
        A manifest that does not exist or lists a bad sha256 is a problem."""
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = pa.schema([("path", pa.string()), ("sha256", pa.string()), ("size", pa.int64())])
        tables = [schema.empty_table()]
        for prefix in prefixes:
            manifest = prefix + "_manifest.json"
            try:
                data = self._client.open(manifest)
            except NotFound:
                problems.append(f"{manifest} does not exist at the commit")
                continue
            digest = hashlib.sha256(data).hexdigest()
            self._inputs[manifest] = FileInput(manifest, digest, len(data))
            entries = json.loads(data)["files"]
            table = pa.table(
                {
                    "path": [prefix + str(f["path"]) for f in entries],
                    "sha256": [str(f["sha256"]) for f in entries],
                    "size": [int(f["size"]) for f in entries],
                },
                schema=schema,
            )
            hex64 = pc.match_substring_regex(table["sha256"], "^[0-9a-f]{64}$")
            if not pc.all(hex64).as_py():
                bad = table["path"].filter(pc.invert(hex64))[0].as_py()
                problems.append(f"{manifest}: the sha256 of {bad} is not 64 lowercase hex")
                continue
            tables.append(table)
        return pa.concat_tables(tables)


def _files_column(
    client: PlatformClient, rows: pa.Table, problems: list[str], inputs: dict[str, FileInput]
) -> list[str]:
    """The ``files`` JSON of every row (module docstring: how a resource maps to files).

    Computed over all paths at once with Arrow: a path of a ``Volume``, ``Document`` or
    ``File`` takes the resource's checksum and size; every other path is joined with the
    manifest of its run folder. Then each resource's ``size_bytes`` is checked against the sum
    of its files' sizes, and a series' checksum against its instances'.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = rows.num_rows
    paths = rows["paths"].combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(paths), 0).cast(pa.int64())
    if not n or not pc.sum(lengths).as_py():
        return ["[]"] * n
    ids = rows["id"].combine_chunks()
    flat = pc.list_flatten(paths)
    parent = pc.list_parent_indices(paths)
    types = rows["type"].combine_chunks().take(parent)
    checksum = rows["checksum"].combine_chunks().cast(pa.string()).take(parent)
    size = rows["size_bytes"].combine_chunks().cast(pa.int64()).take(parent)
    single_types = pa.array(sorted(t.value for t in _SINGLE_FILE))
    single = pc.and_(
        pc.and_(pc.is_in(types, value_set=single_types), pc.equal(lengths.take(parent), 1)),
        pc.and_(pc.is_valid(checksum), pc.is_valid(size)),
    )
    looked_up = pc.invert(single)
    sha, file_size = checksum, size
    if pc.any(looked_up).as_py():
        positions = pc.indices_nonzero(looked_up)
        where = pc.extract_regex(
            flat.take(positions), r"^(?P<prefix>raw/[^/]+/[^/]+/)(?P<relative>.+)$"
        )
        outside = pc.is_null(where)
        for i in pc.indices_nonzero(outside).to_pylist():
            rid = ids[parent[positions[i].as_py()].as_py()].as_py()
            path = flat[positions[i].as_py()].as_py()
            problems.append(f"resource {rid}: {path} is not under raw/<source>/<run>/")
        prefixes = pc.unique(pc.struct_field(where, "prefix").drop_null()).to_pylist()
        manifests = _Manifests(client, inputs).table(prefixes, problems).combine_chunks()
        paths_listed = manifests["path"].combine_chunks()
        found = pc.index_in(flat.take(positions), value_set=paths_listed)
        missing = pc.and_(pc.is_null(found), pc.is_valid(where))
        for i in pc.indices_nonzero(missing).to_pylist():
            rid = ids[parent[positions[i].as_py()].as_py()].as_py()
            prefix = where[i]["prefix"].as_py()
            if prefix + "_manifest.json" in inputs:
                relative = where[i]["relative"].as_py()
                problems.append(f"resource {rid}: {prefix}_manifest.json does not list {relative}")
        listed_sha = manifests["sha256"].combine_chunks().take(found)
        listed_size = manifests["size"].combine_chunks().take(found)
        sha = pc.replace_with_mask(checksum, looked_up, listed_sha)
        file_size = pc.replace_with_mask(size, looked_up, listed_size)
        _check_members(rows, lengths, looked_up, sha, file_size, problems)
    hex64 = pc.fill_null(pc.match_substring_regex(sha, "^[0-9a-f]{64}$"), True)
    for position in pc.indices_nonzero(pc.and_(single, pc.invert(hex64))).to_pylist():
        rid = ids[parent[position].as_py()].as_py()
        problems.append(f"resource {rid}: its checksum is not a sha256 (64 lowercase hex digits)")
    # the JSON of each file, then of each row's list of files: plain string formatting, which
    # beats Arrow's element-wise joins of many pieces
    paths_list = flat.to_pylist()
    quoted = _quoted(paths_list)
    one = [
        f'{{"path":{p},"sha256":"{h}","size":{z}}}'
        for p, h, z in zip(quoted, sha.to_pylist(), file_size.to_pylist(), strict=True)
    ]
    out = []
    start = 0
    for length in lengths.to_pylist():
        if length:
            out.append("[" + ",".join(one[start : start + length]) + "]")
            start += length
        else:
            out.append("[]")
    return out


def _quoted(values: list[str]) -> list[str]:
    """Each value as a JSON string; one scan of all of them decides whether any needs escaping."""
    text = "".join(values)
    # substring tests and isprintable() run at C speed; a non-printable character that needs
    # no escape (e.g. U+2028) only takes the slow, exact path
    if '"' in text or "\\" in text or not text.isprintable():
        return [_string(v) for v in values]
    return [f'"{v}"' for v in values]


def _check_members(
    rows: pa.Table,
    lengths: pa.Array,
    looked_up: pa.Array,
    sha: pa.Array,
    size: pa.Array,
    problems: list[str],
) -> None:
    """Check the resources whose files came from manifests: ``size_bytes`` is the sum of their
    files' sizes, and a series' checksum the member checksum of its instances' sha256.

    Args:
        lengths: the number of paths of every row; looked_up, sha, size: per path (the rows'
            paths in order), whether it came from a manifest, its sha256 and size.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if sha.filter(looked_up).null_count:
        return  # missing entries are problems already
    ends = pc.cumulative_sum(lengths)
    starts = pc.subtract(ends, lengths)
    # per row: the sum of its files' sizes (a difference of running sums), and whether any
    # of its files came from a manifest
    running = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(size)])
    totals = pc.subtract(running.take(ends), running.take(starts))
    from_manifest = pa.concat_arrays(
        [pa.array([0], pa.int64()), pc.cumulative_sum(looked_up.cast(pa.int64()))]
    )
    checked = pc.greater(pc.subtract(from_manifest.take(ends), from_manifest.take(starts)), 0)
    ids = rows["id"].combine_chunks()
    expected = rows["size_bytes"].combine_chunks().cast(pa.int64())
    wrong = pc.and_(checked, pc.not_equal(expected, totals))
    for index in pc.indices_nonzero(pc.fill_null(wrong, False)).to_pylist():
        problems.append(
            f"resource {ids[index].as_py()}: its size_bytes {expected[index].as_py()} is not the "
            "sum of its files' sizes in the manifests"
        )
    # a series' checksum: sha256 over its instances' "<sha256>\n" (member_checksum), per row
    series = pc.and_(
        checked,
        pc.and_(
            pc.equal(rows["type"].combine_chunks(), ResourceType.DICOM_SERIES.value),
            pc.is_valid(rows["checksum"].combine_chunks()),
        ),
    )
    if not pc.any(series).as_py():
        return
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), ends])
    lines = pc.binary_join_element_wise(sha, "\n", "")
    grouped = pa.LargeListArray.from_arrays(offsets, lines.cast(pa.large_string()))
    joined = pc.binary_join(grouped, pa.scalar("", pa.large_string()))
    indices = pc.indices_nonzero(series)
    checksums = rows["checksum"].combine_chunks().take(indices).to_pylist()
    for index, text, checksum in zip(
        indices.to_pylist(), joined.take(indices).to_pylist(), checksums, strict=True
    ):
        if hashlib.sha256(text.encode("ascii")).hexdigest() != checksum:
            problems.append(
                f"resource {ids[index].as_py()}: its checksum is not that of its instances in "
                "the manifests"
            )


# the characters json.dumps(ensure_ascii=False) escapes in a string: ", \ and C0 controls
_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _string(value: str) -> str:
    """``value`` as a JSON string, as :func:`canonical_line` writes it (most need no escape)."""
    return _ENCODER.encode(value) if _ESCAPE.search(value) else f'"{value}"'


def _lines(
    client: PlatformClient,
    job: Mapping[str, Any],
    rows: pa.Table,
    problems: list[str],
    inputs: dict[str, FileInput],
) -> list[str]:
    """The lockfile line of every row (rows sorted by id).

    Lines are formatted key by key in sorted order from the columns, rather than by encoding a
    dict per resource: the same bytes as :func:`canonical_line` (a unit test holds them equal)
    at a small part of the cost. ``attributes`` is copied as ``vxp.resources`` stores it:
    canonical JSON by the table's contract (:data:`vxp.ingestion.resources.RESOURCE_SCHEMA`,
    written with ``canonical_json``).
    """
    import pyarrow.compute as pc

    if rows.num_rows == 0:
        return []
    ids = rows["id"].to_pylist()
    attributes = pc.if_else(
        pc.equal(pc.fill_null(rows["attributes"], ""), ""), "{}", rows["attributes"]
    )
    objects = pc.and_(pc.starts_with(attributes, "{"), pc.ends_with(attributes, "}"))
    if not pc.all(objects).as_py():
        bad = rows["id"].filter(pc.invert(objects)).to_pylist()
        problems += [f"resource {rid}: its attributes are not a JSON object" for rid in bad]
    if rows["version"].null_count:
        bad = rows["id"].filter(pc.is_null(rows["version"])).to_pylist()
        problems += [f"resource {rid}: its current row has no version" for rid in bad]
    types = rows["type"].to_pylist()
    unknown = set(types) - {t.value for t in ResourceType}
    if unknown:
        problems.append(f"unknown resource types in vxp.resources: {sorted(map(str, unknown))}")
    if problems:
        return []
    files = _files_column(client, rows, problems, inputs)
    commit = _string(client.commit)
    repository = _string(str(job["repository"]))
    return [
        f'{{"attributes":{a},"commit":{commit},"files":{f},"id":{i},'
        f'"repository":{repository},"type":"{t}","version":{v}}}\n'
        for a, f, i, t, v in zip(
            attributes.to_pylist(),
            files,
            _quoted(ids),
            types,
            rows["version"].to_pylist(),
            strict=True,
        )
    ]


def _write(
    work: Path, selection: Selection, ids: pa.Array, lines: Sequence[str]
) -> list[LockedSplit]:
    """Write every split's file — its members' lines, in id order — with count and sha256.

    Args:
        ids: every selected id, sorted; lines: the line of each, in the same order.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for split in sorted(selection.splits):
        members = pa.array(selection.splits[split], pa.string())
        positions = pc.index_in(members, value_set=ids).to_pylist()
        data = "".join([lines[k] for k in positions]).encode("utf-8")
        (work / lockfile_name(split)).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        out.append(LockedSplit(split, lockfile_name(split), len(members), digest))
    return out
