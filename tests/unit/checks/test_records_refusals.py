"""Signed records (forged or edited ones do not count) and reading a refusal from lakeFS's log
of a webhook call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vxp.checks.actions import ACTION_FILE, render, validate
from vxp.checks.base import Report, Target
from vxp.checks.records import RecordStore, acceptance_key, commit_key
from vxp.checks.refusals import parse_output

REPORT = Report(Target("clinical", "integration", "c" * 64, "b" * 64), ("contract",), ())


def test_a_record_holds_only_with_the_secret_it_was_signed_with(tmp_path: Path) -> None:
    store = RecordStore(tmp_path, "secret-1")
    store.put("c" * 64, REPORT, "pre-merge")
    assert store.get("clinical", "c" * 64) is not None
    assert RecordStore(tmp_path, "another").get("clinical", "c" * 64) is None


def test_an_edited_or_copied_record_does_not_count(tmp_path: Path) -> None:
    store = RecordStore(tmp_path, "secret-1")
    store.put("c" * 64, REPORT, "pre-merge")
    path = tmp_path / "clinical" / f"{'c' * 64}.json"
    copied = tmp_path / "clinical" / f"{'d' * 64}.json"
    copied.write_text(path.read_text())
    assert store.get("clinical", "d" * 64) is None
    record = json.loads(path.read_text())
    record["branch"] = "source"
    path.write_text(json.dumps(record))
    assert store.get("clinical", "c" * 64) is None


def test_commit_keys_differ_by_parent_and_message() -> None:
    key = commit_key("app-x", "p1", "m", {})
    assert key != commit_key("app-x", "p2", "m", {})
    assert key != commit_key("app-x", "p1", "n", {})
    assert key == commit_key("app-x", "p1", "m", {})


OUTPUT = (
    "Request:\nPOST http://127.0.0.1:1/v1/lakefs/webhook\nHeaders:\nAuthorization: *******\n"
    'Request Body:\n{"event_type":"pre-merge"}\n\nRequest duration: 5ms\n\nResponse:\n'
    "HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json\r\n\r\n"
    '{"passed":false,"problems":[{"check":"schema","subject":"table a.b","message":"m",'
    '"rows":[],"hint":null}]}Error: action failed: webhook request failed (status code: 412)\n'
)


def test_the_servers_answer_is_read_from_the_hook_output() -> None:
    answer = parse_output(OUTPUT)
    assert answer is not None
    assert answer["problems"][0]["subject"] == "table a.b"


def test_no_answer_when_the_server_was_unreachable() -> None:
    output = (
        "Request:\nPOST http://127.0.0.1:1/x\n\nRequest duration: 1ms\nError: connection refused"
    )
    assert parse_output(output) is None


def test_the_rendered_action_loads_and_broken_ones_are_named() -> None:
    assert validate(render("http://127.0.0.1:8282")) == []
    problems = validate(
        {
            "_lakefs_actions/a.yaml": b"name: x\non: {pre-merge: {}}\nhooks: [{id: 1, type: web}]",
            "_lakefs_actions/b.yaml": b"- a list",
        }
    )
    assert [(p.subject, p.message) for p in problems] == [
        ("_lakefs_actions/a.yaml", "name 'x' is missing or invalid"),
        ("_lakefs_actions/a.yaml", "hook[0] id 1 is invalid"),
        ("_lakefs_actions/a.yaml", "hook[0] type 'web' unknown"),
        ("_lakefs_actions/b.yaml", "an action is a mapping (name, on, hooks)"),
    ]


def test_an_acceptance_holds_only_with_its_secret_and_unedited(tmp_path: Path) -> None:
    store = RecordStore(tmp_path, "s3cret")
    commit = "c" * 64
    record = store.accept("clinical", commit, "  reviewed in #123 ", "ann")
    assert (record["reason"], record["accepted_by"]) == ("reviewed in #123", "ann")
    assert store.get("clinical", acceptance_key(commit)) == record
    assert RecordStore(tmp_path, "other").get("clinical", acceptance_key(commit)) is None
    path = tmp_path / "clinical" / f"{acceptance_key(commit)}.json"
    path.write_text(json.dumps({**record, "reason": "nothing to see"}))
    assert store.get("clinical", acceptance_key(commit)) is None
    with pytest.raises(ValueError, match="reason"):
        store.accept("clinical", commit, " ", "ann")


def test_the_action_hooks_the_creation_of_app_branches_only() -> None:
    action = yaml.safe_load(render("http://hooks:8080")[ACTION_FILE])
    on = action.get("on", action.get(True))
    assert on["pre-create-branch"] == {"branches": ["app-*"]}
    assert validate(render("http://hooks:8080")) == []
