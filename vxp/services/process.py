"""Detached processes: start in their own session, identify by pid + start time, stop by group."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from vxp.services.base import LaunchSpec


@dataclass(frozen=True)
class Handle:
    """A started process. ``start_ticks`` guards against a recycled pid being taken for ours."""

    pid: int
    start_ticks: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces; everything after its closing paren is fixed
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None
    when there is no such process. Together with the pid it identifies one process for good.
    """
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def alive(handle: Handle) -> bool:
    """True when ``handle``'s process still runs (not a zombie, and its pid not recycled).

    A zombie child of this process is reaped on the way.
    """
    fields = _stat_fields(handle.pid)
    if fields is None or fields[0] in ("Z", "X"):
        _reap(handle.pid)
        return False
    return int(fields[19]) == handle.start_ticks


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def spawn(spec: LaunchSpec, log_file: Path) -> Handle:
    """Start ``spec`` detached: its own session, output appended to ``log_file``, stdin closed.

    Returns:
        A handle with the pid and start time (``start_ticks`` -1 when the process already died).

    Raises:
        KeyError: ``spec.user`` is not an OS user.
        OSError: the log file cannot be opened, or the command cannot be run (not found, no
            permission to run it or to switch user).
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    user = group = None
    groups: list[int] | None = None
    if spec.user is not None:
        entry = pwd.getpwnam(spec.user)
        user, group = entry.pw_uid, entry.pw_gid
        # without this the child keeps the caller's supplementary groups (root's, when root)
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
        env["HOME"] = entry.pw_dir
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            group=group,
            extra_groups=groups,
        )
    ticks = start_ticks(proc.pid)
    return Handle(pid=proc.pid, start_ticks=ticks if ticks is not None else -1)


def stop(handle: Handle, timeout: float = 30.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``timeout`` seconds.

    Waits up to 10 s more after SIGKILL; returns early once the process is gone, and at once
    when it is not running.
    """
    if not alive(handle):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(handle.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(handle):
                return
            time.sleep(0.05)


def tail(log_file: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of ``log_file`` (for error messages), or ``(no log)``."""
    try:
        content = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(content[-lines:])


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP ``port`` (IPv4 or IPv6), from the kernel's tables."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # state 0A is LISTEN; the local address is HEX_IP:HEX_PORT
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _session_pids(handle: Handle) -> list[int]:
    """The process and everything it started (spawn gives each component its own session)."""
    pids = [handle.pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != handle.pid:
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[3]) == handle.pid:
                pids.append(int(entry.name))
    return pids


def owns_port(handle: Handle, port: int) -> bool:
    """True when ``port`` is listened on by our process (or its children), not by a stranger.

    A health probe alone cannot tell: another installation's server on the same port answers
    it just as well, e.g. when two stacks pick the same free port at the same moment.
    """
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return False
    for pid in _session_pids(handle):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if str(fd.readlink()) in wanted:
                    return True
    return False
