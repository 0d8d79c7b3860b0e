"""DuckDB with the iceberg, httpfs and avro extensions loaded from their Python wheels, offline.

The ``duckdb-extension-*`` wheels ship the extension binaries; we link them into an extension
directory laid out as DuckDB expects (``<dir>/v<version>/<platform>/``) so ``LOAD`` and DuckDB's
own autoloading find them locally, and we switch off auto-install so DuckDB never goes online.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb

from vxp.errors import VxpError

EXTENSIONS = ("avro", "httpfs", "iceberg")
VERSION = duckdb.__version__


def _wheel_extension(name: str) -> Path:
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError as exc:
        raise VxpError(
            f"the DuckDB extension wheel duckdb-extension-{name} is not installed",
            hint=f"pip install duckdb-extension-{name}=={VERSION}",
        ) from exc
    root = Path(module.__path__[0])
    found = sorted(root.rglob(f"v{VERSION}/{name}.duckdb_extension"))
    if not found:
        raise VxpError(
            f"duckdb-extension-{name} does not match duckdb {VERSION}",
            hint=f"pin both: pip install duckdb=={VERSION} duckdb-extension-{name}=={VERSION}",
        )
    return found[0]


def extension_directory(cache: Path) -> Path:
    """Create (idempotently) the offline extension directory under the vxp cache."""
    root = cache / "duckdb-extensions"
    platform = duckdb.execute("PRAGMA platform").fetchone()
    assert platform is not None
    target_dir = root / f"v{VERSION}" / str(platform[0])
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in EXTENSIONS:
        source = _wheel_extension(name)
        link = target_dir / source.name
        if link.is_symlink() and link.resolve() != source.resolve():
            link.unlink()
        if not link.exists():
            link.symlink_to(source)
    return root


def connect(cache: Path, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with every vxp extension loaded, never touching the network."""
    conn = duckdb.connect(
        database,
        config={
            "extension_directory": str(extension_directory(cache)),
            "autoinstall_known_extensions": False,
            "allow_community_extensions": False,
        },
    )
    for name in EXTENSIONS:
        conn.execute(f"LOAD {name}")
    return conn


def quote(value: str) -> str:
    """A SQL string literal (DuckDB's CREATE SECRET takes no prepared parameters)."""
    return "'" + value.replace("'", "''") + "'"


def s3_secret_sql(name: str, key_id: str, secret: str, endpoint: str) -> str:
    """``CREATE SECRET`` for an S3-compatible endpoint such as MinIO or lakeFS's S3 gateway."""
    scheme, _, host = endpoint.partition("://")
    return (
        f"CREATE OR REPLACE SECRET {name} (TYPE s3, KEY_ID {quote(key_id)}, "
        f"SECRET {quote(secret)}, ENDPOINT {quote(host)}, URL_STYLE 'path', "
        f"USE_SSL {'true' if scheme == 'https' else 'false'}, REGION 'us-east-1')"
    )


def attach_sql(
    catalog_uri: str, client_id: str, client_secret: str, warehouse: str, alias: str = "lake"
) -> str:
    """Statements that attach warehouse ``<repo>.<ref>`` (or ``<repo>``) of the vxp catalog."""
    return (
        f"CREATE OR REPLACE SECRET vxp_catalog (TYPE iceberg, CLIENT_ID {quote(client_id)}, "
        f"CLIENT_SECRET {quote(client_secret)}, "
        f"OAUTH2_SERVER_URI {quote(catalog_uri + '/v1/oauth/tokens')}); "
        f"ATTACH {quote(warehouse)} AS {alias} (TYPE iceberg, SECRET vxp_catalog, "
        f"ENDPOINT {quote(catalog_uri)})"
    )
