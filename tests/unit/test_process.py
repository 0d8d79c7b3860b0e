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


def test_port_ownership_tells_our_server_from_a_stranger(tmp_path: Path) -> None:
    import socket
    import time

    from vxp.services.ports import free_port

    port = free_port()
    server = process.spawn(
        LaunchSpec(argv=[sys.executable, "-m", "http.server", str(port), "-b", "127.0.0.1"]),
        tmp_path / "server.log",
    )
    bystander = process.spawn(
        LaunchSpec(argv=[sys.executable, "-c", "import time; time.sleep(600)"]),
        tmp_path / "bystander.log",
    )
    try:
        deadline = time.monotonic() + 30
        while not process.owns_port(server, port):  # polling the kernel's socket table
            assert time.monotonic() < deadline, "the server never listened"
            assert process.alive(server)
            time.sleep(0.05)
        # the bystander answers nothing, even though the port is served
        assert not process.owns_port(bystander, port)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            # a port held by this test process belongs to neither
            assert not process.owns_port(server, sock.getsockname()[1])
    finally:
        process.stop(server, timeout=5)
        process.stop(bystander, timeout=5)
