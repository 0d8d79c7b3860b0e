"""Run the catalog with uvicorn: ``catalog.server.serve(settings, host, port)``."""

from __future__ import annotations

import uvicorn

from vxp.catalog.app import create_app
from vxp.catalog.request_ids import log_config
from vxp.catalog.settings import Settings


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8181) -> None:
    """Serve in the foreground until interrupted (uvicorn, one process).

    Every log line carries the request id of the request it was written for; the access log is
    the catalog's own (one line per request, with its id), not uvicorn's.

    Raises:
        SystemExit: uvicorn cannot bind ``host:port`` (it logs why and exits 1).
    """
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        log_config=log_config("INFO"),
        access_log=False,
    )
