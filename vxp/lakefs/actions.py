"""lakeFS's actions API over the gateway: action runs, their hook runs and each hook's output.

A hook that refuses a commit or merge reaches the client only as a bare 412 whose message names
the run (``pre-merge hook aborted, run id '…'``); the reason is in the hook run's output, which
holds the webhook's request and the hooks server's whole response (lakeFS, ``pkg/actions``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vxp.lakefs._client import Session, _seg

__all__ = ["ActionRun", "HookRun", "hook_output", "hook_runs", "list_runs", "run_id_of"]

# lakeFS's HookAbortError: "<event> hook aborted, run id '<id>': <error>"
_RUN_ID = re.compile(r"run id '([^']+)'")


@dataclass(frozen=True)
class ActionRun:
    """One run of a repository's actions for one event (lakeFS's ``ActionRun``).

    Attributes:
        run_id: the run's ID.
        branch: the branch of the event (a merge's destination).
        event_type: ``pre-commit``, ``pre-merge``, …
        status: ``completed`` or ``failed`` (``running`` while it runs).
        commit_id: the commit of the event (for a pre-merge, the merged commit), or "".
    """

    run_id: str
    branch: str
    event_type: str
    status: str
    commit_id: str

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> ActionRun:
        """A run from lakeFS's JSON."""
        return cls(
            run_id=str(item["run_id"]),
            branch=str(item.get("branch") or ""),
            event_type=str(item.get("event_type") or ""),
            status=str(item.get("status") or ""),
            commit_id=str(item.get("commit_id") or ""),
        )


@dataclass(frozen=True)
class HookRun:
    """One hook of an action run (lakeFS's ``HookRun``).

    Attributes:
        hook_run_id: its ID, for :func:`hook_output`.
        action: the action's name.
        hook_id: the hook's ``id`` in the action file.
        status: ``completed``, ``failed`` or ``skipped``.
    """

    hook_run_id: str
    action: str
    hook_id: str
    status: str


def run_id_of(detail: str) -> str | None:
    """The run ID lakeFS names in a 412's message (its ``HookAbortError``), or None."""
    found = _RUN_ID.search(detail)
    return found.group(1) if found else None


def list_runs(
    session: Session, repo: str, *, branch: str | None = None, commit: str | None = None
) -> list[ActionRun]:
    """The repository's action runs, newest first; only ``branch``'s or ``commit``'s if given.

    Raises:
        LakeFSNotFound: no such repository.
        LakeFSError: any other error answer; :class:`~vxp.lakefs.LakeFSUnreachable` when lakeFS
            cannot be reached.
    """
    params: dict[str, str] = {}
    if branch is not None:
        params["branch"] = branch
    if commit is not None:
        params["commit"] = commit
    path = f"/repositories/{_seg(repo)}/actions/runs"
    return [ActionRun.from_json(item) for item in session._pages(path, params)]


def hook_runs(session: Session, repo: str, run_id: str) -> list[HookRun]:
    """The hooks of action run ``run_id``.

    Raises:
        LakeFSNotFound: no such repository or run.
        LakeFSError: any other error answer.
    """
    path = f"/repositories/{_seg(repo)}/actions/runs/{_seg(run_id)}/hooks"
    return [
        HookRun(
            hook_run_id=str(item["hook_run_id"]),
            action=str(item.get("action") or ""),
            hook_id=str(item.get("hook_id") or ""),
            status=str(item.get("status") or ""),
        )
        for item in session._pages(path)
    ]


def hook_output(session: Session, repo: str, run_id: str, hook_run_id: str) -> str:
    """The output lakeFS kept of one hook run: for a webhook, its request and the whole response.

    Raises:
        LakeFSNotFound: no such repository, run or hook run.
        LakeFSError: any other error answer.
    """
    path = (
        f"/repositories/{_seg(repo)}/actions/runs/{_seg(run_id)}/hooks/{_seg(hook_run_id)}/output"
    )
    return session._request("GET", path).text
