"""The one merge path of vxp: ``vxp merge``, ingestion's merges and CI merges all come here.

A merge of ``source`` into branch ``destination``:

1. lakeFS's merge preview (its three-dot diff) names the paths both sides changed since their
   merge base. A conflicting table pointer is handed to the table-aware merge
   (:mod:`vxp.domain.table_merge`), which merges the two Iceberg histories when they commute, or
   applies the caller's ``ours``/``theirs`` choice; any other conflict, or a table conflict
   without a choice, raises :class:`MergeConflict` and nothing changes.
2. Without conflicts and without a ``check``, lakeFS merges directly.
3. Otherwise the merge is made on a hidden temporary branch cut from the destination's commit:
   ``source`` is merged into it, resolved table pointers are committed on it, ``check`` reads
   that commit, and only then is the temporary branch merged into the destination, which
   therefore gets exactly the checked tree. The temporary branch is deleted whatever happens.

Merges land on protected (layer) branches: lakeFS allows merges where it refuses commits
(lakeFS docs, "Branch Protection Rules").
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vxp.core import errors
from vxp.core.errors import InvalidInput
from vxp.core.layout import parse_namespace_marker, parse_table_pointer
from vxp.core.settings import Settings
from vxp.domain.refs import resolve
from vxp.domain.table_merge import Planned, Planner, Strategy, TableMerge, Unmergeable
from vxp.lakefs import (
    LakeFSBadRequest,
    LakeFSConflict,
    LakeFSError,
    Session,
)

log = logging.getLogger(__name__)

#: commit-metadata key of a merge commit: JSON list of how each table was merged
MERGE_TABLES = "vxp.merge.tables"
#: commit-metadata key: the strategy asked for, per table (JSON object), when any was given
MERGE_STRATEGIES = "vxp.merge.strategies"
TEMP_BRANCH_PREFIX = "vxp-merge-"
#: the key of ``strategies`` that applies to every table (and object) not named
ALL = "*"


@dataclass(frozen=True)
class MergeCandidate:
    """A merge made on a temporary branch, for checks to read before it lands.

    Attributes:
        repository: the repository.
        source: the ref merged from, as the caller named it.
        destination: the branch merged into.
        source_commit: the commit ``source`` named.
        destination_commit: the destination's head the merge was made on.
        merged_commit: a commit holding the merged tree (on the temporary branch); the
            destination gets exactly this tree if the check passes.
    """

    repository: str
    source: str
    destination: str
    source_commit: str
    destination_commit: str
    merged_commit: str


@dataclass(frozen=True)
class MergeResult:
    """A merge that landed.

    Attributes:
        commit_id: the merge commit on the destination.
        tables: how each table both sides changed was merged (empty when none was).
    """

    commit_id: str
    tables: tuple[TableMerge, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``{"commit_id", "tables": [...]}`` for ``--format json``."""
        return {"commit_id": self.commit_id, "tables": [t.to_json() for t in self.tables]}


# --- conflicts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    """A path both sides of a merge changed that vxp could not merge.

    Attributes:
        path: the object path.
        table: the dotted table name when it is a table pointer.
        namespace: the dotted namespace when it is a namespace marker.
        explanation: for a table, which side did what (lines), and why they do not commute.
    """

    path: str
    table: str | None = None
    namespace: str | None = None
    explanation: tuple[str, ...] = ()

    def describe(self) -> str:
        """``table a.b``, ``namespace a`` or ``object path``, then the explanation's lines."""
        if self.table is not None:
            head = f"table {self.table}"
        elif self.namespace is not None:
            head = f"namespace {self.namespace}"
        else:
            head = f"object {self.path}"
        return head + "".join(f"\n    {line}" for line in self.explanation)

    def to_json(self) -> dict[str, Any]:
        """``{"path", "table", "namespace", "explanation", "destination", "source",
        "reasons"}``: ``destination``/``source`` are what each side did since the common
        version (None when not known), ``reasons`` why the two do not commute."""
        sides: dict[str, str | None] = {"destination": None, "source": None}
        reasons: list[str] = []
        for line in self.explanation:
            label, sep, text = line.partition(": ")
            if sep and label in sides:
                sides[label] = text
            else:
                reasons.append(text if sep and label == "conflict" else line)
        return {
            "path": self.path,
            "table": self.table,
            "namespace": self.namespace,
            "explanation": list(self.explanation),
            **sides,
            "reasons": reasons,
        }


class MergeConflict(errors.Conflict):
    """A merge both sides of which changed the same tables or objects in ways vxp cannot combine;
    nothing was changed.

    Args:
        source, destination: the refs of the merge, as the user named them.
        conflicts: the conflicting paths, tables first; the message shows the first
            :attr:`SHOWN` of them, each table with which side did what.

    Attributes:
        conflicts: every conflicting path.
    """

    # thousands of conflicting files must not bury the tables in the message
    SHOWN = 20

    def __init__(self, source: str, destination: str, conflicts: list[Conflict]) -> None:
        lines = "".join(f"\n  {c.describe()}" for c in conflicts[: self.SHOWN])
        if len(conflicts) > self.SHOWN:
            lines += f"\n  … and {len(conflicts) - self.SHOWN} more paths"
        tables = [c.table for c in conflicts if c.table is not None]
        choice = (
            f"choose per table: --strategy {tables[0]}=ours|theirs, or --strategy ours|theirs "
            f"for every conflict (ours keeps the version on {destination}, theirs takes the "
            f"one on {source})"
            if tables
            else f"redo one side's change on a branch cut from {destination!r} and merge that"
        )
        super().__init__(
            f"merging {source!r} into {destination!r} conflicts: both sides changed{lines}\n"
            "nothing was changed",
            hint=choice,
        )
        self.source = source
        self.destination = destination
        self.conflicts = conflicts

    def to_json(self) -> dict[str, Any]:
        """``{"conflict": true, "source", "destination", "message", "hint", "conflicts":
        [Conflict.to_json(), ...]}`` (every conflict, not only the first :attr:`SHOWN`), for
        ``vxp merge --format json``."""
        return {
            "conflict": True,
            "source": self.source,
            "destination": self.destination,
            "message": self.message,
            "hint": self.hint,
            "conflicts": [c.to_json() for c in self.conflicts],
        }


def _conflict(path: str, explanation: tuple[str, ...] = ()) -> Conflict:
    table = parse_table_pointer(path)
    if table is not None:
        return Conflict(path, table=".".join((*table[0], table[1])), explanation=explanation)
    namespace = parse_namespace_marker(path)
    if namespace is not None:
        return Conflict(path, namespace=".".join(namespace))
    return Conflict(path)


def _sorted(found: list[Conflict]) -> list[Conflict]:
    return sorted(found, key=lambda c: (c.table is None, c.namespace is None, c.path))


def conflicting_paths(session: Session, repo: str, source: str, destination: str) -> list[str]:
    """Paths both ``source`` and ``destination`` changed since their merge base, in path order.

    Read from lakeFS's three-dot diff, its merge preview (type ``conflict``).

    Raises:
        LakeFSNotFound: no such repository, ``source`` or ``destination``.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    diffs = session.diff_refs(repo, destination, source, three_dot=True)
    return [d.path for d in diffs if d.type == "conflict"]


def conflicts(session: Session, repo: str, source: str, destination: str) -> list[Conflict]:
    """Every path both sides changed, as :class:`Conflict` (tables first), without explanations.

    Raises:
        LakeFSNotFound: no such repository, ``source`` or ``destination``.
        LakeFSError: any other refusal of lakeFS.
    """
    return _sorted([_conflict(p) for p in conflicting_paths(session, repo, source, destination)])


# --- the merge -----------------------------------------------------------------------------


def parse_strategies(values: list[str]) -> dict[str, Strategy]:
    """``--strategy`` values: ``ours``/``theirs`` for every conflict, ``ns.table=ours|theirs``
    for one table; the key ``*`` (:data:`ALL`) holds the default.

    Raises:
        InvalidInput: every bad value at once, each named.
    """
    result: dict[str, Strategy] = {}
    problems: list[str] = []
    for value in values:
        table, sep, choice = value.rpartition("=")
        key = table.strip() if sep else ALL
        choice = choice.strip()
        if choice not in ("ours", "theirs") or (sep and not key):
            problems.append(f"--strategy {value!r}: expected ours, theirs or TABLE=ours|theirs")
            continue
        if key in result and result[key] != choice:
            problems.append(f"--strategy for {key}: both {result[key]} and {choice}")
            continue
        result[key] = "ours" if choice == "ours" else "theirs"
    if problems:
        raise InvalidInput("; ".join(problems))
    return result


def merge(
    session: Session,
    repository: str,
    source: str,
    destination: str,
    *,
    message: str | None = None,
    metadata: Mapping[str, str] | None = None,
    strategies: Mapping[str, Strategy] | None = None,
    check: Callable[[MergeCandidate], None] | None = None,
    settings: Settings | None = None,
) -> MergeResult:
    """Merge ``source`` (any ref) into branch ``destination``, table-aware.

    Tables both sides changed since the merge base are merged at the Iceberg level when their
    changes commute (see :mod:`vxp.domain.table_merge`); otherwise ``strategies`` decides per
    table (``"ours"``: keep the destination's version; ``"theirs"``: take the source's; key
    :data:`ALL` for every table not named). A conflict nothing decides raises
    :class:`MergeConflict` and nothing changes (DESIGN.md, "Catalog invariants" 5).

    Args:
        message: the merge commit message (default ``merge SOURCE into DESTINATION``).
        metadata: extra commit metadata of the merge commit.
        strategies: dotted table name (or ``*``) → ``ours`` | ``theirs``.
        check: called with the merge made on a temporary branch; it raises to refuse the merge
            (the exception propagates, nothing changes on the destination).
        settings: where table metadata lives (S3 settings on the full stack); needed only when
            tables conflict (default: :meth:`Settings.load`).

    Returns:
        The merge commit and how each table was merged. When the choices keep the destination's
        tree exactly, nothing lands and ``commit_id`` is the destination's head.

    Raises:
        NotFound: no such repository, ``source`` or ``destination``.
        InvalidInput: ``destination`` already has every change of ``source``, or has uncommitted
            changes, or ``strategies`` names a table both sides did not change.
        MergeConflict: both sides changed the same objects, or tables in ways that do not
            commute and no strategy chooses.
        Conflict: the destination moved while the merge was checked; retry.
        LakeFSPreconditionFailed: a pre-merge hook refused the merge.
        LakeFSError: any other refusal of lakeFS (:class:`~vxp.lakefs.LakeFSUnreachable` when it
            cannot be reached).
    """
    chosen = dict(strategies or {})
    source_commit = resolve(session, repository, source)
    destination_commit = resolve(session, repository, destination)
    # lakeFS answers 400 both for "nothing to merge" and for a dirty destination; tell them
    # apart by state, not by lakeFS's message text
    preview = list(session.diff_refs(repository, destination_commit, source_commit, three_dot=True))
    if not preview:
        raise InvalidInput(
            f"nothing to merge: {destination!r} already has every change of {source!r}"
        )
    conflicted = [d.path for d in preview if d.type == "conflict"]
    # the direct merge tells a dirty destination by lakeFS's refusal (see _land); the
    # temporary-branch path would only find out at the end, after writing files
    if (conflicted or check is not None) and session.has_uncommitted(repository, destination):
        raise InvalidInput(
            f"{destination!r} has uncommitted changes, and lakeFS does not merge into a "
            "branch with uncommitted changes",
            hint=f"commit them (vxp commit --branch {destination}) or reset them first",
        )
    _check_named_tables(chosen, conflicted, source, destination)
    tables: list[Planned] = []
    unresolved: list[Conflict] = []
    others: list[str] = []
    for path in conflicted:
        if parse_table_pointer(path) is None:
            others.append(path)
    if others and ALL not in chosen:
        unresolved.extend(_conflict(p) for p in others)
    table_paths = [p for p in conflicted if parse_table_pointer(p) is not None]
    if table_paths:
        planner = Planner(
            session, settings or Settings.load(), repository, source_commit, destination_commit
        )
        for path in table_paths:
            parsed = parse_table_pointer(path)
            assert parsed is not None
            name = ".".join((*parsed[0], parsed[1]))
            outcome = planner.plan(parsed[0], parsed[1], chosen.get(name, chosen.get(ALL)))
            if isinstance(outcome, Unmergeable):
                unresolved.append(_conflict(path, outcome.explanation))
            else:
                tables.append(outcome)
    if unresolved:
        raise MergeConflict(source, destination, _sorted(unresolved))

    text = message or f"merge {source} into {destination}"
    merged_tables = tuple(t.result for t in tables)
    commit_metadata = dict(metadata or {})
    if merged_tables:
        commit_metadata[MERGE_TABLES] = json.dumps(
            [t.to_json() for t in merged_tables], sort_keys=True
        )
    if chosen:
        commit_metadata[MERGE_STRATEGIES] = json.dumps(chosen, sort_keys=True)
    if not conflicted and check is None:
        return MergeResult(_land(session, repository, source, destination, text, commit_metadata))

    # source-wins/dest-wins only settles conflicting paths; the tables among them are then
    # overwritten with their planned pointers
    lakefs_strategy = "source-wins" if chosen.get(ALL) == "theirs" else "dest-wins"
    temp = TEMP_BRANCH_PREFIX + uuid.uuid4().hex[:20]
    # hidden: temporary branches stay out of users' branch listings
    session.create_branch(repository, temp, destination_commit, hidden=True)
    try:
        # only the merge commit that lands on the destination records the merge
        # (MERGE_TABLES): `vxp log` shows each merge once
        merged_commit = session.merge(
            repository,
            source_commit,
            temp,
            f"{text} (prepared on a temporary branch)",
            dict(metadata or {}),
            strategy=lakefs_strategy if conflicted else None,
        )
        changed = False
        for planned in tables:
            planned.write()
            # what lakeFS's strategy left on the temporary branch for this conflicting pointer
            held = planned.source if lakefs_strategy == "source-wins" else planned.destination
            if planned.pointer == held:
                continue
            if planned.pointer is None:
                session.delete_object(repository, temp, planned.pointer_path)
            else:
                session.upload_object(repository, temp, planned.pointer_path, planned.pointer)
            changed = True
        if changed:
            merged_commit = session.commit(
                repository,
                temp,
                f"{text}: tables merged by vxp ({', '.join(t.result.table for t in tables)})",
                {},
            )
        if check is not None:
            check(
                MergeCandidate(
                    repository,
                    source,
                    destination,
                    source_commit,
                    destination_commit,
                    merged_commit,
                )
            )
            if resolve(session, repository, destination) != destination_commit:
                # merging now would combine the checked tree with changes nobody checked
                raise errors.Conflict(
                    f"{destination!r} moved while the merge was being checked; nothing was changed",
                    hint="run the merge again",
                )
        if (
            not changed
            and next(session.diff_refs(repository, destination_commit, merged_commit), None) is None
        ):
            # every choice kept the destination's version: lakeFS refuses a merge that changes
            # nothing (the gateway does not pass lakeFS's allow_empty), so nothing lands
            return MergeResult(destination_commit, merged_tables)
        commit_id = _land(session, repository, temp, destination, text, commit_metadata)
    finally:
        try:
            session.delete_branch(repository, temp)
        except LakeFSError as exc:
            # the merge itself is settled; a leftover hidden branch only costs a ref
            log.warning("could not delete temporary branch %s/%s: %s", repository, temp, exc)
    return MergeResult(commit_id, merged_tables)


def _check_named_tables(
    chosen: Mapping[str, Strategy], conflicted: list[str], source: str, destination: str
) -> None:
    """Refuse per-table strategies for tables both sides did not change (a typo would
    otherwise merge silently with the strategy unused).

    Raises:
        InvalidInput: every such table at once, with the tables in conflict.
    """
    in_conflict = sorted(
        ".".join((*parsed[0], parsed[1]))
        for parsed in map(parse_table_pointer, conflicted)
        if parsed is not None
    )
    unknown = sorted(key for key in chosen if key != ALL and key not in in_conflict)
    if unknown:
        listed = ", ".join(in_conflict) if in_conflict else "none"
        raise InvalidInput(
            f"--strategy names {', '.join(unknown)}: not a table both {source!r} and "
            f"{destination!r} changed (no such table, or only one side changed it); tables "
            f"both sides changed: {listed}; nothing was merged",
            hint="name a table both sides changed, or drop that --strategy",
        )


def _land(
    session: Session,
    repository: str,
    source: str,
    destination: str,
    message: str,
    metadata: Mapping[str, str],
) -> str:
    try:
        return session.merge(repository, source, destination, message, metadata)
    except LakeFSConflict as exc:
        # the destination moved since the preview: report what conflicts now
        found = conflicts(session, repository, source, destination)
        if found:
            raise MergeConflict(source, destination, found) from exc
        raise
    except LakeFSBadRequest as exc:
        if session.has_uncommitted(repository, destination):
            raise InvalidInput(
                f"{destination!r} has uncommitted changes, and lakeFS does not merge into a "
                "branch with uncommitted changes",
                hint=f"commit them (vxp commit --branch {destination}) or reset them first",
            ) from exc
        raise
