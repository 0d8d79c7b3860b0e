"""``vxp audit``: layer-branch commits that no passed validation vouches for (a bypass), and
layer branches the checks no longer guard.

Every commit made *on* a layer branch (its first-parent chain, lakeFS keeping the destination
as a merge commit's first parent) must have a signed record of the hooks server
(:mod:`vxp.checks.records`): a merge's by its commit ID, a commit's by branch, parent, message
and metadata. The repository's first commit (no parent) is exempt; commits merged in from work
branches are covered by the merge commit that brought them. A bypass someone reviewed and
accepted (``vxp audit --accept``, a signed record too) is still listed, with its reason, but no
longer fails the audit.

Besides commits, each layer branch's head is checked for what lakeFS needs to keep guarding it
(vxp's action under ``_lakefs_actions/``), and each ``app-*`` head for columns marked PHI, which
an application branch created before the pre-create-branch hook may hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vxp.checks.actions import ACTIONS_DIR, differences, layer_branches, read_actions
from vxp.checks.base import APP_PREFIX, Problem
from vxp.checks.records import RecordStore, acceptance_key, commit_key
from vxp.lakefs import Commit, Session

__all__ = ["AuditResult", "Bypass", "Finding", "audit"]

#: (repository, branch, head commit) → PHI problems of that tree (the hooks server's no-PHI check)
PhiCheck = Callable[[str, str, str], list[Problem]]


@dataclass(frozen=True)
class Bypass:
    """A layer-branch commit without a passing record.

    Attributes:
        branch: the layer branch whose history holds it.
        commit_id: the commit.
        message: its message.
        committer: the lakeFS user who made it.
        date: when (ISO 8601, UTC).
        hint: what most likely happened, and how to settle it.
        accepted_reason: why it was accepted (``vxp audit --accept``), or "" when it was not.
        accepted_by: the lakeFS user who accepted it, or "".
        accepted_at: when (ISO 8601, UTC), or "".
    """

    branch: str
    commit_id: str
    message: str
    committer: str
    date: str
    hint: str = ""
    accepted_reason: str = ""
    accepted_by: str = ""
    accepted_at: str = ""

    @property
    def accepted(self) -> bool:
        """True when a signed acceptance covers this bypass."""
        return bool(self.accepted_reason)

    def to_json(self) -> dict[str, Any]:
        """Every attribute by name."""
        return {
            "branch": self.branch,
            "commit_id": self.commit_id,
            "message": self.message,
            "committer": self.committer,
            "date": self.date,
            "hint": self.hint,
            "accepted_reason": self.accepted_reason,
            "accepted_by": self.accepted_by,
            "accepted_at": self.accepted_at,
        }


@dataclass(frozen=True)
class Finding:
    """Something wrong at a layer branch's head (not a commit of its history).

    Attributes:
        branch: the layer branch.
        kind: ``no-actions`` (no ``_lakefs_actions/``: lakeFS runs no check there),
            ``actions`` (an action that is not this installation's), or ``phi`` (an ``app-*``
            head holds columns marked PHI).
        subject: what it is about (a folder, a table).
        message: what is wrong.
        hint: how to settle it.
    """

    branch: str
    kind: str
    subject: str
    message: str
    hint: str

    def to_json(self) -> dict[str, Any]:
        """Every attribute by name."""
        return {
            "branch": self.branch,
            "kind": self.kind,
            "subject": self.subject,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class AuditResult:
    """What ``audit`` found.

    Attributes:
        repository: the repository.
        checked: how many layer-branch commits were looked at.
        bypasses: the commits without a passing record, newest first per branch (accepted
            ones included, marked).
        findings: problems at layer-branch heads.
    """

    repository: str
    checked: int
    bypasses: tuple[Bypass, ...]
    findings: tuple[Finding, ...] = ()

    @property
    def failed(self) -> bool:
        """True when a bypass is not accepted or a head has a finding (``vxp audit`` exits 1)."""
        return bool(self.findings) or any(not b.accepted for b in self.bypasses)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (the hooks server's answer, ``--format json``)."""
        return {
            "repository": self.repository,
            "checked": self.checked,
            "bypasses": [b.to_json() for b in self.bypasses],
            "findings": [f.to_json() for f in self.findings],
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AuditResult:
        """The inverse of :meth:`to_json` (fields an older server leaves out default)."""
        return cls(
            repository=str(body["repository"]),
            checked=int(body["checked"]),
            bypasses=tuple(Bypass(**item) for item in body.get("bypasses", ())),
            findings=tuple(Finding(**item) for item in body.get("findings", ())),
        )


def _hint(session: Session, repository: str, branch: str, commit: Commit) -> str:
    accept = (
        f"once reviewed and kept: vxp audit --repo {repository} --accept {commit.id} --reason '…'"
    )
    diff = f"vxp diff --repo {repository} {commit.parents[0][:12]} {commit.id[:12]}"
    review = f"review it with `{diff}`"
    if len(commit.parents) > 1:
        unguarded = not any(
            True for _ in session.list_objects(repository, commit.parents[1], ACTIONS_DIR)
        )
        what = (
            "merged from a commit without _lakefs_actions/, so lakeFS ran no hook"
            if unguarded
            else "merged while the hooks were off or the hooks server kept no record"
        )
        fix = f"undo it by a checked merge (`vxp merge`) into {branch} if it is wrong"
    else:
        what = "committed straight onto the layer branch with no hook (protection lifted, or "
        what += "the action missing at the time)"
        fix = f"undo or redo it by a checked merge into {branch} if it is wrong"
    return f"{what}; {review}; {fix}; {accept}"


def _head_findings(
    session: Session,
    repository: str,
    branch: str,
    head: str,
    expected: Mapping[str, bytes] | None,
    phi_check: PhiCheck | None,
) -> list[Finding]:
    found: list[Finding] = []
    have = read_actions(session, repository, head)
    if not have:
        found.append(
            Finding(
                branch,
                "no-actions",
                f"folder {ACTIONS_DIR}",
                f"{branch} has no {ACTIONS_DIR} at its head: lakeFS no longer runs vxp's checks "
                "on its commits and merges",
                f"run `vxp hooks install --repo {repository}`",
            )
        )
    elif expected is not None and (wrong := differences(have, expected)):
        found.append(
            Finding(
                branch,
                "actions",
                f"folder {ACTIONS_DIR}",
                f"{branch}'s action is not this installation's: " + "; ".join(wrong),
                f"run `vxp hooks install --repo {repository}`",
            )
        )
    if phi_check is not None and branch.startswith(APP_PREFIX):
        for problem in phi_check(repository, branch, head):
            found.append(
                Finding(
                    branch,
                    "phi",
                    problem.subject,
                    problem.message,
                    f"{problem.hint}; a branch created before vxp hooked branch creation can "
                    "hold them: drop them on a work branch and merge it, or delete the branch",
                )
            )
    return found


def audit(
    session: Session,
    repository: str,
    store: RecordStore,
    *,
    expected: Mapping[str, bytes] | None = None,
    phi_check: PhiCheck | None = None,
) -> AuditResult:
    """Walk each layer branch's first-parent chain and report commits without a record, and
    check each layer branch's head.

    Args:
        session: the caller's lakeFS session.
        repository: the repository.
        store: the hooks server's records (validations and acceptances).
        expected: this installation's action files; a head with others is a finding.
        phi_check: the no-PHI check, run on each ``app-*`` head.

    Raises:
        LakeFSNotFound: no such repository.
        LakeFSError: any other refusal of lakeFS.
        OSError: a record cannot be read.
    """
    seen: set[str] = set()
    bypasses: list[Bypass] = []
    findings: list[Finding] = []
    for branch in layer_branches(session, repository):
        # one paged log call per branch (1,000 commits a page), not one call per commit
        commits = {c.id: c for c in session.log(repository, branch)}
        head = session.branch_head(repository, branch)
        if head is not None:
            findings += _head_findings(session, repository, branch, head, expected, phi_check)
        commit_id: str | None = head
        while commit_id is not None and commit_id not in seen:
            seen.add(commit_id)
            commit = commits.get(commit_id) or session.get_commit(repository, commit_id)
            if commit is None or not commit.parents:
                break
            parent = commit.parents[0]
            vouched = store.get(repository, commit.id) is not None or (
                len(commit.parents) == 1
                and store.get(
                    repository, commit_key(branch, parent, commit.message, commit.metadata)
                )
                is not None
            )
            if not vouched:
                accepted = store.get(repository, acceptance_key(commit.id)) or {}
                bypasses.append(
                    Bypass(
                        branch,
                        commit.id,
                        commit.message,
                        commit.committer,
                        commit.date.isoformat(),
                        _hint(session, repository, branch, commit),
                        str(accepted.get("reason", "")),
                        str(accepted.get("accepted_by", "")),
                        str(accepted.get("accepted_at", "")),
                    )
                )
            commit_id = parent
    return AuditResult(repository, len(seen), tuple(bypasses), tuple(findings))
