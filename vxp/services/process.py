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
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def alive(handle: Handle) -> bool:
    fields = _stat_fields(handle.pid)
    if fields is None or fields[0] in ("Z", "X"):
        _reap(handle.pid)
        return False
    return int(fields[19]) == handle.start_ticks


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def spawn(spec: LaunchSpec, log_file: Path) -> Handle:
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
    """SIGTERM the process group, then SIGKILL what is left after ``timeout`` seconds."""
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
    try:
        content = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(content[-lines:])
