"""``python -m vxp.hooks [--host H] [--port P]``, configured by ``VXP_HOOKS_*`` variables."""

from __future__ import annotations

import argparse

from vxp.hooks.server import serve
from vxp.hooks.settings import Settings


def main() -> None:
    """Serve with the ``VXP_HOOKS_*`` settings.

    Raises:
        SettingsError: a required variable is missing.
        SystemExit: bad arguments, or uvicorn cannot bind ``host:port``.
    """
    parser = argparse.ArgumentParser(prog="python -m vxp.hooks", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8282)
    args = parser.parse_args()
    serve(Settings.from_env(), args.host, args.port)


if __name__ == "__main__":
    main()
