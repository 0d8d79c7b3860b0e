"""What the clinical and BIDS materializers share: the locked subjects per study, and the data
dictionary the study was delivered with, both read at the lockfile's pinned commit.

**Which dictionary.** ``vxp ingest study`` lands every delivered file under
``raw/<source>/<run>/`` with a ``_manifest.json`` (DESIGN.md, "What a ref holds"). The dictionary
of a study at a commit is the ``contents.csv`` or ``datapackage.json`` at the top of the latest
study run of that source that the commit holds (run ids sort by time), found through the run's
manifest and read with its sha256 checked. A study delivered with ``--dictionary PATH`` from
outside the delivery folder has no dictionary in ``raw/``: then only the tables' own schemas
describe the columns.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vxp.core.errors import InvalidInput
from vxp.ingestion.problems import Problems
from vxp.ingestion.study.dictionary import DICTIONARY_NAMES, Dictionary, load_dictionary

from .base import MaterializeContext
from .lockfile import LockedFile, LockedResource

__all__ = ["DeliveredDictionary", "StudyScope", "delivered_dictionary", "study_scopes"]

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class StudyScope:
    """The locked subjects of one study (source) at one commit.

    Attributes:
        repository, commit: where the study is read.
        source: the source (``trial/<source>``; the tables' namespace).
        subjects: the subject values (``BASEL-001``), sorted.
        resources: the locked resources of the study, sorted by id.
    """

    repository: str
    commit: str
    source: str
    subjects: tuple[str, ...]
    resources: tuple[LockedResource, ...]


def study_scopes(resources: Iterable[LockedResource], materializer: str) -> list[StudyScope]:
    """Group the locked resources by study and find each study's subjects.

    A resource's subject is the nearest ``Subject`` at or above it (ids are paths): a locked
    DICOM series brings its subject as much as a locked ``Subject`` does.

    Raises:
        InvalidInput: one study of one repository is locked at two commits (its tables would
            have two versions); the message names both.
    """
    grouped: dict[tuple[str, str, str], list[LockedResource]] = defaultdict(list)
    for resource in resources:
        grouped[(resource.repository, resource.source, resource.commit)].append(resource)
    commits: dict[tuple[str, str], list[str]] = defaultdict(list)
    for repository, source, commit in grouped:
        commits[(repository, source)].append(commit)
    clashes = [
        f"{repository}: trial/{source} at " + ", ".join(c[:12] for c in sorted(found))
        for (repository, source), found in sorted(commits.items())
        if len(found) > 1
    ]
    if clashes:
        raise InvalidInput(
            f"{materializer} needs each study at one commit; the lockfiles pin "
            + "; ".join(clashes),
            hint="materialize lockfiles of one lock run together",
        )
    scopes = []
    for (repository, source, commit), members in sorted(grouped.items()):
        subjects = sorted({r.subject for r in members if r.subject is not None})
        scopes.append(
            StudyScope(repository, commit, source, tuple(subjects), tuple(sorted(members, key=_id)))
        )
    return scopes


def _id(resource: LockedResource) -> str:
    return resource.id


@dataclass(frozen=True)
class DeliveredDictionary:
    """A study's data dictionary as delivered (see the module docstring).

    Attributes:
        run: the study run that delivered it.
        name: its path in the delivery (``contents.csv``).
        file: the object, its sha256 and size.
        dictionary: its datasets and variables (labels, key flags, types).
    """

    run: str
    name: str
    file: LockedFile
    dictionary: Dictionary

    def label(self, dataset: str, column: str) -> str:
        """The variable's label (``""`` when the dictionary has none)."""
        spec = self.dictionary.dataset(dataset)
        if spec is None:
            return ""
        variable = next((v for v in spec.variables if v.column == column.lower()), None)
        return variable.label if variable is not None else ""

    def key(self, dataset: str) -> list[str]:
        """The dataset's natural key columns (lower-case), in dictionary order."""
        spec = self.dictionary.dataset(dataset)
        return [] if spec is None else spec.key_columns


def _study_runs(context: MaterializeContext, scope: StudyScope) -> list[tuple[str, dict[str, Any]]]:
    """Study runs of the source at the commit, newest first, with their manifests."""
    prefix = f"raw/{scope.source}/"
    runs = [
        p for p in context.list_objects(scope.repository, scope.commit, prefix) if p.endswith("/")
    ]
    found = []
    for run_prefix in sorted(runs, reverse=True):
        raw = context.read_object(scope.repository, scope.commit, run_prefix + MANIFEST)
        if raw is None:
            continue
        try:
            manifest = json.loads(raw)
        except ValueError:
            continue
        if isinstance(manifest, dict) and manifest.get("kind") == "study":
            found.append((run_prefix, manifest))
    return found


def _object(run_prefix: str, entry: Mapping[str, Any]) -> LockedFile:
    path = entry.get("stored_at") or run_prefix + str(entry["path"])
    return LockedFile(str(path), str(entry["sha256"]), int(entry["size"]))


def delivered_dictionary(
    context: MaterializeContext, scope: StudyScope
) -> DeliveredDictionary | None:
    """The dictionary the latest study run of ``scope`` delivered, fetched (sha256 checked)
    and parsed; None when the commit holds no study run or its delivery had no dictionary.

    Raises:
        ChecksumMismatch: the dictionary's bytes do not match its manifest entry.
    """
    runs = _study_runs(context, scope)
    if not runs:
        return None
    run_prefix, manifest = runs[0]
    entries = [e for e in manifest.get("files", ()) if isinstance(e, dict) and "path" in e]
    chosen = next((e for e in entries if str(e["path"]).lower() in DICTIONARY_NAMES), None)
    if chosen is None:
        return None
    # a datapackage.json may keep its schemas in files beside it: fetch the delivery's JSON too
    wanted = [chosen]
    if str(chosen["path"]).lower().endswith(".json"):
        wanted += [
            e for e in entries if str(e["path"]).lower().endswith(".json") and e is not chosen
        ]
    files = {str(e["path"]): _object(run_prefix, e) for e in wanted}
    context.fetch_objects(scope.repository, scope.commit, list(files.values()))
    with context.scratch() as folder:
        for name, file in files.items():
            target = folder.joinpath(*name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(context.cached(file).read_bytes())
        name = str(chosen["path"])
        problems = Problems()
        dictionary = load_dictionary(folder.joinpath(*name.split("/")), problems, display=name)
    run = run_prefix.rstrip("/").rsplit("/", 1)[1]
    return DeliveredDictionary(run, name, files[name], dictionary)
