"""The layer policy's rules, with the policy file served by a stand-in for lakeFS (pure logic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from vxp.checks import policy
from vxp.checks.base import CheckEnv
from vxp.core.settings import Secret, Settings
from vxp.lakefs import Session


class _Objects:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def get_object(self, repo: str, ref: str, path: str) -> bytes | None:
        return self.files.get(path)


def _env(files: dict[str, bytes] | None = None) -> CheckEnv:
    settings = Settings("http://lakefs", "AKIA", Secret("s"))
    session = cast(Session, cast(Any, _Objects(files or {})))
    return CheckEnv(session, settings, Path("/nonexistent"))


def test_only_ingest_branches_merge_into_source_by_default() -> None:
    assert policy.check_merge(_env(), "r", "ingest-lab-1", "source", "base") == []
    (problem,) = policy.check_merge(_env(), "r", "exp-a", "source", "base")
    assert problem.check == "layer-policy" and "ingest-*" in problem.message
    assert policy.check_merge(_env(), "r", "exp-a", "integration", "base") == []


def test_a_repository_widens_the_rule() -> None:
    env = _env({policy.POLICY: b"merge_into_source_from: [exp-*]\n"})
    assert policy.check_merge(env, "r", "exp-a", "source", "base") == []
    assert policy.check_merge(env, "r", "ingest-lab-1", "source", "base") != []


def test_catalog_writes_straight_into_a_layer_are_refused_unless_allowed() -> None:
    (problem,) = policy.check_event(_env(), "r", "vxp-catalog-abc", "integration", "base")
    assert "changes only by merge" in problem.message
    allowed = _env({policy.POLICY: b"table_writes_on: [integration]\n"})
    assert policy.check_event(allowed, "r", "vxp-catalog-abc", "integration", "base") == []
    assert policy.check_event(allowed, "r", "vxp-catalog-abc", "source", "base") != []
    # vxp's own temporary branches and work-branch destinations pass
    assert policy.check_event(_env(), "r", "vxp-merge-x", "source", "base") == []
    assert policy.check_event(_env(), "r", "vxp-catalog-abc", "exp-a", "base") == []


def test_a_malformed_policy_is_a_problem_and_the_default_applies() -> None:
    env = _env({policy.POLICY: b"merge_into_source_from: 3\n"})
    problems = policy.check_merge(env, "r", "ingest-x", "source", "base")
    assert [p.subject for p in problems] == [policy.POLICY]
