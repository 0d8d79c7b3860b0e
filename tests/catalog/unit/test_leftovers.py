"""Which temporary branches are leftovers, and how a lost merge answer is settled (a fake
session: pure logic over what lakeFS would answer)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from vxp.catalog import leftovers
from vxp.catalog.errors import CommitStateUnknown
from vxp.lakefs import LakeFSUnreachable
from vxp.lakefs._client import Commit

NOW = 1_800_000_000.0


def test_a_new_name_is_a_valid_lakefs_branch_name_with_its_time() -> None:
    name = leftovers.new_temp_branch(NOW)
    assert re.fullmatch(r"\w[-\w]*", name)
    assert leftovers.made_at(name) == pytest.approx(NOW)
    leftovers.release(name)


def test_a_branch_made_ahead_is_named_so_and_swept_like_any_other() -> None:
    ahead = leftovers.new_temp_branch(NOW - 901, ahead=True)
    plain = leftovers.new_temp_branch(NOW)
    assert re.fullmatch(r"\w[-\w]*", ahead)
    assert leftovers.made_ahead(ahead)
    assert not leftovers.made_ahead(plain)
    assert not leftovers.made_ahead("vxp-catalog-" + "a" * 20)
    assert leftovers.made_at(ahead) == pytest.approx(NOW - 901)
    leftovers.release(ahead)
    leftovers.release(plain)
    assert "past the 900 s lease" in str(leftovers.is_leftover(ahead, None, NOW, 900))


def test_only_branches_past_the_lease_and_not_in_use_are_leftovers() -> None:
    old = leftovers.new_temp_branch(NOW - 901)
    assert leftovers.is_leftover(old, None, NOW, 900) is None  # this process still uses it
    leftovers.release(old)
    assert "past the 900 s lease" in str(leftovers.is_leftover(old, None, NOW, 900))
    young = leftovers.new_temp_branch(NOW - 899)
    leftovers.release(young)
    assert leftovers.is_leftover(young, None, NOW, 900) is None
    legacy = "vxp-catalog-" + "a" * 20
    assert leftovers.is_leftover(legacy, datetime.fromtimestamp(NOW - 100, UTC), NOW, 900) is None
    assert leftovers.is_leftover(legacy, datetime.fromtimestamp(NOW - 1000, UTC), NOW, 900)
    assert leftovers.is_leftover("vxp-catalog-mine", None, NOW, 900) is None


class _Log:
    """What ``Session.log`` answers, one list per call; None: lakeFS unreachable."""

    def __init__(self, answers: list[list[Commit] | None]) -> None:
        self.answers = answers

    def log(self, repo: str, ref: str) -> Iterator[Commit]:
        answer = self.answers.pop(0)
        if answer is None:
            raise _lost(httpx.ConnectError("refused"))
        return iter(answer)


def _lost(cause: Exception) -> LakeFSUnreachable:
    error = LakeFSUnreachable("lakeFS is unreachable", status=0, detail=str(cause))
    error.__cause__ = cause
    return error


def _commit(id_: str, landing: str | None = None) -> Commit:
    return Commit(id=id_, parents=(), metadata={leftovers.LANDING: landing} if landing else {})


def test_a_lost_answer_whose_commit_is_on_the_branch_landed() -> None:
    session = _Log([None, [_commit("c3"), _commit("c2", "tmp"), _commit("base")]])
    lost = _lost(httpx.ReadTimeout("slow"))
    assert leftovers.settle_lost_merge(
        session,  # type: ignore[arg-type]
        "r",
        "main",
        "base",
        "tmp",
        lost,
        wait=lambda _: None,
    )


def test_a_merge_that_never_left_did_not_land() -> None:
    session = _Log([[_commit("c2", "other"), _commit("base")]])
    lost = _lost(httpx.ConnectError("refused"))
    assert not leftovers.settle_lost_merge(
        session,  # type: ignore[arg-type]
        "r",
        "main",
        "base",
        "tmp",
        lost,
        wait=lambda _: None,
    )


def test_a_sent_merge_not_found_stays_unknown_after_the_looks() -> None:
    waits: list[float] = []
    session = _Log([[_commit("base")]] * 4)
    lost = _lost(httpx.ReadTimeout("slow"))
    with pytest.raises(CommitStateUnknown):
        leftovers.settle_lost_merge(
            session,  # type: ignore[arg-type]
            "r",
            "main",
            "base",
            "tmp",
            lost,
            wait=waits.append,
        )
    assert waits == [1.0, 2.0, 4.0]
