"""Typed connection settings of a vxp client, and where they come from.

Precedence, highest first (the rule pyiceberg's ``load_catalog`` follows for its own config):

1. explicit arguments (``Settings.load(overrides={...})``, ``PlatformClient(settings=...)``);
2. the environment: the ``VXP_*`` names ``vxp env`` prints (:class:`Key`);
3. the client file ``vxp up`` writes to ``$VXP_HOME/run/client.json`` (mode 0600).

vxp reads and prints only names of its own (``VXP_*``, and pyiceberg's ``PYICEBERG_CATALOG__VXP__*``
for the catalog it names ``vxp``), so ``eval "$(vxp env)"`` never replaces a user's ``AWS_*`` or
``PG*`` variables. Secrets are :class:`Secret` values: ``repr``, ``str`` and logs never show them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from vxp.core.errors import InvalidInput, Unavailable
from vxp.core.home import Home

__all__ = [
    "DEFAULT_REGION",
    "Health",
    "Key",
    "S3Access",
    "Secret",
    "Settings",
    "StackName",
]

#: the S3 region vxp's MinIO serves and every S3 client is told (MinIO ignores it; SDKs need one)
DEFAULT_REGION = "us-east-1"
#: the client file's name under ``$VXP_HOME/run/``
CLIENT_FILE = "client.json"


class Key(StrEnum):
    """Every setting's variable name, as ``vxp env`` prints it and ``client.json`` stores it."""

    HOME = "VXP_HOME"
    STACK = "VXP_STACK"
    LAKEFS_ENDPOINT = "VXP_LAKEFS_ENDPOINT"
    LAKEFS_ACCESS_KEY_ID = "VXP_LAKEFS_ACCESS_KEY_ID"
    LAKEFS_SECRET_ACCESS_KEY = "VXP_LAKEFS_SECRET_ACCESS_KEY"  # noqa: S105 (a name)
    STORAGE_NAMESPACE_PREFIX = "VXP_STORAGE_NAMESPACE_PREFIX"
    CATALOG_URI = "VXP_CATALOG_URI"
    WAREHOUSE_ROOT = "VXP_WAREHOUSE_ROOT"
    CATALOG_ALLOWED_LOCATIONS = "VXP_CATALOG_ALLOWED_LOCATIONS"
    CATALOG_TEMP_BRANCH_LEASE_SECONDS = "VXP_CATALOG_TEMP_BRANCH_LEASE_SECONDS"
    S3_ENDPOINT = "VXP_S3_ENDPOINT"
    S3_ACCESS_KEY_ID = "VXP_S3_ACCESS_KEY_ID"
    S3_SECRET_ACCESS_KEY = "VXP_S3_SECRET_ACCESS_KEY"  # noqa: S105 (a name)
    S3_REGION = "VXP_S3_REGION"
    TRINO_URL = "VXP_TRINO_URL"
    POSTGRES_DSN = "VXP_POSTGRES_DSN"
    DUCKDB_EXTENSION_DIRECTORY = "VXP_DUCKDB_EXTENSION_DIRECTORY"


class StackName(StrEnum):
    """The stacks ``vxp up`` starts (``docs/architecture.md``)."""

    EMBEDDED = "embedded"
    FULL = "full"


class Health(StrEnum):
    """A component's state in ``vxp status``; only :attr:`ok` states exit 0."""

    HEALTHY = "healthy"  # a process that answers its health check from its own ports
    READY = "ready"  # an in-process component (DuckDB) that loads
    UNHEALTHY = "unhealthy"  # running, but not answering
    UNAVAILABLE = "unavailable"  # an in-process component that does not load
    DEAD = "dead"  # its process died
    STOPPED = "stopped"  # never started, or stopped by `vxp down`

    @property
    def ok(self) -> bool:
        """True for the states ``vxp status`` counts as up (healthy, ready); else exit 1."""
        return self in (Health.HEALTHY, Health.READY)


class Secret:
    """A secret string that never shows itself in ``repr``, ``str`` or f-strings.

    Call :meth:`reveal` where the value must really be sent (an HTTP header, a config file).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret's value, for the one place it must really be sent."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class S3Access:
    """How a client reaches the object storage that holds the warehouse (full stack only).

    Attributes:
        endpoint: the S3 endpoint URL, e.g. ``http://127.0.0.1:9000``.
        access_key_id, secret_access_key: the key pair.
        region: the region S3 SDKs are told (:data:`DEFAULT_REGION` unless set).
    """

    endpoint: str
    access_key_id: str
    secret_access_key: Secret
    region: str = DEFAULT_REGION

    def file_io_properties(self) -> dict[str, str]:
        """pyiceberg/Iceberg FileIO properties (understood by pyiceberg, Trino and DuckDB)."""
        return {
            "s3.endpoint": self.endpoint,
            "s3.access-key-id": self.access_key_id,
            "s3.secret-access-key": self.secret_access_key.reveal(),
            "s3.path-style-access": "true",
            "s3.region": self.region,
            "client.region": self.region,
        }


@dataclass(frozen=True)
class Settings:
    """Where and how a client reaches the platform.

    Build it with :meth:`load` (the precedence above); construct it directly in tests.
    ``lakefs_secret_access_key`` and ``postgres_dsn`` are :class:`Secret`; ``repr(settings)`` shows
    no secret. Endpoints are base URLs without a trailing ``/`` (``http://127.0.0.1:8000``).
    """

    lakefs_endpoint: str
    lakefs_access_key_id: str
    lakefs_secret_access_key: Secret
    storage_namespace_prefix: str = "local://"
    catalog_uri: str | None = None
    warehouse_root: str | None = None
    catalog_allowed_locations: tuple[str, ...] = ()
    #: the catalog's temporary-branch lease in seconds, when set (``vxp gc`` must agree with it)
    catalog_temp_branch_lease_seconds: int | None = None
    s3: S3Access | None = None
    trino_url: str | None = None
    postgres_dsn: Secret | None = None
    duckdb_extension_directory: Path | None = None
    stack: StackName | None = None
    home: Path | None = None
    #: where the values came from, for error messages ("environment", a file path, "arguments")
    origin: str = field(default="arguments", compare=False)

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        home: Home | None = None,
    ) -> Settings:
        """Settings from ``overrides``, then the environment, then ``$VXP_HOME/run/client.json``.

        Args:
            overrides: values by :class:`Key` name that win over everything else; empty values are
                ignored.
            environ: the environment to read (default ``os.environ``).
            home: the installation whose client file is read (default: ``$VXP_HOME``).

        Raises:
            Unavailable: no lakeFS endpoint anywhere: no stack was started here and no
                ``vxp env`` variables are set.
            InvalidInput: the client file cannot be read or holds no JSON object, the lakeFS key
                pair is missing, or a value is malformed (an unknown stack name).
        """
        env = os.environ if environ is None else environ
        home = home or Home.from_env(env)
        values: dict[str, str] = {}
        origin = "arguments"
        client_file = home.run / CLIENT_FILE
        if client_file.exists():
            values.update(_read_client_file(client_file))
            origin = str(client_file)
        from_env = {key.value: env[key.value] for key in Key if env.get(key.value)}
        if from_env.get(Key.LAKEFS_ENDPOINT):
            origin = "environment (`vxp env` variables)"
        values.update(from_env)
        values.update({k: v for k, v in (overrides or {}).items() if v})
        if not values.get(Key.LAKEFS_ENDPOINT):
            raise Unavailable(
                "no vxp platform is configured here: no stack was started with this VXP_HOME "
                f"({home.root}) and VXP_LAKEFS_ENDPOINT is not set",
                hint='run `vxp up`, or `eval "$(vxp env)"` on the machine that runs the stack',
            )
        return cls.from_values(values, origin=origin)

    @classmethod
    def from_values(cls, values: Mapping[str, str], *, origin: str = "arguments") -> Settings:
        """Settings from a mapping of :class:`Key` names to strings (empty strings count as unset).

        Args:
            values: :class:`Key` names → values, as ``vxp env`` prints them.
            origin: where ``values`` came from, named in error messages.

        Raises:
            InvalidInput: the lakeFS endpoint or key pair is missing, ``VXP_STACK`` names no
                :class:`StackName`, or ``VXP_CATALOG_TEMP_BRANCH_LEASE_SECONDS`` is no positive
                whole number.
        """
        missing = [
            key.value
            for key in (Key.LAKEFS_ENDPOINT, Key.LAKEFS_ACCESS_KEY_ID, Key.LAKEFS_SECRET_ACCESS_KEY)
            if not values.get(key)
        ]
        if missing:
            raise InvalidInput(
                f"missing connection settings: {', '.join(missing)} (from {origin})",
                hint='`eval "$(vxp env)"` on the machine that runs the stack sets them all',
            )

        def get(key: Key) -> str | None:
            return values.get(key) or None

        s3 = None
        if (endpoint := get(Key.S3_ENDPOINT)) is not None:
            s3 = S3Access(
                endpoint=endpoint,
                access_key_id=values.get(Key.S3_ACCESS_KEY_ID, ""),
                secret_access_key=Secret(values.get(Key.S3_SECRET_ACCESS_KEY, "")),
                region=get(Key.S3_REGION) or DEFAULT_REGION,
            )
        stack = get(Key.STACK)
        if stack is not None and stack not in StackName.__members__.values():
            raise InvalidInput(
                f"{Key.STACK}={stack!r} is not a stack",
                hint=f"use one of: {', '.join(s.value for s in StackName)}",
            )
        lease = get(Key.CATALOG_TEMP_BRANCH_LEASE_SECONDS)
        if lease is not None and not (lease.isdigit() and int(lease) > 0):
            raise InvalidInput(
                f"{Key.CATALOG_TEMP_BRANCH_LEASE_SECONDS}={lease!r} is not a whole number of "
                "seconds above 0",
                hint="set it to the catalog's VXP_CATALOG_TEMP_BRANCH_LEASE_SECONDS (900 unless "
                "the catalog was given another), or unset it",
            )
        extension_dir = get(Key.DUCKDB_EXTENSION_DIRECTORY)
        home = get(Key.HOME)
        dsn = get(Key.POSTGRES_DSN)
        return cls(
            lakefs_endpoint=values[Key.LAKEFS_ENDPOINT].rstrip("/"),
            lakefs_access_key_id=values[Key.LAKEFS_ACCESS_KEY_ID],
            lakefs_secret_access_key=Secret(values[Key.LAKEFS_SECRET_ACCESS_KEY]),
            storage_namespace_prefix=get(Key.STORAGE_NAMESPACE_PREFIX) or "local://",
            catalog_uri=(get(Key.CATALOG_URI) or "").rstrip("/") or None,
            warehouse_root=get(Key.WAREHOUSE_ROOT),
            catalog_allowed_locations=parse_locations(get(Key.CATALOG_ALLOWED_LOCATIONS)),
            catalog_temp_branch_lease_seconds=int(lease) if lease is not None else None,
            s3=s3,
            trino_url=get(Key.TRINO_URL),
            postgres_dsn=Secret(dsn) if dsn else None,
            duckdb_extension_directory=Path(extension_dir) if extension_dir else None,
            stack=StackName(stack) if stack else None,
            home=Path(home) if home else None,
            origin=origin,
        )

    def to_values(self) -> dict[str, str]:
        """The settings as :class:`Key` names → strings, secrets revealed (``vxp env``)."""
        values: dict[Key, str | None] = {
            Key.HOME: str(self.home) if self.home else None,
            Key.STACK: self.stack.value if self.stack else None,
            Key.LAKEFS_ENDPOINT: self.lakefs_endpoint,
            Key.LAKEFS_ACCESS_KEY_ID: self.lakefs_access_key_id,
            Key.LAKEFS_SECRET_ACCESS_KEY: self.lakefs_secret_access_key.reveal(),
            Key.STORAGE_NAMESPACE_PREFIX: self.storage_namespace_prefix,
            Key.CATALOG_URI: self.catalog_uri,
            Key.WAREHOUSE_ROOT: self.warehouse_root,
            Key.CATALOG_ALLOWED_LOCATIONS: ",".join(self.catalog_allowed_locations) or None,
            Key.CATALOG_TEMP_BRANCH_LEASE_SECONDS: (
                str(self.catalog_temp_branch_lease_seconds)
                if self.catalog_temp_branch_lease_seconds
                else None
            ),
            Key.TRINO_URL: self.trino_url,
            Key.POSTGRES_DSN: self.postgres_dsn.reveal() if self.postgres_dsn else None,
            Key.DUCKDB_EXTENSION_DIRECTORY: (
                str(self.duckdb_extension_directory) if self.duckdb_extension_directory else None
            ),
        }
        if self.s3 is not None:
            values[Key.S3_ENDPOINT] = self.s3.endpoint
            values[Key.S3_ACCESS_KEY_ID] = self.s3.access_key_id
            values[Key.S3_SECRET_ACCESS_KEY] = self.s3.secret_access_key.reveal()
            values[Key.S3_REGION] = self.s3.region
        return {key.value: value for key, value in values.items() if value}

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "origin"
        )
        return f"Settings({shown})"


def parse_locations(text: str | None) -> tuple[str, ...]:
    """``VXP_CATALOG_ALLOWED_LOCATIONS``: comma-separated URI prefixes, blanks ignored.

    The catalog reads its own variable with the same rule, and ``vxp gc`` must agree with it.
    """
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def write_client_file(home: Home, values: Mapping[str, str]) -> Path:
    """Write the client file ``vxp up`` leaves for clients on this machine (mode 0600).

    Written to a temporary file and renamed, so a reader never sees half a file.

    Args:
        values: :class:`Key` names → values, secrets revealed (:meth:`Settings.to_values`).

    Returns:
        The file's path, ``$VXP_HOME/run/client.json``.

    Raises:
        OSError: the file cannot be written.
    """
    path = home.run / CLIENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # created 0600 before anything is written: the file holds the lakeFS secret key
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dict(sorted(values.items())), handle, indent=2)
    tmp.replace(path)
    return path


def _read_client_file(path: Path) -> dict[str, str]:
    try:
        raw: Any = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot read the client settings in {path}: {exc}",
            hint="`vxp up` rewrites it",
        ) from exc
    if not isinstance(raw, dict):
        raise InvalidInput(f"{path} does not hold a JSON object", hint="`vxp up` rewrites it")
    return {str(k): str(v) for k, v in raw.items()}
