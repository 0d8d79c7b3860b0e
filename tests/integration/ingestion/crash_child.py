"""Run one ``vxp ingest study`` in this process and SIGKILL it at a named step boundary.

Usage: ``python crash_child.py VXP_HOME REPO SOURCE DELIVERY POINT``

The boundaries are observed where the run talks to lakeFS (the gateway,
:class:`vxp.lakefs.Session`) and writes a table (:class:`vxp.ingestion.iceberg.Tables`), so they
stay put however the steps are arranged in code: a first file uploaded, the landing's files
uploaded, its commit, a first raw table written, all raw tables written (the integrate branch
about to be cut), the upstream merged into it, a first integration table written, all integration
tables written (the integrated state about to be staged), its commit, the ``source`` merge and
the ``integration`` merge. The process dies with SIGKILL: no ``finally``, no ``atexit``, no
flush, as when a machine loses power or the OOM killer strikes. Exit code 3 means the point was
never reached.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vxp.core.home import Home
from vxp.core.settings import Settings
from vxp.ingestion.iceberg import Tables
from vxp.ingestion.ingest_study import ingest_study
from vxp.ingestion.study.plan import validate_study
from vxp.lakefs import Session, open_session

Predicate = Callable[[Any, tuple[Any, ...]], bool]


def _ingest(branch: str) -> bool:
    return branch.startswith("ingest-")


def _integrate(branch: str) -> bool:
    return branch.startswith("integrate-")


def _warehouse(tables: Tables, prefix: str) -> bool:
    """True for the Tables of a run branch starting with ``prefix`` (``<repo>.<branch>``)."""
    return tables.warehouse.split(".", 1)[1].startswith(prefix)


#: point -> (class, method, "before" or "after" the call, which calls: (self, args))
POINTS: dict[str, tuple[type, str, str, Predicate]] = {
    "first_file_uploaded": (
        Session,
        "upload_object",
        "after",
        lambda _, a: (
            _ingest(a[1]) and a[2].startswith("raw/") and not a[2].endswith("_manifest.json")
        ),
    ),
    "files_landed": (
        Session,
        "upload_object",
        "before",
        lambda _, a: _ingest(a[1]) and a[2].startswith("_vxp/ingest/"),
    ),
    "landing_committed": (Session, "commit", "after", lambda _, a: _ingest(a[1])),
    "first_raw_table_written": (
        Tables,
        "replace",
        "after",
        lambda t, _: _warehouse(t, "ingest-"),
    ),
    "raw_tables_written": (Session, "create_branch", "before", lambda _, a: _integrate(a[1])),
    "upstream_merged": (Session, "merge", "after", lambda _, a: _integrate(a[2])),
    "first_integration_table_written": (
        Tables,
        "replace",
        "after",
        lambda t, _: _warehouse(t, "integrate-"),
    ),
    "integration_tables_written": (
        Session,
        "upload_object",
        "before",
        lambda _, a: _integrate(a[1]) and a[2].startswith("_vxp/ingest/"),
    ),
    "integration_committed": (Session, "commit", "after", lambda _, a: _integrate(a[1])),
    "source_merged": (Session, "merge", "after", lambda _, a: a[2] == "source"),
    "integration_merged": (Session, "merge", "after", lambda _, a: a[2] == "integration"),
}


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    """Make the method of ``point`` kill this process at that boundary."""
    cls, method, when, matches = POINTS[point]
    original = getattr(cls, method)

    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        hit = matches(self, args)
        if hit and when == "before":
            die()
        result = original(self, *args, **kwargs)
        if hit and when == "after":
            die()
        return result

    setattr(cls, method, wrapped)


def main(argv: list[str]) -> int:
    home, repo, source, folder, point = argv
    settings = Settings.load(environ={}, home=Home(root=Path(home), cache=Home.from_env().cache))
    install(point)
    ingest_study(open_session(settings), settings, repo, source, validate_study(Path(folder)))
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
