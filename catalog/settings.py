"""Server settings: one frozen dataclass, built by the CLI or from ``VXP_CATALOG_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vxp.core.settings import DEFAULT_REGION


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


def parse_locations(text: str | None) -> tuple[str, ...]:
    """``VXP_CATALOG_ALLOWED_LOCATIONS``: comma-separated URI prefixes, blanks ignored.

    Shared with ``vxp gc``, which must read the variable exactly as the catalog does.
    """
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def _token_secret(values: Mapping[str, str]) -> str:
    """``VXP_CATALOG_TOKEN_SECRET``, or the first line of the file ``VXP_CATALOG_TOKEN_SECRET_FILE``
    names: a secret read from a file stays out of the process environment, which other tools
    (``ps e``, ``/proc/<pid>/environ``, crash reports) show more readily than a 0600 file.

    Raises:
        SettingsError: neither is set, both are, or the file cannot be read or is empty.
    """
    inline = values.get("VXP_CATALOG_TOKEN_SECRET")
    path = values.get("VXP_CATALOG_TOKEN_SECRET_FILE")
    if inline and path:
        raise SettingsError(
            "set VXP_CATALOG_TOKEN_SECRET or VXP_CATALOG_TOKEN_SECRET_FILE, not both"
        )
    if inline:
        return inline
    if not path:
        raise SettingsError(
            "VXP_CATALOG_TOKEN_SECRET (or VXP_CATALOG_TOKEN_SECRET_FILE) is not set"
        )
    try:
        secret = Path(path).read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise SettingsError(f"VXP_CATALOG_TOKEN_SECRET_FILE {path!r} cannot be read") from exc
    if not secret:
        raise SettingsError(f"VXP_CATALOG_TOKEN_SECRET_FILE {path!r} is empty")
    return secret


@dataclass(frozen=True)
class S3Settings:
    """How the catalog and the engines reach the warehouse bucket.

    Every engine gets these settings from the catalog (loadTable/createTable/loadView ``config``),
    so a client needs nothing but the catalog URI, its lakeFS key pair and a warehouse name.

    Raises:
        SettingsError: (on construction) only one of the client key pair's two parts is set.
    """

    # where the catalog itself reads and writes metadata files
    endpoint: str
    access_key_id: str
    # never in repr(): settings are logged and shown in tracebacks
    secret_access_key: str = field(repr=False)
    region: str = DEFAULT_REGION
    path_style_access: bool = True
    # where engines reach the same storage, when that address differs from the catalog's: in
    # compose the catalog reaches MinIO on the container network (http://minio:9000), which no
    # user's machine resolves. None: engines use ``endpoint`` too
    client_endpoint: str | None = None
    # the key pair handed to engines, when it differs from the catalog's own: an object-store
    # user whose policy allows only the warehouse prefix (docs/explainers/catalog-security.md).
    # None: engines get the catalog's own pair
    client_access_key_id: str | None = None
    client_secret_access_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.client_access_key_id is None) != (self.client_secret_access_key is None):
            raise SettingsError(
                "VXP_CATALOG_S3_CLIENT_ACCESS_KEY_ID and VXP_CATALOG_S3_CLIENT_SECRET_ACCESS_KEY "
                "go together"
            )

    def file_io_properties(self) -> dict[str, str]:
        """FileIO properties for the catalog's own reads and writes (at ``endpoint``)."""
        return self._properties(self.endpoint, self.access_key_id, self.secret_access_key)

    def client_properties(self) -> dict[str, str]:
        """FileIO properties handed to engines: at ``client_endpoint`` (else ``endpoint``), with
        the client key pair (else the catalog's own)."""
        if self.client_access_key_id is not None and self.client_secret_access_key is not None:
            pair = (self.client_access_key_id, self.client_secret_access_key)
        else:
            pair = (self.access_key_id, self.secret_access_key)
        return self._properties(self.client_endpoint or self.endpoint, *pair)

    def _properties(self, endpoint: str, key_id: str, secret: str) -> dict[str, str]:
        """The pyiceberg/Iceberg FileIO property names understood by pyiceberg, Trino and DuckDB."""
        return {
            "s3.endpoint": endpoint,
            "s3.access-key-id": key_id,
            "s3.secret-access-key": secret,
            "s3.path-style-access": "true" if self.path_style_access else "false",
            "s3.region": self.region,
            "client.region": self.region,
        }


@dataclass(frozen=True)
class Settings:
    """Everything the catalog server needs; no field is read from anywhere else.

    Raises:
        SettingsError: (on construction) no token secret; a warehouse root or allowed location
            that is not a ``file:///`` or ``s3://`` URI; an ``s3://`` root without S3 settings.
    """

    # base URL of lakeFS, without /api/v1
    lakefs_endpoint: str
    # where table metadata and data files are written: file:///… (embedded) or s3://bucket/… (full)
    warehouse_root: str
    # encrypts the bearer tokens; issued tokens survive a restart with the same secret
    token_secret: str = field(repr=False)
    # warehouse served to clients that send none: "<repo>" or "<repo>.<ref>"
    default_warehouse: str | None = None
    s3: S3Settings | None = None
    token_ttl_seconds: int = 3600
    # a write whose lakeFS merge conflicts is re-planned against the new head this many times
    commit_attempts: int = 4
    # URI prefixes outside the warehouse root where clients may put tables and views (an explicit
    # `location`, `write.metadata.path`, a registered metadata file); see MetadataFiles
    allowed_locations: tuple[str, ...] = ()
    # the largest request body accepted, in bytes (413 above it); see vxp.catalog.limits
    max_request_bytes: int = 16 << 20
    # the longest property key or value accepted, in UTF-8 bytes (400 above it)
    max_property_bytes: int = 64 << 10
    # how long a caller's key pair, once accepted by lakeFS, is trusted without asking again, in
    # seconds: a deleted lakeFS user or key is refused at most this long after
    caller_check_seconds: float = 10.0
    # a temporary branch older than this, in seconds, belongs to a commit that can no longer
    # finish (every lakeFS call of a commit times out well before) and is deleted
    temp_branch_lease_seconds: int = 900

    def __post_init__(self) -> None:
        for name in ("max_request_bytes", "max_property_bytes", "temp_branch_lease_seconds"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.caller_check_seconds < 0:
            raise SettingsError("caller_check_seconds must not be negative")
        if not self.token_secret:
            raise SettingsError("the catalog needs a token secret (VXP_CATALOG_TOKEN_SECRET)")
        if not self.warehouse_root.startswith(("file:///", "s3://")):
            raise SettingsError(
                f"warehouse root {self.warehouse_root!r} must be a file:/// or s3:// URI"
            )
        for prefix in self.allowed_locations:
            if not prefix.startswith(("file:/", "s3://")):
                raise SettingsError(
                    f"allowed location {prefix!r} must be a file:/// or s3:// URI prefix"
                )
        if self.warehouse_root.startswith("s3://") and self.s3 is None:
            raise SettingsError(
                "an s3:// warehouse root needs S3 settings (VXP_CATALOG_S3_ENDPOINT, "
                "VXP_CATALOG_S3_ACCESS_KEY_ID, VXP_CATALOG_S3_SECRET_ACCESS_KEY)"
            )

    @property
    def root(self) -> str:
        """The warehouse root without a trailing ``/``."""
        return self.warehouse_root.rstrip("/")

    def file_io_properties(self) -> dict[str, str]:
        """Properties for the server's own FileIO."""
        return self.s3.file_io_properties() if self.s3 is not None else {}

    def client_config(self) -> dict[str, str]:
        """The ``config`` handed to engines with a table or view: how they reach its files."""
        return self.s3.client_properties() if self.s3 is not None else {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``VXP_CATALOG_*`` variables (S3 settings only when an endpoint is given).

        ``VXP_CATALOG_ALLOWED_LOCATIONS`` is a comma-separated list of URI prefixes;
        ``VXP_CATALOG_TOKEN_TTL_SECONDS`` is in seconds (default 3600);
        ``VXP_CATALOG_MAX_REQUEST_BYTES`` (default 16 MiB) and ``VXP_CATALOG_MAX_PROPERTY_BYTES``
        (default 64 KiB) are in bytes; ``VXP_CATALOG_CALLER_CHECK_SECONDS`` (default 10) and
        ``VXP_CATALOG_TEMP_BRANCH_LEASE_SECONDS`` (default 900) in seconds.
        ``VXP_CATALOG_S3_CLIENT_ACCESS_KEY_ID`` and ``…_CLIENT_SECRET_ACCESS_KEY`` (together) are
        the key pair engines get instead of the catalog's own. ``VXP_CATALOG_TOKEN_SECRET_FILE``
        names a file whose first line is the token secret, instead of
        ``VXP_CATALOG_TOKEN_SECRET``.

        Args:
            env: the variables (default ``os.environ``).

        Raises:
            SettingsError: a required variable is unset, or a value breaks a rule of
                :class:`Settings`.
            ValueError: a number variable (``…_SECONDS``, ``…_BYTES``) is not a number.
        """
        values = os.environ if env is None else env

        def required(name: str) -> str:
            value = values.get(name)
            if not value:
                raise SettingsError(f"{name} is not set")
            return value

        s3 = None
        if values.get("VXP_CATALOG_S3_ENDPOINT"):
            s3 = S3Settings(
                endpoint=values["VXP_CATALOG_S3_ENDPOINT"],
                access_key_id=required("VXP_CATALOG_S3_ACCESS_KEY_ID"),
                secret_access_key=required("VXP_CATALOG_S3_SECRET_ACCESS_KEY"),
                region=values.get("VXP_CATALOG_S3_REGION") or DEFAULT_REGION,
                path_style_access=values.get("VXP_CATALOG_S3_PATH_STYLE_ACCESS", "true").lower()
                != "false",
                client_endpoint=values.get("VXP_CATALOG_S3_CLIENT_ENDPOINT") or None,
                client_access_key_id=values.get("VXP_CATALOG_S3_CLIENT_ACCESS_KEY_ID") or None,
                client_secret_access_key=values.get("VXP_CATALOG_S3_CLIENT_SECRET_ACCESS_KEY")
                or None,
            )
        return cls(
            lakefs_endpoint=required("VXP_CATALOG_LAKEFS_ENDPOINT"),
            warehouse_root=required("VXP_CATALOG_WAREHOUSE_ROOT"),
            token_secret=_token_secret(values),
            default_warehouse=values.get("VXP_CATALOG_DEFAULT_WAREHOUSE") or None,
            s3=s3,
            token_ttl_seconds=int(values.get("VXP_CATALOG_TOKEN_TTL_SECONDS") or 3600),
            allowed_locations=parse_locations(values.get("VXP_CATALOG_ALLOWED_LOCATIONS")),
            max_request_bytes=int(values.get("VXP_CATALOG_MAX_REQUEST_BYTES") or 16 << 20),
            max_property_bytes=int(values.get("VXP_CATALOG_MAX_PROPERTY_BYTES") or 64 << 10),
            caller_check_seconds=float(values.get("VXP_CATALOG_CALLER_CHECK_SECONDS") or 10),
            temp_branch_lease_seconds=int(
                values.get("VXP_CATALOG_TEMP_BRANCH_LEASE_SECONDS") or 900
            ),
        )
