"""Process supervision against real OS processes (no servers involved)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from vxp.services import process
from vxp.services.base import LaunchSpec


def test_spawn_stop_and_death_detection(tmp_path: Path) -> None:
    log = tmp_path / "sleeper.log"
    spec = LaunchSpec(
        argv=[
            sys.executable,
            "-c",
            "import sys, time; print('up'); sys.stdout.flush(); time.sleep(600)",
        ]
    )
    handle = process.spawn(spec, log)
    assert process.alive(handle)
    process.stop(handle, timeout=5)
    assert not process.alive(handle)

    killed = process.spawn(spec, log)
    os.kill(killed.pid, signal.SIGKILL)
    os.waitpid(killed.pid, 0)
    assert not process.alive(killed)


def test_a_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    spec = LaunchSpec(argv=[sys.executable, "-c", "import time; time.sleep(600)"])
    handle = process.spawn(spec, tmp_path / "x.log")
    impostor = process.Handle(pid=handle.pid, start_ticks=handle.start_ticks + 1)
    assert not process.alive(impostor)
    process.stop(handle, timeout=5)
