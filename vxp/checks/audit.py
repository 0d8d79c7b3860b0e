"""``vxp audit``: layer-branch commits that no passed validation vouches for (a bypass).

Every commit made *on* a layer branch (its first-parent chain, lakeFS keeping the destination
as a merge commit's first parent) must have a signed record of the hooks server
(:mod:`vxp.checks.records`): a merge's by its commit ID, a commit's by branch, parent, message
and metadata. The repository's first commit (no parent) is exempt; commits merged in from work
branches are covered by the merge commit that brought them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vxp.checks.actions import layer_branches
from vxp.checks.records import RecordStore, commit_key
from vxp.lakefs import Session

__all__ = ["AuditResult", "Bypass", "audit"]


@dataclass(frozen=True)
class Bypass:
    """A layer-branch commit without a passing record.

    Attributes:
        branch: the layer branch whose history holds it.
        commit_id: the commit.
        message: its message.
        committer: the lakeFS user who made it.
        date: when (ISO 8601, UTC).
    """

    branch: str
    commit_id: str
    message: str
    committer: str
    date: str

    def to_json(self) -> dict[str, Any]:
        """``{"branch", "commit_id", "message", "committer", "date"}``."""
        return {
            "branch": self.branch,
            "commit_id": self.commit_id,
            "message": self.message,
            "committer": self.committer,
            "date": self.date,
        }


@dataclass(frozen=True)
class AuditResult:
    """What ``audit`` found.

    Attributes:
        repository: the repository.
        checked: how many layer-branch commits were looked at.
        bypasses: the commits without a passing record, newest first per branch.
    """

    repository: str
    checked: int
    bypasses: tuple[Bypass, ...]

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (the hooks server's answer, ``--format json``)."""
        return {
            "repository": self.repository,
            "checked": self.checked,
            "bypasses": [b.to_json() for b in self.bypasses],
        }


def audit(session: Session, repository: str, store: RecordStore) -> AuditResult:
    """Walk each layer branch's first-parent chain and report commits without a record.

    Raises:
        LakeFSNotFound: no such repository.
        LakeFSError: any other refusal of lakeFS.
        OSError: a record cannot be read.
    """
    seen: set[str] = set()
    bypasses: list[Bypass] = []
    for branch in layer_branches(session, repository):
        # one paged log call per branch (1,000 commits a page), not one call per commit
        commits = {c.id: c for c in session.log(repository, branch)}
        commit_id: str | None = session.branch_head(repository, branch)
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
                bypasses.append(
                    Bypass(
                        branch,
                        commit.id,
                        commit.message,
                        commit.committer,
                        commit.date.isoformat(),
                    )
                )
            commit_id = parent
    return AuditResult(repository, len(seen), tuple(bypasses))
