"""Request ids and unexpected failures: the id in the header, the body and the log; a failure's
text never in the body; the exception never escapes the app (which would make the server close
the client's keep-alive connection)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi.testclient import TestClient

from vxp.catalog.app import create_app
from vxp.catalog.request_ids import RequestIdFilter
from vxp.catalog.settings import Settings


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_unexpected_failure_is_a_clean_500_with_the_request_id(tmp_path: Path) -> None:
    settings = Settings(
        lakefs_endpoint="http://127.0.0.1:9",
        warehouse_root=tmp_path.as_uri(),
        token_secret="unit-test-secret",  # noqa: S106 - a throwaway test key
    )
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        logging.getLogger("vxp.catalog.test").warning("about to fail")
        raise RuntimeError("/srv/secret/path exploded")

    records = _Records()
    logger = logging.getLogger("vxp.catalog")
    logger.addHandler(records)
    try:
        # raise_server_exceptions: the test fails if the exception escaped the app
        with TestClient(app, raise_server_exceptions=True) as client:
            response = client.get("/boom")
            healthy = client.get("/healthz")
    finally:
        logger.removeHandler(records)
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert request_id in response.json()["error"]["message"]
    assert response.json()["error"]["request-id"] == request_id
    assert "/srv/secret" not in response.text
    assert healthy.headers["x-request-id"] != request_id
    ours = [r for r in records.records if getattr(r, "request_id", None) == request_id]
    assert any(r.getMessage() == "about to fail" for r in ours)
    failure = next(r for r in ours if r.exc_info)
    assert "exploded" in str(failure.exc_info[1])  # type: ignore[index]
