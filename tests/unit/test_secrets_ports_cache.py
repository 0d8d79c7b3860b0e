"""Pure logic of the service manager: secrets, ports, cache manifests, stack state."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from vxp.core.errors import VxpError
from vxp.services import cache, ports, process, secrets
from vxp.services.manager import State, components_for


def test_secrets_are_private_generated_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    first = secrets.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first["lakefs_access_key_id"].startswith("AKIA")
    assert len(first["lakefs_access_key_id"]) == 20
    assert secrets.load_or_create(path) == first
    # engines get their own MinIO key pair, never the root user's
    assert first["minio_engines_access_key_id"] != first["minio_root_user"]
    assert first["minio_engines_secret_access_key"] != first["minio_root_password"]
    # another installation gets other keys: no well-known defaults
    assert secrets.load_or_create(tmp_path / "other.json") != first


def test_configured_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        with pytest.raises(VxpError, match=f"port {busy} configured for lakefs is already in use"):
            ports.choose("lakefs", 8000, busy, set())
        # an unconfigured component moves away from a busy preferred port
        assert ports.choose("lakefs", busy, None, set()) != busy


def test_ports_never_clash_within_a_stack() -> None:
    taken: set[int] = set()
    for name in ("a", "b", "c"):
        taken.add(ports.choose(name, None, None, taken))
    assert len(taken) == 3


def test_cache_detects_a_corrupt_binary(tmp_path: Path) -> None:
    slot = cache.slot(tmp_path, "tool", "1.0")
    slot.mkdir(parents=True)
    (slot / "tool").write_bytes(b"\x7fELF original")
    assert not cache.is_complete(slot)
    cache.seal(slot, ["tool"])
    assert cache.is_complete(slot)
    cache.verify(slot, "tool")
    (slot / "tool").write_bytes(b"\x7fELF tampered")
    with pytest.raises(VxpError, match="corrupt") as info:
        cache.verify(slot, "tool")
    assert info.value.hint == "reinstall it with `vxp install tool --force`"


def test_unknown_stack_names_the_choices() -> None:
    with pytest.raises(VxpError, match="unknown stack 'tiny'") as info:
        components_for("tiny")
    assert info.value.hint == "choose one of: embedded, full"


def test_state_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    state = State(stack="full", ports={"lakefs": 8001}, processes={"lakefs": process.Handle(1, 2)})
    state.save(path)
    assert State.load(path) == state
    assert State.load(tmp_path / "missing.json") == State(None, {}, {})
