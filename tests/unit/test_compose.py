"""The team deployment in ``compose/``: valid for a real compose parser, and in step with the
service manager (same pinned versions, same configuration, same buckets and ports).

Rendering uses Debian's ``docker-compose`` package (v1.29: ``apt-get install -y docker-compose``);
``config`` only parses and interpolates, it needs no Docker daemon. The structural checks read the
raw YAML, so they run (and catch drift) even where the binary is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from vxp.core.home import Home
from vxp.domain.engines import trino as trino_engine
from vxp.services import catalog as catalog_service
from vxp.services import hooks as hooks_service
from vxp.services import lakefs, minio, postgres, trino
from vxp.services import secrets as secretlib
from vxp.services.base import Context

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
TRINO_ETC = COMPOSE_DIR / "trino"
CATALOG_DOCKERFILE = COMPOSE_DIR / "catalog.Dockerfile"

DOCKER_COMPOSE = shutil.which("docker-compose")
NO_COMPOSE = "the docker-compose binary is absent (Debian: apt-get install -y docker-compose)"
needs_compose = pytest.mark.skipif(DOCKER_COMPOSE is None, reason=NO_COMPOSE)

SERVICES = {
    "postgres",
    "minio",
    "minio-init",
    "lakefs",
    "lakefs-setup",
    "catalog",
    "hooks",
    "trino",
}
# services that run once and exit: waited for with service_completed_successfully, no healthcheck
ONE_SHOT = {"minio-init", "lakefs-setup"}
# required variables that are not secrets: MinIO's URL as the users' machines reach it (the
# catalog hands it to engines; see .env.example)
REQUIRED_SETTINGS = {"VXP_S3_PUBLIC_ENDPOINT"}
# Debian 12 (bookworm) packages PostgreSQL 15, which the service manager runs
POSTGRES_MAJOR = "15"
# MinIO publishes images tagged RELEASE.<date>; the service manager builds a later commit (see the
# comment on the minio service)
MINIO_RELEASE = "RELEASE.2025-09-07T16-13-09Z"
# environment variable names whose values are secrets (or carry one)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|CREDENTIAL|CONNECTION_STRING|DSN")
REQUIRED_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?[^}]*\}")
ANY_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)[^}]*\}")
PORT_MAPPING = re.compile(
    r"^\$\{VXP_BIND_ADDRESS:-127\.0\.0\.1\}:\$\{(VXP_[A-Z_]+_PORT):-(\d+)\}:(\d+)$"
)


def _raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def _strings(value: object) -> list[str]:
    """Every string in the parsed file (comments excluded: they are not interpolated)."""
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (*_strings(key), *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


RAW = _raw()
REQUIRED_VARS = sorted({v for s in _strings(RAW) for v in REQUIRED_REF.findall(s)})
SECRET_VARS = sorted(set(REQUIRED_VARS) - REQUIRED_SETTINGS)
REFERENCED_VARS = {v for s in _strings(RAW) for v in ANY_REF.findall(s)}


def _env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            values[key] = value
    return values


def _environment(service: str) -> dict[str, str]:
    env = RAW["services"][service].get("environment", {})
    assert isinstance(env, dict), f"{service}: write environment as a mapping"
    return {str(key): str(value) for key, value in env.items()}


def _compose(env_file: Path, home: Path) -> subprocess.CompletedProcess[str]:
    assert DOCKER_COMPOSE is not None
    # a clean environment: variables from the caller's shell would override the env file
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        [DOCKER_COMPOSE, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        env=clean,
        cwd=home,
        timeout=120,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if DOCKER_COMPOSE is None:
        pytest.skip(NO_COMPOSE)
    result = _compose(ENV_EXAMPLE, tmp_path_factory.mktemp("compose-home"))
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert isinstance(data, dict)
    return data


def _context(tmp_path: Path) -> Context:
    """A full-stack context with freshly generated secrets, to ask components for their settings."""
    return Context(
        home=Home(root=tmp_path / "home", cache=tmp_path / "cache"),
        stack="full",
        secrets=secretlib.load_or_create(tmp_path / "secrets.json"),
        ports={
            "lakefs": 8000,
            "postgres": 5432,
            "minio": 9000,
            "minio-console": 9001,
            "catalog": 8181,
            "trino": 8080,
        },
        console=Console(stderr=True, force_terminal=False),
    )


def _flatten(prefix: str, value: object) -> dict[str, object]:
    if isinstance(value, dict):
        flat: dict[str, object] = {}
        for key, item in value.items():
            flat.update(_flatten(f"{prefix}_{str(key).upper()}", item))
        return flat
    return {prefix: value}


def _assert_same_secrets(key: str, wanted: object, actual: str, secrets: dict[str, str]) -> None:
    """``actual`` refers (as required ``${VAR:?…}``) to exactly the secrets ``wanted`` holds."""
    holds = {name.upper() for name, secret in secrets.items() if secret in str(wanted)}
    used = set(REQUIRED_REF.findall(actual)) - REQUIRED_SETTINGS
    assert used == holds, f"{key}: {actual!r} should use {holds}"


def _properties(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# -- a real parser accepts it ----------------------------------------------------------------


@needs_compose
def test_compose_renders_with_the_example_env(rendered: dict[str, Any]) -> None:
    assert set(rendered["services"]) == SERVICES
    text = yaml.safe_dump(rendered)
    # every ${…} was interpolated
    assert ANY_REF.search(text) is None
    # defaults: published on this host only, on the service manager's ports
    assert rendered["services"]["lakefs"]["ports"] == ["127.0.0.1:8000:8000/tcp"]
    assert rendered["services"]["catalog"]["ports"] == ["127.0.0.1:8181:8181/tcp"]
    assert rendered["services"]["trino"]["ports"] == ["127.0.0.1:8080:8080/tcp"]
    # the catalog reaches MinIO on the compose network, engines get the public URL
    catalog = rendered["services"]["catalog"]["environment"]
    assert catalog["VXP_CATALOG_S3_ENDPOINT"] == "http://minio:9000"
    assert (
        catalog["VXP_CATALOG_S3_CLIENT_ENDPOINT"]
        == _env_file(ENV_EXAMPLE)["VXP_S3_PUBLIC_ENDPOINT"]
    )
    assert catalog["VXP_CATALOG_ALLOWED_LOCATIONS"] == ""


@needs_compose
@pytest.mark.parametrize("variable", REQUIRED_VARS)
def test_compose_refuses_to_render_without_a_secret(variable: str, tmp_path: Path) -> None:
    lines = [
        line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith(f"{variable}=")
    ]
    env_file = tmp_path / "partial.env"
    env_file.write_text("\n".join(lines) + "\n")
    result = _compose(env_file, tmp_path)
    assert result.returncode != 0
    # the error message itself (after the interpolation context) names the variable
    assert f"set {variable} in .env" in result.stderr, result.stderr
    assert "change-me" not in result.stderr


def test_required_variables_are_exactly_the_service_managers_secrets(tmp_path: Path) -> None:
    # the same per-installation secrets `vxp up` generates (vxp/secrets.py), upper-cased
    generated = secretlib.load_or_create(tmp_path / "secrets.json")
    assert sorted(key.upper() for key in generated) == SECRET_VARS
    assert set(REQUIRED_VARS) >= REQUIRED_SETTINGS


# -- pinned versions match the service manager -------------------------------------------------


def _image(service: str) -> tuple[str, str]:
    name, _, tag = RAW["services"][service]["image"].partition(":")
    return name, tag


def test_lakefs_image_matches_the_service_manager() -> None:
    assert _image("lakefs") == ("treeverse/lakefs", lakefs.VERSION)


def test_trino_image_matches_the_service_manager() -> None:
    assert _image("trino") == ("trinodb/trino", trino.VERSION)


def test_postgres_image_is_the_debian_12_major() -> None:
    name, tag = _image("postgres")
    assert name == "postgres"
    assert tag == f"{POSTGRES_MAJOR}-bookworm"


def test_minio_image_is_the_release_closest_to_the_built_commit() -> None:
    name, tag = _image("minio")
    assert (name, tag) == ("minio/minio", MINIO_RELEASE)
    # the mapping from the service manager's Go pseudo-version is recorded next to the pin
    text = COMPOSE_FILE.read_text()
    assert f"v{minio.VERSION}" in text
    # a pseudo-version ends in <yyyymmddhhmmss>-<commit>; the pinned release is not newer
    stamp, commit = minio.VERSION.rsplit("-", 2)[-2:]
    assert commit in text
    built = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    released = datetime.strptime(tag, "RELEASE.%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=UTC)
    assert released <= built
    mc_name, mc_tag = _image("minio-init")
    assert mc_name == "minio/mc"
    assert re.fullmatch(r"RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", mc_tag)


# -- health, ordering, volumes, ports --------------------------------------------------------------


def test_every_service_has_a_healthcheck() -> None:
    for name, service in RAW["services"].items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_dependencies_wait_for_health() -> None:
    for name, service in RAW["services"].items():
        for target, spec in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert spec == {"condition": expected}, f"{name} -> {target}"
    # lakeFS starts only once its KV store, its object store and the buckets are there
    assert set(RAW["services"]["lakefs"]["depends_on"]) == {"postgres", "minio", "minio-init"}
    assert set(RAW["services"]["minio-init"]["depends_on"]) == {"minio"}
    # the admin user is created once lakeFS answers; the catalog checks clients' keys against it
    assert set(RAW["services"]["lakefs-setup"]["depends_on"]) == {"lakefs"}
    # ... and it reads and writes table metadata in MinIO itself, handing engines the engines'
    # user minio-init creates
    assert set(RAW["services"]["catalog"]["depends_on"]) == {
        "lakefs",
        "lakefs-setup",
        "minio",
        "minio-init",
    }


def test_data_lives_in_named_volumes() -> None:
    declared = set(RAW["volumes"])
    used: set[str] = set()
    for name, service in RAW["services"].items():
        for mount in service.get("volumes", []):
            source, target, *mode = mount.split(":")
            if source.startswith("."):
                # the only bind mount: Trino's configuration, read-only
                assert (name, source, target, mode) == ("trino", "./trino", "/etc/trino", ["ro"])
                continue
            assert source in declared, f"{name}: {source} is not a declared named volume"
            used.add(source)
    assert used == declared
    mounts = {
        service: {m.split(":")[1]: m.split(":")[0] for m in RAW["services"][service]["volumes"]}
        for service in ("postgres", "minio")
    }
    assert mounts["postgres"]["/var/lib/postgresql/data"] == "postgres-data"
    assert mounts["minio"]["/data"] == "minio-data"


def test_published_ports_are_configurable_with_the_service_managers_defaults() -> None:
    preferred = {
        **lakefs.LakeFS.ports,
        **minio.MinIO.ports,
        **catalog_service.Catalog.ports,
        **hooks_service.Hooks.ports,
        **trino.Trino.ports,
    }
    seen: set[str] = set()
    env_example = _env_file(ENV_EXAMPLE)
    for name, service in RAW["services"].items():
        for mapping in service.get("ports", []):
            match = PORT_MAPPING.match(mapping)
            assert match, f"{name}: {mapping!r} must be ${{VXP_BIND_ADDRESS…}}:${{VXP_…_PORT:-N}}:N"
            variable, default, container = match.groups()
            # the same variable names the service manager reads (VXP_<PORT NAME>_PORT)
            port_name = (
                variable.removeprefix("VXP_").removesuffix("_PORT").lower().replace("_", "-")
            )
            assert int(default) == preferred[port_name], mapping
            assert default == container, mapping
            assert env_example[variable] == default
            seen.add(port_name)
    assert seen == {"lakefs", "minio", "minio-console", "catalog", "hooks", "trino"}
    # PostgreSQL is reachable only on the compose network
    assert "ports" not in RAW["services"]["postgres"]


# -- no secret in the file, every variable in .env.example ---------------------------------------


def test_no_literal_secrets() -> None:
    for name in RAW["services"]:
        for key, value in _environment(name).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_REF.search(value), f"{name}.{key} must come from .env: {value!r}"
                # nothing but references where a secret goes (the URL around it is fine, and
                # the `:` of an <id>:<secret> credential)
                rest = REQUIRED_REF.sub("", value)
                assert "://" in value or rest in ("", ":"), f"{name}.{key}"
    # the bucket script passes the credentials through the container's environment
    command = " ".join(RAW["services"]["minio-init"]["command"])
    assert "$$MINIO_ROOT_USER" in command
    assert "$$MINIO_ROOT_PASSWORD" in command
    # lakeFS's setup call passes the admin keys through the container's environment too
    setup = RAW["services"]["lakefs-setup"]["command"][0]
    assert '"$$LAKEFS_ACCESS_KEY_ID" "$$LAKEFS_SECRET_ACCESS_KEY"' in setup
    # the example's placeholder values appear nowhere in the compose file
    text = COMPOSE_FILE.read_text()
    for variable in REQUIRED_VARS:
        assert _env_file(ENV_EXAMPLE)[variable] not in text


def test_env_example_lists_every_variable_with_placeholder_secrets() -> None:
    example = _env_file(ENV_EXAMPLE)
    # COMPOSE_PROJECT_NAME is read by compose itself
    assert set(example) == REFERENCED_VARS | {"COMPOSE_PROJECT_NAME"}
    for variable in REQUIRED_VARS:
        value = example[variable]
        assert "changeme" in value.lower().replace("-", ""), f"{variable}={value!r}"
    # a URL, with the service manager's MinIO port as the example's
    assert re.fullmatch(
        rf"https?://[a-z0-9.-]+:{minio.MinIO.ports['minio']}", example["VXP_S3_PUBLIC_ENDPOINT"]
    )
    # the placeholder key id still has the shape lakeFS expects (20 chars, AKIA…)
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", example["LAKEFS_ACCESS_KEY_ID"])
    # and the file tells how to generate real ones
    assert "openssl rand" in ENV_EXAMPLE.read_text()


# -- same configuration as the service manager ---------------------------------------------------


def test_lakefs_settings_match_the_service_manager(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    config = lakefs.LakeFS().config(ctx)
    expected = _flatten("LAKEFS", config)
    # and the variables its process gets (the hooks secret its action sends)
    expected.update(lakefs.LakeFS().launch(ctx).env)
    # installation.*: lakeFS creates the admin user from these only with a local KV store
    # (embedded stack); with PostgreSQL it ignores them and the service manager makes the setup
    # call in LakeFS.after_start. Compose makes the same call in the lakefs-setup service
    # (checked below) and leaves the inert variables out.
    installation = {key for key in expected if key.startswith("LAKEFS_INSTALLATION_")}
    assert installation
    actual = _environment("lakefs")
    assert set(actual) == set(expected) - installation
    # addresses differ by design (container network instead of loopback), paths are the
    # container's
    addresses = {
        "LAKEFS_LISTEN_ADDRESS",
        "LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING",
        "LAKEFS_BLOCKSTORE_S3_ENDPOINT",
    }
    paths = {"LAKEFS_COMMITTED_LOCAL_CACHE_DIR"}
    for key, value in expected.items():
        if key in installation:
            continue
        _assert_same_secrets(key, value, actual[key], ctx.secrets)
        if key not in addresses | paths and not REQUIRED_REF.search(actual[key]):
            wanted = str(value).lower() if isinstance(value, bool) else str(value)
            assert actual[key] == wanted, key
    assert actual["LAKEFS_BLOCKSTORE_S3_REGION"] == minio.REGION
    assert actual["LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING"].endswith(
        f"@postgres:5432/{postgres.DATABASE}?sslmode=disable"
    )
    # the metadata cache lives in a named volume, as the service manager keeps it in its data dir
    cache = actual["LAKEFS_COMMITTED_LOCAL_CACHE_DIR"]
    mounts = dict(reversed(mount.split(":")[:2]) for mount in RAW["services"]["lakefs"]["volumes"])
    assert any(cache.startswith(f"{target}/") for target in mounts), cache
    assert set(mounts.values()) <= set(RAW["volumes"])


def test_lakefs_setup_makes_the_service_managers_setup_call(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    installation = lakefs.LakeFS().config(ctx)["installation"]
    assert isinstance(installation, dict)
    service = RAW["services"]["lakefs-setup"]
    # the lakeFS image itself: no other image to pin
    assert service["image"] == RAW["services"]["lakefs"]["image"]
    env = service["environment"]
    for key, secret in (
        ("LAKEFS_ACCESS_KEY_ID", "lakefs_access_key_id"),
        ("LAKEFS_SECRET_ACCESS_KEY", "lakefs_secret_access_key"),
    ):
        _assert_same_secrets(key, ctx.secrets[secret], env[key], ctx.secrets)
    script = service["command"][0]
    # LakeFS.after_start: POST /api/v1/setup_lakefs {"username": "admin", "key": {…}} unless
    # GET reports "initialized"; the user is the one `installation` names for a local KV
    assert "http://lakefs:8000/api/v1/setup_lakefs" in script
    assert f'{{"username":"{installation["user_name"]}","key":{{"access_key_id":' in script
    assert '"secret_access_key":' in script
    assert "--post-file" in script
    assert '"initialized"' in script
    # lakeFS's own health check is the service manager's probe, not the setup state
    assert "http://127.0.0.1:8000/_health" in RAW["services"]["lakefs"]["healthcheck"]["test"]


def test_postgres_settings_match_the_service_manager() -> None:
    env = _environment("postgres")
    assert env["POSTGRES_USER"] == postgres.SUPERUSER
    assert env["POSTGRES_DB"] == postgres.DATABASE
    assert _environment("lakefs")["LAKEFS_DATABASE_POSTGRES_CONNECTION_STRING"].startswith(
        f"postgres://{postgres.SUPERUSER}:"
    )
    # the service manager's server settings, minus where it listens (the container decides)
    wanted = {}
    for line in postgres.CONFIG.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            wanted[key.strip()] = value.strip().strip("'")
    for local_only in ("listen_addresses", "unix_socket_directories"):
        wanted.pop(local_only)
    command = RAW["services"]["postgres"]["command"]
    assert command[0] == "postgres"
    flags = command[1:]
    assert flags[::2] == ["-c"] * len(wanted)
    assert dict(setting.split("=", 1) for setting in flags[1::2]) == wanted


def test_minio_settings_and_buckets_match_the_service_manager(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    launch_env = minio.MinIO().launch(ctx).env
    env = _environment("minio")
    for key, value in launch_env.items():
        if value in ctx.secrets.values():
            assert REQUIRED_REF.fullmatch(env[key]), key
            _assert_same_secrets(key, value, env[key], ctx.secrets)
        else:
            assert env[key] == value, key
    command = " ".join(RAW["services"]["minio-init"]["command"])
    for bucket in (lakefs.BUCKET, minio.WAREHOUSE_BUCKET):
        assert f"mc mb --ignore-existing vxp/{bucket}" in command


def test_minio_init_creates_the_service_managers_engines_user(tmp_path: Path) -> None:
    """The engines' user and policy of MinIO.ensure_engines_user: the same policy document, the
    same secrets, attached to that user."""
    ctx = _context(tmp_path)
    service = RAW["services"]["minio-init"]
    script = " ".join(service["command"])
    [document] = [line.strip() for line in script.splitlines() if line.strip().startswith("{")]
    assert json.loads(document) == minio.engines_policy()
    assert f"mc admin policy create vxp {minio.ENGINES_POLICY} " in script
    user = '"$$MINIO_ENGINES_ACCESS_KEY_ID"'
    assert f'mc admin user add vxp {user} "$$MINIO_ENGINES_SECRET_ACCESS_KEY"' in script
    assert f"mc admin policy attach vxp {minio.ENGINES_POLICY} --user {user}" in script
    env = service["environment"]
    for key, secret in (
        ("MINIO_ENGINES_ACCESS_KEY_ID", "minio_engines_access_key_id"),
        ("MINIO_ENGINES_SECRET_ACCESS_KEY", "minio_engines_secret_access_key"),
    ):
        _assert_same_secrets(key, ctx.secrets[secret], env[key], ctx.secrets)


def test_catalog_is_built_from_this_repository() -> None:
    build = RAW["services"]["catalog"]["build"]
    assert "image" not in RAW["services"]["catalog"]
    assert (COMPOSE_DIR / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == CATALOG_DOCKERFILE
    lines = [
        line.strip()
        for line in CATALOG_DOCKERFILE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    # the Python the project requires (its minimum) on Debian 12, like the service manager's host
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
    assert [line for line in lines if line.startswith("FROM ")] == [
        "FROM python:3.11-slim-bookworm"
    ]
    assert "RUN pip install . \\" in lines or "RUN pip install ." in lines
    # never root
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    # `vxp catalog serve` on every interface of the container, on the published port
    assert 'ENTRYPOINT ["vxp", "catalog", "serve"]' in lines
    assert 'CMD ["--host", "0.0.0.0", "--port", "8181"]' in lines
    # the build context is an allow-list: the virtualenv, .git and compose/.env stay out
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        part.rstrip("/")
        for line in lines
        if line.startswith("COPY ")
        for part in line.split()[1:-1]
    }
    assert copied <= allowed
    assert not allowed & {".venv", ".git", "compose", "data", ".env"}


def test_catalog_settings_match_the_service_manager(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    expected = catalog_service.Catalog().server_env(ctx)
    actual = _environment("catalog")
    # plus the endpoint engines get: under the service manager the catalog and its clients reach
    # MinIO at the same loopback address, in compose they do not
    # the token secret is one setting given two ways: `vxp up` writes it to a 0600 file (out of the
    # process environment), compose passes the value from .env like every other secret
    secret_file = Path(expected.pop("VXP_CATALOG_TOKEN_SECRET_FILE"))
    assert secret_file.stat().st_mode & 0o077 == 0
    expected["VXP_CATALOG_TOKEN_SECRET"] = secret_file.read_text(encoding="utf-8").strip()
    assert set(actual) == set(expected) | {"VXP_CATALOG_S3_CLIENT_ENDPOINT"}
    # addresses differ: lakeFS and MinIO on the compose network for the catalog itself; MinIO's
    # public URL for the engines it hands loadTable's config to
    assert actual["VXP_CATALOG_LAKEFS_ENDPOINT"] == "http://lakefs:8000"
    assert actual["VXP_CATALOG_S3_ENDPOINT"] == "http://minio:9000"
    client_endpoint = actual["VXP_CATALOG_S3_CLIENT_ENDPOINT"]
    assert REQUIRED_REF.fullmatch(client_endpoint)
    assert REQUIRED_REF.findall(client_endpoint) == ["VXP_S3_PUBLIC_ENDPOINT"]
    # the operator's choice, passed through as `vxp up` passes its own environment's
    allowed = catalog_service.ALLOWED_LOCATIONS
    assert actual[allowed] == f"${{{allowed}:-}}"
    addresses = {"VXP_CATALOG_LAKEFS_ENDPOINT", "VXP_CATALOG_S3_ENDPOINT"}
    for key, value in expected.items():
        _assert_same_secrets(key, value, actual[key], ctx.secrets)
        if key not in addresses | {allowed} and not REQUIRED_REF.search(actual[key]):
            assert actual[key] == value, key
    assert actual["VXP_CATALOG_WAREHOUSE_ROOT"] == f"s3://{minio.WAREHOUSE_BUCKET}"
    # the service manager's health probe, without authentication
    check = " ".join(RAW["services"]["catalog"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8181/healthz" in check


def test_trino_config_matches_the_service_manager(tmp_path: Path) -> None:
    component = trino.Trino()
    ctx = _context(tmp_path)
    jvm = [
        line.strip()
        for line in (TRINO_ETC / "jvm.config").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert jvm == trino.JVM_OPTIONS
    # paths and addresses are the container's; every other setting is the service manager's.
    # The image's launcher reads node.* from node.properties, the service manager may put them
    # into config.properties: compare the union.
    local_only = {
        "http-server.http.port",
        "discovery.uri",
        "plugin.dir",
        "catalog.config-dir",
        "http-server.log.path",
        "node.data-dir",
        # a container listens on every interface and announces its own address
        "node.bind-ip",
        "node.internal-address",
    }
    config = _properties(TRINO_ETC / "config.properties")
    node = _properties(TRINO_ETC / "node.properties")
    assert not set(config) & set(node)
    assert all(key.startswith("node.") for key in node)
    wanted = dict(component.config(ctx))
    node_properties = getattr(component, "node_properties", None)
    if callable(node_properties):
        wanted.update(node_properties(ctx))
    actual = {**config, **node}
    assert {k: v for k, v in actual.items() if k not in local_only} == {
        k: v for k, v in wanted.items() if k not in local_only
    }
    # the port the image's health check and the published port use
    assert config["http-server.http.port"] == "8080"
    assert config["discovery.uri"] == "http://localhost:8080"
    assert f"trino-data:{node['node.data-dir']}" in RAW["services"]["trino"]["volumes"]
    assert _properties(TRINO_ETC / "log.properties") == {"io.trino": "INFO"}
    # dynamic catalogs (CREATE CATALOG) go under the data volume; Trino 476 refuses an explicit
    # catalog.config-dir in dynamic mode ("Configuration property ... was not used")
    assert config["catalog.management"] == "dynamic"
    assert "catalog.config-dir" not in config
    # no catalog file is shipped: the service manager creates none either
    assert not (TRINO_ETC / "catalog").exists()


def test_trino_environment_matches_the_service_manager(tmp_path: Path) -> None:
    """What the catalogs' ${ENV:…} references resolve to (see catalog_properties)."""
    ctx = _context(tmp_path)
    expected = trino.Trino().environment(ctx)
    actual = _environment("trino")
    assert set(actual) == set(expected)
    referenced = {
        match
        for value in trino_engine.catalog_properties("clinical").values()
        for match in re.findall(r"\$\{ENV:([A-Z0-9_]+)\}", value)
    }
    assert referenced == set(trino_engine.CATALOG_ENV) | set(trino_engine.S3_ENV)
    assert referenced <= set(actual)
    # addresses on the compose network: Trino reads table files from MinIO directly
    assert actual["VXP_CATALOG_URI"] == "http://catalog:8181"
    assert actual["VXP_S3_ENDPOINT"] == "http://minio:9000"
    addresses = {"VXP_CATALOG_URI", "VXP_S3_ENDPOINT"}
    for key, value in expected.items():
        _assert_same_secrets(key, value, actual[key], ctx.secrets)
        if key not in addresses and not REQUIRED_REF.search(actual[key]):
            assert actual[key] == value, key
    # the credential is <lakeFS access key id>:<secret access key>, like Catalog.settings'
    credential = actual["VXP_CATALOG_CREDENTIAL"]
    assert REQUIRED_REF.findall(credential) == ["LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY"]
    assert REQUIRED_REF.sub("", credential) == ":"
    assert set(RAW["services"]["trino"]["depends_on"]) == {"minio", "catalog"}
