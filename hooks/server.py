"""Run the hooks server with uvicorn: ``serve(settings, host, port)``."""

from __future__ import annotations

import logging

import uvicorn

from vxp.hooks.app import create_app
from vxp.hooks.settings import Settings


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8282) -> None:
    """Serve in the foreground until interrupted (uvicorn, one process).

    Raises:
        SystemExit: uvicorn cannot bind ``host:port``.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
