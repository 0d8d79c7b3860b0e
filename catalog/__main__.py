"""``python -m vxp.catalog [--host H] [--port P]``, configured by ``VXP_CATALOG_*`` variables."""

from __future__ import annotations

import argparse

from vxp.catalog.server import serve
from vxp.catalog.settings import Settings


def main() -> None:
    """``python -m vxp.catalog [--host H] [--port P]``: serve with the ``VXP_CATALOG_*`` settings.

    Raises:
        SettingsError: a required ``VXP_CATALOG_*`` variable is missing or malformed.
        ValueError: ``VXP_CATALOG_TOKEN_TTL_SECONDS`` is not a number.
        SystemExit: bad arguments, or uvicorn cannot bind ``host:port``.
    """
    parser = argparse.ArgumentParser(prog="python -m vxp.catalog", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)
    args = parser.parse_args()
    serve(Settings.from_env(), args.host, args.port)


if __name__ == "__main__":
    main()
