"""a. Install times per component (warm always, cold with --cold), ``up`` and restart times.

A warm install is what every ``vxp up`` pays: the cache lookup plus the checksum verification of
the cached binaries. A cold install builds lakeFS and MinIO from their Go modules (minutes each on
two cores) and downloads Trino from Maven; it is measured only when asked for, against an empty
cache and empty Go module and build caches, so nothing is reused from earlier builds.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import partial
from pathlib import Path

from bench.core import Options, Recorder, environment, timed
from bench.stack import new_home, remove_home
from vxp.core.home import Home
from vxp.services.manager import ServiceManager

NAME = "install"
TITLE = "a. install (warm, --cold) and vxp up / restart times"

# (stack, component) for every component of both stacks, each once
COMPONENTS = (
    ("embedded", "lakefs"),
    ("embedded", "catalog"),
    ("embedded", "duckdb"),
    ("full", "postgres"),
    ("full", "minio"),
    ("full", "trino"),
)


def _warm(options: Options, recorder: Recorder) -> None:
    repeats = options.scale(3, 5)
    for stack, component in COMPONENTS:
        home = new_home(options, stack)
        manager = ServiceManager(home, console=options.console)
        try:
            times = [
                timed(partial(manager.install, stack, only=[component])) for _ in range(repeats)
            ]
        finally:
            remove_home(home)
        recorder.add(f"install {component} (warm)", times, "s")


def _remove_writable(path: Path) -> None:
    """Delete a tree the Go module cache made read-only."""
    if not path.exists():
        return
    for entry in [path, *path.rglob("*")]:
        if entry.is_dir() and not entry.is_symlink():
            entry.chmod(0o755)
    shutil.rmtree(path)


def _cold(options: Options, recorder: Recorder) -> None:
    scratch = options.workdir / "cold"
    go_env = {
        "GOMODCACHE": str(scratch / "gomodcache"),
        "GOCACHE": str(scratch / "gocache"),
    }
    home = Home(root=scratch / "home", cache=scratch / "cache")
    manager = ServiceManager(home, console=options.console)
    try:
        with environment(go_env):
            for stack, component in COMPONENTS:
                seconds = timed(partial(manager.install, stack, only=[component]))
                recorder.add(f"install {component} (cold)", [seconds], "s")
    finally:
        _remove_writable(scratch)
    recorder.note(
        "cold: empty VXP_CACHE, GOMODCACHE and GOCACHE; Go modules come through the configured "
        "module proxy and Trino through Maven's configured repositories, so network speed counts"
    )


def _up_times(options: Options, recorder: Recorder) -> None:
    rounds = options.scale(1, 3)
    for stack in ("embedded", "full"):
        ups: list[float] = []
        downs: list[float] = []
        restarts: list[float] = []
        for _ in range(rounds):
            home = new_home(options, stack)
            manager = ServiceManager(home, console=options.console)
            try:
                ups.append(timed(partial(manager.up, stack)))
                downs.append(timed(manager.down))
                restarts.append(timed(partial(manager.up, stack)))
            finally:
                manager.down()
                remove_home(home)
        recorder.add(
            f"up {stack} (fresh home)",
            ups,
            "s",
            baseline=None if stack == "embedded" else "up embedded (fresh home)",
        )
        recorder.add(f"down {stack}", downs, "s")
        recorder.add(
            f"restart {stack} (up after down)",
            restarts,
            "s",
            baseline=f"up {stack} (fresh home)",
        )


def _go_version() -> str:
    go = shutil.which("go")
    if go is None:
        return "no go on PATH"
    return subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()


def run(options: Options, recorder: Recorder) -> None:
    _warm(options, recorder)
    if options.cold:
        recorder.note(f"cold builds with {_go_version()}")
        _cold(options, recorder)
    else:
        for _, component in COMPONENTS:
            recorder.skip(f"install {component} (cold)", "not measured: needs --cold")
        recorder.note("cold installs need --cold: empty caches, ~5 min per Go build")
    _up_times(options, recorder)
    recorder.note(
        "warm install = cache lookup + checksum verification of the cached binaries; "
        "up = fresh VXP_HOME with a warm cache until every component answers its health check"
    )
