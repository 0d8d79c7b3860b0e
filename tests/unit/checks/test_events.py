"""lakeFS's webhook payload (pkg/actions/event.go, EventInfo) as vxp reads it."""

from __future__ import annotations

import pytest

from vxp.checks.events import Event
from vxp.core.errors import InvalidInput

PAYLOAD = {
    "event_type": "pre-merge",
    "event_time": "2026-12-01T00:00:00Z",
    "action_name": "vxp checks",
    "hook_id": "vxp_checks",
    "repository_id": "clinical",
    "branch_id": "integration",
    "source_ref": "a" * 64,
    "commit_id": "b" * 64,
    "commit_message": "merge exp-a into integration",
    "committer": "admin",
    "commit_metadata": {"vxp.allow-breaking": "ticket 42"},
    "merge_source": "vxp-merge-1",
}


def test_a_pre_merge_payload() -> None:
    event = Event.from_json(PAYLOAD)
    assert (event.repository, event.branch, event.commit_id) == (
        "clinical",
        "integration",
        "b" * 64,
    )
    assert event.metadata == {"vxp.allow-breaking": "ticket 42"}
    assert event.merge_source == "vxp-merge-1"


def test_every_missing_field_is_named() -> None:
    body = {k: v for k, v in PAYLOAD.items() if k not in ("repository_id", "commit_id")}
    with pytest.raises(InvalidInput, match="repository_id, commit_id"):
        Event.from_json(body)


def test_events_the_checks_do_not_handle_are_refused() -> None:
    with pytest.raises(InvalidInput, match="post-merge"):
        Event.from_json({**PAYLOAD, "event_type": "post-merge"})


def test_a_pre_create_branch_payload_names_the_commit_the_branch_would_hold() -> None:
    body = {**PAYLOAD, "event_type": "pre-create-branch", "branch_id": "app-study"}
    body.pop("merge_source")
    event = Event.from_json(body)
    assert (event.event_type, event.branch, event.commit_id) == (
        "pre-create-branch",
        "app-study",
        "b" * 64,
    )
    with pytest.raises(InvalidInput, match="commit_id"):
        Event.from_json({k: v for k, v in body.items() if k != "commit_id"})
