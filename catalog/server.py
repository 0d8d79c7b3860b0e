"""Run the catalog with uvicorn: ``catalog.server.serve(settings, host, port)``."""

from __future__ import annotations

import uvicorn

from vxp.catalog.app import create_app
from vxp.catalog.settings import Settings


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8181) -> None:
    """Serve in the foreground until interrupted (uvicorn, one process).

    Raises:
        SystemExit: uvicorn cannot bind ``host:port`` (it logs why and exits 1).
    """
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
