"""First-day fixes of the layered-core issue that need no running stack."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vxp.core.errors import InvalidInput, Unavailable
from vxp.core.home import Home
from vxp.core.settings import Key, Secret, Settings, write_client_file
from vxp.services import ports

KEYS = {
    Key.LAKEFS_ENDPOINT: "http://127.0.0.1:8000",
    Key.LAKEFS_ACCESS_KEY_ID: "AKIAEXAMPLE",
    Key.LAKEFS_SECRET_ACCESS_KEY: "very-secret-key",
}


def test_a_port_in_time_wait_counts_as_free() -> None:
    """A stopped server's lingering connections must not move its port on the next `vxp up`."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    # the side that closes first keeps TIME_WAIT: here the server, as when it is stopped
    accepted.close()
    server.close()
    client.close()
    assert ports.is_free(port)


def test_settings_precedence_arguments_then_environment_then_client_file(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "home", cache=tmp_path / "cache")
    write_client_file(home, {**KEYS, Key.TRINO_URL: "http://file:1", Key.CATALOG_URI: "http://f"})
    mode = stat.S_IMODE((home.run / "client.json").stat().st_mode)
    assert mode == 0o600
    environ = {Key.TRINO_URL.value: "http://env:2"}
    loaded = Settings.load({Key.CATALOG_URI: "http://arg"}, environ=environ, home=home)
    assert loaded.trino_url == "http://env:2"
    assert loaded.catalog_uri == "http://arg"
    assert loaded.lakefs_endpoint == "http://127.0.0.1:8000"


def test_no_platform_anywhere_names_the_fix(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "home", cache=tmp_path / "cache")
    with pytest.raises(Unavailable, match="no vxp platform is configured") as caught:
        Settings.load(environ={}, home=home)
    assert caught.value.hint is not None and "vxp up" in caught.value.hint


def test_unknown_stack_name_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not a stack"):
        Settings.from_values({**KEYS, Key.STACK: "huge"})


def test_the_catalogs_lease_is_read_for_gc_and_checked() -> None:
    lease = Key.CATALOG_TEMP_BRANCH_LEASE_SECONDS
    assert Settings.from_values(KEYS).catalog_temp_branch_lease_seconds is None
    settings = Settings.from_values({**KEYS, lease: "3600"})
    assert settings.catalog_temp_branch_lease_seconds == 3600
    assert settings.to_values()[lease] == "3600"
    for bad in ("15m", "0", "-5"):
        with pytest.raises(InvalidInput, match="whole number of seconds"):
            Settings.from_values({**KEYS, lease: bad})


def test_secrets_never_show_in_repr_or_str() -> None:
    settings = Settings.from_values(
        {**KEYS, Key.S3_ENDPOINT: "http://s3", Key.S3_SECRET_ACCESS_KEY: "s3-secret-value"}
    )
    shown = repr(settings) + str(settings) + f"{settings}" + repr(settings.s3)
    assert "very-secret-key" not in shown
    assert "s3-secret-value" not in shown
    assert repr(Secret("x")) == "Secret('********')"
    # the value is there for the one place that must send it
    assert settings.lakefs_secret_access_key.reveal() == "very-secret-key"


def test_vxp_env_prints_only_names_of_its_own(tmp_path: Path) -> None:
    """The variables `vxp env` exports come from the components' settings: all VXP_-prefixed
    (or pyiceberg's catalog `vxp`), so `eval "$(vxp env)"` never replaces AWS_* or PG*."""
    from vxp.services.base import Context
    from vxp.services.manager import components_for

    home = Home(root=tmp_path / "home", cache=tmp_path / "cache")
    home.ensure()
    secrets = {
        "lakefs_access_key_id": "a",
        "lakefs_secret_access_key": "b",
        "minio_root_user": "c",
        "minio_root_password": "d",
        "postgres_password": "e",
        "catalog_token_secret": "f",
    }
    all_ports = {"lakefs": 1, "catalog": 2, "minio": 3, "minio-console": 4, "postgres": 5}
    ctx = Context(home=home, stack="full", secrets=secrets, ports={**all_ports, "trino": 6})
    names = set()
    for component in components_for("full"):
        names |= set(component.settings(ctx))
    assert names, "the full stack exports settings"
    assert all(n.startswith(("VXP_", "PYICEBERG_CATALOG__VXP__")) for n in names), names


def test_help_short_option_and_version() -> None:
    run = [sys.executable, "-m", "vxp"]
    env = {**os.environ, "COLUMNS": "120"}
    short = subprocess.run([*run, "-h"], capture_output=True, text=True, env=env, check=True)
    assert "Usage" in short.stdout
    sub = subprocess.run([*run, "repo", "-h"], capture_output=True, text=True, env=env, check=True)
    assert "list" in sub.stdout
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, check=True)
    from vxp import __version__

    assert version.stdout.strip() == f"vxp {__version__}"


def test_client_file_is_json_of_key_names(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "home", cache=tmp_path / "cache")
    path = write_client_file(home, KEYS)
    assert json.loads(path.read_text())["VXP_LAKEFS_ENDPOINT"] == "http://127.0.0.1:8000"


def test_switching_a_home_to_another_stack_asks_for_force(tmp_path: Path) -> None:
    from vxp.core.errors import VxpError
    from vxp.services.manager import ServiceManager, State

    home = Home(root=tmp_path / "home", cache=tmp_path / "cache")
    home.ensure()
    State(stack="embedded", ports={}, processes={}).save(home.state_file)
    with pytest.raises(VxpError, match="repositories made on the embedded stack") as caught:
        ServiceManager(home).up("full")
    assert caught.value.hint is not None and "--force" in caught.value.hint


def test_results_say_which_commit_they_read(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vxp.domain.engines import Engine
    from vxp.domain.engines import sql as engines

    answer = engines.Answer(pa.table({"n": [1, 2]}), 0.1, Engine.duckdb, "v1", "c0ffee" * 10)
    target = tmp_path / "out.parquet"
    engines.export(
        answer.table, engines.FileFormat.parquet, target, engines.provenance(answer, "r")
    )
    metadata = pq.read_metadata(target).metadata
    assert metadata[b"vxp.commit"] == ("c0ffee" * 10).encode()
    assert metadata[b"vxp.repository"] == b"r"
    wrapped = json.loads(engines.envelope(answer, "r"))
    assert wrapped == {
        "repository": "r",
        "ref": "v1",
        "commit": "c0ffee" * 10,
        "engine": "duckdb",
        "rows": [{"n": 1}, {"n": 2}],
    }
