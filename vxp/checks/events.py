"""lakeFS's webhook payload (``pkg/actions/event.go``, ``EventInfo``) as a :class:`Target`, and
the validation the hooks server runs for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vxp.checks import phi, policy
from vxp.checks.actions import ACTIONS_DIR, differences, read_actions
from vxp.checks.base import CheckEnv, Problem, Report, Target
from vxp.checks.records import commit_key
from vxp.checks.runner import run_checks
from vxp.core.errors import InvalidInput

__all__ = ["Event", "validate_event"]

SUPPORTED = ("pre-commit", "pre-merge", "pre-create-branch")
#: lakeFS's event before a branch is created (``pkg/graveler``: ``commit_id`` is the commit the
#: new branch will point at, ``source_ref`` the ref it was asked from)
CREATE_BRANCH = "pre-create-branch"


@dataclass(frozen=True)
class Event:
    """The fields of lakeFS's webhook payload the checks use.

    Attributes:
        event_type: ``pre-commit``, ``pre-merge`` or ``pre-create-branch``.
        repository: ``repository_id``.
        branch: ``branch_id`` (a merge's destination; the branch to be created).
        commit_id: for a pre-merge, the merged commit (already readable); for a
            pre-create-branch, the commit the new branch would point at; "" for a pre-commit.
        source_ref: a pre-merge's source commit; a pre-commit's branch.
        merge_source: the ref the merge was asked from, or "".
        message: ``commit_message``.
        metadata: ``commit_metadata``.
    """

    event_type: str
    repository: str
    branch: str
    commit_id: str
    source_ref: str
    merge_source: str
    message: str
    metadata: Mapping[str, str]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Event:
        """The event from lakeFS's JSON.

        Raises:
            InvalidInput: a field the checks need is missing, or the event is not supported.
        """
        event_type = str(body.get("event_type") or "")
        missing = [k for k in ("repository_id", "branch_id") if not body.get(k)]
        if event_type in ("pre-merge", CREATE_BRANCH) and not body.get("commit_id"):
            missing.append("commit_id")
        if missing:
            raise InvalidInput(f"the webhook payload lacks {', '.join(missing)}")
        if event_type not in SUPPORTED:
            raise InvalidInput(f"event {event_type!r} is not checked (only {', '.join(SUPPORTED)})")
        return cls(
            event_type=event_type,
            repository=str(body["repository_id"]),
            branch=str(body["branch_id"]),
            commit_id=str(body.get("commit_id") or ""),
            source_ref=str(body.get("source_ref") or ""),
            merge_source=str(body.get("merge_source") or ""),
            message=str(body.get("commit_message") or ""),
            metadata={str(k): str(v) for k, v in (body.get("commit_metadata") or {}).items()},
        )


def target_of(env: CheckEnv, event: Event) -> tuple[Target, str]:
    """The tree ``event`` proposes, and the key its record gets.

    A pre-merge's merged commit exists already (lakeFS adds it before the hook runs): its first
    parent is the destination's head. A pre-commit's tree is the branch with its staged changes.

    Raises:
        LakeFSError: lakeFS refused a read.
        InvalidInput: the merged commit does not exist.
    """
    if event.event_type == CREATE_BRANCH:
        # no commit is made: the new branch would hold exactly the source commit's tree
        target = Target(
            event.repository, event.branch, event.commit_id, None, {}, event.source_ref or None
        )
        return target, ""
    if event.event_type == "pre-merge":
        merged = env.session.get_commit(event.repository, event.commit_id)
        if merged is None:
            raise InvalidInput(f"the merged commit {event.commit_id} does not exist")
        base = merged.parents[0] if merged.parents else None
        target = Target(
            event.repository,
            event.branch,
            event.commit_id,
            base,
            event.metadata,
            event.merge_source or event.source_ref,
        )
        return target, event.commit_id
    head = env.session.branch_head(event.repository, event.branch)
    target = Target(event.repository, event.branch, event.branch, head, event.metadata)
    return target, commit_key(event.branch, head or "", event.message, event.metadata)


def validate_event(env: CheckEnv, event: Event, expected: Mapping[str, bytes]) -> Report:
    """Run every check on ``event``'s tree, and check that its ``_lakefs_actions/`` are exactly
    ``expected`` (a change that edits or drops the action would switch the checks off).

    Returns:
        The report; its problems refuse the change.

    Raises:
        VxpError: a check could not run (the server then refuses: hooks fail closed).
        LakeFSError: lakeFS refused a read.
    """
    target, _ = target_of(env, event)
    if event.event_type == CREATE_BRANCH:
        # only an application branch's creation is hooked (see actions.render): its tree is a
        # commit that already passed its own branch's checks, so only no-PHI is new to it
        if not phi.applies(target):
            return Report(target, (), ())
        return Report(target, (phi.NAME,), tuple(phi.check(env, target)))
    report = run_checks(env, target)
    if event.event_type == "pre-merge":
        ruled = policy.check_event(
            env, target.repository, event.merge_source, target.branch, target.base
        )
        if ruled:
            report = Report(
                target, (*report.checks, policy.NAME), (*report.problems, *ruled), report.notes
            )
    have = read_actions(env.session, target.repository, target.ref)
    wrong = differences(have, expected)
    if not wrong:
        return report
    problems = (
        *report.problems,
        Problem(
            "actions",
            f"folder {ACTIONS_DIR}",
            "the change would leave the layer branch without vxp's action: " + "; ".join(wrong),
            hint="merge from a branch cut from the layer branch (it carries the action), or run "
            "`vxp hooks install`",
        ),
    )
    return Report(target, (*report.checks, "actions"), problems, report.notes)
