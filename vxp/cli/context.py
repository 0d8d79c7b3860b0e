"""What every command of one ``vxp`` process shares: its settings and its lakeFS session,
resolved once, on first use (so ``vxp --help`` and ``vxp up`` need neither)."""

from __future__ import annotations

from functools import cache

from vxp.core.settings import Settings
from vxp.lakefs import Session, open_session


@cache
def settings() -> Settings:
    """The process's settings (:meth:`Settings.load`: arguments, environment, client file).

    Raises:
        Unavailable: no stack was started here and no ``vxp env`` variables are set.
    """
    return Settings.load()


def session() -> Session:
    """A lakeFS session with the process's settings, over one connection pool."""
    return open_session(settings())
