"""The request limits' pure rules and the caller check's interval (a fake lakeFS: pure logic)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from vxp.catalog.auth import Caller, CallerCheck
from vxp.catalog.errors import BadRequest, NotAuthorized
from vxp.catalog.limits import (
    LAKEFS_MAX_PATH,
    RequestLimits,
    check_entry_path,
    check_properties,
)
from vxp.core.errors import Unauthorized
from vxp.core.layout import table_pointer


def test_every_oversized_property_is_named_at_once() -> None:
    body = {
        "updates": [
            {"action": "set-properties", "updates": {"a": "x" * 11, "ok": "y"}},
            {"action": "set-properties", "updates": {"b" * 11: "z"}},
        ],
        "properties": {"c": "\udfff" * 4},
    }
    with pytest.raises(BadRequest) as caught:
        check_properties(body, 10)
    message = caught.value.message
    assert "'a' (11 bytes)" in message
    assert "a key of 11 bytes" in message
    assert "'c' (12 bytes)" in message
    assert "'ok'" not in message
    check_properties(body, 12)


def test_an_entry_path_at_lakefs_limit_passes_one_byte_more_does_not() -> None:
    namespace = ("n" * 200,)
    fixed = len(table_pointer(namespace, ""))
    check_entry_path(namespace, "t" * (LAKEFS_MAX_PATH - fixed))
    with pytest.raises(BadRequest, match="1024"):
        check_entry_path(namespace, "t" * (LAKEFS_MAX_PATH - fixed + 1))


class _Session:
    def __init__(self, answers: list[str | None]) -> None:
        self.answers = answers

    def current_user(self) -> str:
        answer = self.answers.pop(0)
        if answer is None:
            raise Unauthorized("gone")
        return answer


class _LakeFS:
    def __init__(self, answers: list[str | None]) -> None:
        self.session = _Session(answers)
        self.asked = 0

    def as_user(self, access_key_id: str, secret_access_key: str) -> _Session:
        self.asked += 1
        return self.session


def test_the_caller_check_asks_lakefs_once_per_interval() -> None:
    now = [0.0]
    lakefs = _LakeFS(["admin", "admin", None])
    check = CallerCheck(lakefs, 10, clock=lambda: now[0])  # type: ignore[arg-type]
    caller = Caller("AKIA", "secret", "admin")
    assert check.confirm(caller) is caller
    now[0] = 9.9
    check.confirm(caller)
    assert lakefs.asked == 1
    now[0] = 10.0
    check.confirm(caller)
    assert lakefs.asked == 2
    now[0] = 20.0
    with pytest.raises(NotAuthorized, match="no longer accepts"):
        check.confirm(caller)


def test_a_key_pair_now_of_another_user_is_refused() -> None:
    check = CallerCheck(_LakeFS(["mallory"]), 10)  # type: ignore[arg-type]
    with pytest.raises(NotAuthorized, match="another lakeFS user"):
        check.confirm(Caller("AKIA", "secret", "admin"))


def test_repr_of_a_caller_shows_no_secret() -> None:
    assert "s3cr3t" not in repr(Caller("AKIA", "s3cr3t", "admin"))


def _echo_app() -> Starlette:
    async def echo(request: Request) -> Response:
        return Response(await request.body())

    return Starlette(routes=[Route("/echo", echo, methods=["POST"])])


def test_a_body_within_the_limit_reaches_the_route_intact() -> None:
    app = RequestLimits(_echo_app(), max_request_bytes=100, max_property_bytes=10)
    body = b'{"properties": {"a": "0123456789"}}'
    with TestClient(app) as client:
        response = client.post("/echo", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.content) == (200, body)


def test_a_streamed_body_past_the_limit_is_a_413_without_a_length_header() -> None:
    app = RequestLimits(_echo_app(), max_request_bytes=100, max_property_bytes=10)

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 10

    with TestClient(app) as client:
        streamed = client.post("/echo", content=chunks())
        declared = client.post("/echo", content=b"x" * 101)
        too_long = client.post(
            "/echo",
            content=b'{"properties": {"a": "01234567890"}}',
            headers={"content-type": "application/json"},
        )
    assert streamed.status_code == declared.status_code == 413
    assert streamed.json()["error"]["type"] == "BadRequestException"
    assert too_long.status_code == 400
    assert "'a' (11 bytes)" in too_long.json()["error"]["message"]
