"""``vxp`` as a user runs it: a subprocess with its own VXP_HOME, real lakeFS underneath."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Stack, own_ports
from vxp.services import lakefs

pytestmark = pytest.mark.integration

VXP = [sys.executable, "-m", "vxp"]


def vxp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VXP, *args], env=env, capture_output=True, text=True, timeout=600)


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert text in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_up_status_kill_restart_down(cli_env: dict[str, str]) -> None:
    # ports of its own for the first start: other stacks on this machine take the defaults
    configured = own_ports("embedded")
    lakefs_port, catalog_port = configured["VXP_LAKEFS_PORT"], configured["VXP_CATALOG_PORT"]
    started = vxp({**cli_env, **configured}, "up")
    assert started.returncode == 0, started.stderr
    assert "healthy" in started.stdout

    again = vxp(cli_env, "up")  # idempotent: nothing restarted
    assert again.returncode == 0 and "restarting" not in again.stderr

    state = json.loads((Path(cli_env["VXP_HOME"]) / "run" / "stack.json").read_text())
    pid = state["processes"]["lakefs"]["pid"]
    os.kill(pid, signal.SIGKILL)

    status = vxp(cli_env, "status")
    assert status.returncode == 1
    assert "dead" in status.stdout

    revived = vxp(cli_env, "up")
    assert revived.returncode == 0, revived.stderr
    assert "had died; restarting" in revived.stderr
    new_pid = json.loads((Path(cli_env["VXP_HOME"]) / "run" / "stack.json").read_text())[
        "processes"
    ]["lakefs"]["pid"]
    assert new_pid != pid
    assert vxp(cli_env, "status").returncode == 0

    env_json = json.loads(vxp(cli_env, "env", "--format", "json").stdout)
    # the restart (without the variables) kept the ports of the first start
    assert env_json["VXP_LAKEFS_ENDPOINT"] == f"http://127.0.0.1:{lakefs_port}"
    assert env_json["VXP_CATALOG_URI"] == f"http://127.0.0.1:{catalog_port}"
    assert env_json["VXP_LAKEFS_ACCESS_KEY_ID"].startswith("AKIA")
    # only names of vxp's own (and pyiceberg's for its catalog `vxp`): never the user's
    assert all(k.startswith(("VXP_", "PYICEBERG_CATALOG__VXP__")) for k in env_json), env_json
    sh = vxp(cli_env, "env").stdout
    assert "export VXP_LAKEFS_ENDPOINT=" in sh

    down = vxp(cli_env, "down")
    assert down.returncode == 0 and "lakefs" in down.stdout
    stopped = vxp(cli_env, "status")  # nothing runs: not healthy, so not a success
    assert stopped.returncode == 1 and "stopped" in stopped.stdout, stopped.stdout


def test_unknown_stack(cli_env: dict[str, str]) -> None:
    assert_clean_failure(vxp(cli_env, "up", "--stack", "tiny"), 2, "'tiny' is not one of")


def test_port_in_use(cli_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = vxp({**cli_env, "VXP_LAKEFS_PORT": str(port)}, "up")
    assert_clean_failure(result, 1, f"port {port} configured for lakefs is already in use")


def test_corrupt_cached_binary(cli_env: dict[str, str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # the slot vxp looks in (the version and what the build holds, e.g. 1.86.0+webui)
    slot = cache / "lakefs" / f"{lakefs.VERSION}+{lakefs.BUILD}"
    slot.mkdir(parents=True)
    real = Path(os.environ.get("VXP_CACHE", Path.home() / ".cache" / "vxp"))
    # a sealed install whose binary was damaged afterwards
    (slot / "lakefs").write_bytes(b"\x7fELF")
    (slot / "vxp-manifest.json").write_text(json.dumps({"sha256": {"lakefs": "0" * 64}}))
    result = vxp({**cli_env, "VXP_CACHE": str(cache)}, "up")
    assert_clean_failure(result, 1, "is corrupt")
    assert "vxp install lakefs --force" in result.stderr
    assert real.exists()


def test_missing_go(cli_env: dict[str, str], tmp_path: Path) -> None:
    bare_path = os.pathsep.join(
        p for p in cli_env["PATH"].split(os.pathsep) if not (Path(p) / "go").exists()
    )
    result = vxp(
        {**cli_env, "VXP_CACHE": str(tmp_path / "empty"), "PATH": bare_path},
        "install",
        "lakefs",
        "--stack",
        "embedded",
    )
    assert_clean_failure(result, 1, "`go` was not found on PATH")


def test_missing_java(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = vxp({**cli_env, "VXP_JAVA_HOME": str(tmp_path / "no-jdk")}, "up", "--stack", "full")
    assert_clean_failure(result, 1, "java")


def test_repo_create_and_demo_on_the_session_stack(
    embedded: Stack, repo_name: str, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "VXP_HOME": str(embedded.home.root)}
    created = vxp(env, "repo", "create", repo_name)
    assert created.returncode == 0, created.stderr
    assert f"repository {repo_name}" in created.stdout
    duplicate = vxp(env, "repo", "create", repo_name)
    assert_clean_failure(duplicate, 1, f"repository {repo_name!r} exists already")

    demo = vxp(env, "demo", "--repository", repo_name)
    assert demo.returncode == 0, demo.stderr
    commit = demo.stdout.strip().splitlines()[-1].split()[-1]
    assert len(commit) == 64
    assert "BASEL-" in demo.stdout and "Zurich" in demo.stdout
