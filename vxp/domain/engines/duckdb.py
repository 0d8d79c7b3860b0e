"""DuckDB with the iceberg, httpfs and avro extensions loaded from their Python wheels, offline.

The ``duckdb-extension-*`` wheels ship the extension binaries; we link them into an extension
directory laid out as DuckDB expects (``<dir>/v<version>/<platform>/``) so ``LOAD`` and DuckDB's
own autoloading find them locally, and we switch off auto-install so DuckDB never goes online.

Loading costs almost nothing but DuckDB's check of each extension's signature, which hashes the
whole binary: ~0.2-0.4 s per connection for the three (seconds on a busy machine), every time,
since each connection is its own database. A connection whose SQL is its owner's own (``vxp sql``,
a user's client, their recipes: code they could run anyway) skips that check
(``own_sql=True``); the extensions are the files the installed wheels ship. A connection that runs
SQL on someone else's behalf (hooks, checks) keeps it: skipping it lets SQL ``LOAD`` any unsigned
extension file the process can read.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from vxp.core.errors import Unavailable, VxpError
from vxp.core.settings import DEFAULT_REGION, Settings
from vxp.domain.engines.common import REF_CATALOG, CatalogAccess, Result, repository_catalog

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
    """Create (idempotently) the offline extension directory under the vxp cache.

    Links each extension of :data:`EXTENSIONS` from its ``duckdb-extension-*`` wheel into
    ``<cache>/duckdb-extensions/v<version>/<platform>/``, the layout DuckDB looks in.

    Returns:
        ``<cache>/duckdb-extensions``, DuckDB's ``extension_directory``.

    Raises:
        VxpError: an extension wheel is missing or does not match the installed duckdb.
        OSError: the directory or a link cannot be made.
    """
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


def connect(
    cache: Path, database: str = ":memory:", *, own_sql: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with every vxp extension loaded, never touching the network.

    Auto-install is off, so DuckDB never downloads an extension; the temporary directory is
    outside the working directory, so a refused write leaves nothing there.

    Args:
        cache: the vxp cache (``$VXP_CACHE``) holding the extension directory.
        database: a DuckDB database path, or ``:memory:``.
        own_sql: the connection runs only its owner's SQL, so the extensions are loaded without
            DuckDB's signature check (milliseconds instead of ~0.3 s; see the module docstring).

    Raises:
        VxpError: an extension wheel is missing or does not match duckdb.
        duckdb.Error: DuckDB cannot open ``database`` or load an extension.
    """
    conn = duckdb.connect(
        database,
        config={
            "extension_directory": str(extension_directory(cache)),
            # DuckDB's default temporary directory is relative to the working directory, and a
            # refused Iceberg write left an empty data/ folder there
            "temp_directory": str(Path(tempfile.gettempdir()) / "vxp-duckdb"),
            "autoinstall_known_extensions": False,
            "allow_community_extensions": False,
            "allow_unsigned_extensions": own_sql,
        },
    )
    for name in EXTENSIONS:
        conn.execute(f"LOAD {name}")
    # table data files are written once and never changed (only `vxp gc` deletes them), so
    # their Parquet footers can be kept across queries
    conn.execute("SET parquet_metadata_cache = true")
    return conn


def quote(value: str) -> str:
    """A SQL string literal: ``'`` doubled inside single quotes.

    DuckDB's ``CREATE SECRET`` and ``ATTACH`` options take no prepared parameters.
    """
    return "'" + value.replace("'", "''") + "'"


def s3_secret_sql(name: str, key_id: str, secret: str, endpoint: str) -> str:
    """``CREATE SECRET`` for an S3-compatible endpoint such as MinIO or lakeFS's S3 gateway.

    Args:
        endpoint: ``http(s)://host:port``; the scheme decides ``USE_SSL``.
    """
    scheme, _, host = endpoint.partition("://")
    return (
        f"CREATE OR REPLACE SECRET {name} (TYPE s3, KEY_ID {quote(key_id)}, "
        f"SECRET {quote(secret)}, ENDPOINT {quote(host)}, URL_STYLE 'path', "
        f"USE_SSL {'true' if scheme == 'https' else 'false'}, REGION {quote(DEFAULT_REGION)})"
    )


# the DuckDB secret holding the catalog's OAuth2 client credentials
CATALOG_SECRET = "vxp_catalog"  # noqa: S105 - a secret's name, not a password


def catalog_secret_sql(catalog: CatalogAccess, name: str = CATALOG_SECRET) -> str:
    """``CREATE SECRET`` with the OAuth2 client credentials of the vxp catalog.

    The token endpoint is the catalog's ``/v1/oauth/tokens`` (Iceberg REST spec).
    """
    return (
        f"CREATE OR REPLACE SECRET {name} (TYPE iceberg, CLIENT_ID {quote(catalog.client_id)}, "
        f"CLIENT_SECRET {quote(catalog.client_secret)}, "
        f"OAUTH2_SERVER_URI {quote(catalog.uri + '/v1/oauth/tokens')})"
    )


def attach_warehouse_sql(
    catalog_uri: str,
    warehouse: str,
    alias: str,
    secret: str = CATALOG_SECRET,
    *,
    immutable: bool = False,
) -> str:
    """``ATTACH`` warehouse ``<repo>.<ref>`` (ref-scoped) or ``<repo>`` (repository-scoped).

    Table files are read with the S3 settings the catalog hands out with each table (DuckDB's
    default access delegation, vended credentials), so no S3 secret is needed, and none at all on
    a file:// warehouse. A repository-scoped warehouse nests the ref as the first namespace level:
    ``SELECT * FROM clinical."integration.basel".patients``.
    """
    nested = ", SUPPORT_NESTED_NAMESPACES true" if "." not in warehouse else ""
    # a warehouse pinned to a commit ID never changes: let DuckDB keep what it loaded instead
    # of asking the catalog for every table on every query
    cache = ", MAX_TABLE_STALENESS '1 day'" if immutable else ""
    return (
        f"ATTACH {quote(warehouse)} AS {alias} (TYPE iceberg, SECRET {secret}, "
        f"ENDPOINT {quote(catalog_uri)}{nested}{cache})"
    )


def attach_sql(
    catalog_uri: str, client_id: str, client_secret: str, warehouse: str, alias: str = "lake"
) -> str:
    """Statements that attach warehouse ``<repo>.<ref>`` (or ``<repo>``) of the vxp catalog.

    For users who attach by hand (``VXP_DUCKDB_ATTACH``): the secret, then the ``ATTACH``.
    """
    catalog = CatalogAccess(catalog_uri, client_id, client_secret)
    return f"{catalog_secret_sql(catalog)}; {attach_warehouse_sql(catalog_uri, warehouse, alias)}"


def attach(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    repository: str,
    ref: str | None = None,
    alias: str = REF_CATALOG,
    *,
    immutable: bool = False,
) -> None:
    """Attach ``ref`` of ``repository`` (or, without a ref, the whole repository) as ``alias``.

    Args:
        ref: a branch, tag or commit ID; None attaches the repository-scoped warehouse.
        immutable: ``ref`` is a commit ID, so DuckDB may cache table metadata.

    Raises:
        NotFound: no catalog URI is configured.
        Unavailable: the catalog cannot be reached.
        VxpError: DuckDB could not attach (the catalog refused).
    """
    catalog = CatalogAccess.from_settings(settings)
    warehouse = repository if ref is None else f"{repository}.{ref}"
    try:
        # DuckDB fetches the OAuth2 token when the secret is created
        conn.execute(catalog_secret_sql(catalog))
        conn.execute(attach_warehouse_sql(catalog.uri, warehouse, alias, immutable=immutable))
    except duckdb.Error as exc:
        if _unreachable(exc):
            raise Unavailable(
                f"cannot reach the vxp catalog at {catalog.uri}: {exc}",
                hint="check `vxp status`; `vxp up` restarts what died",
            ) from exc
        raise VxpError(f"DuckDB could not attach warehouse {warehouse!r}: {exc}") from exc


def _unreachable(exc: duckdb.Error) -> bool:
    """Whether DuckDB's error says the catalog could not be connected to (its httpfs wording:
    "Could not connect to server", "Could not get token from …: Could not connect …")."""
    message = str(exc).lower()
    return "could not connect" in message or "connection refused" in message


def session(
    cache: Path,
    settings: Settings,
    repository: str,
    ref: str,
    *,
    pinned: bool = False,
    own_sql: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A connection where ``basel.patients`` is that table at ``ref``.

    Every other ref of the repository is ``<repo>."<ref>.<namespace>".<table>``, as in Trino.
    The caller closes the connection.

    Args:
        pinned: ``ref`` is a commit ID, so DuckDB may cache table metadata.
        own_sql: only the owner's SQL runs here (:func:`connect`).

    Raises:
        NotFound: no catalog URI is configured.
        VxpError: an extension is missing, or DuckDB could not attach the warehouse.
        duckdb.Error: DuckDB failed to load an extension or set up the session.
    """
    conn = connect(cache, own_sql=own_sql)
    try:
        attach(conn, settings, repository, ref, REF_CATALOG, immutable=pinned)
        taken = {str(row[0]) for row in conn.execute("FROM duckdb_databases()").fetchall()}
        # a repository named like a database DuckDB already has (lake, memory, system, temp)
        # keeps its other refs out of reach here, not the ref itself
        if repository_catalog(repository) not in taken:
            attach(conn, settings, repository, None, repository_catalog(repository))
        # `USE lake` needs a schema `main`, which the iceberg extension reserves for a default it
        # does not have. A search path makes `lake` the default catalog all the same, so
        # two-part names (namespace.table) resolve in it; one-part names resolve in namespace
        # `default`, as in Spark. DuckDB checks that namespace when a name is looked up in it.
        conn.execute(f"SET search_path = {quote(REF_CATALOG + '.default')}")
    except BaseException:
        conn.close()
        raise
    return conn


def query(cache: Path, settings: Settings, sql: str, repository: str, ref: str) -> Result:
    """Run ``sql`` (one or more statements; the last one's rows are returned) at ``ref``.

    Opens and closes its own connection (:func:`session`); ``sql`` is the caller's own, so the
    extensions load without DuckDB's signature check (:func:`connect`).

    Raises:
        NotFound: no catalog URI is configured.
        VxpError: a statement failed (DuckDB's message), an extension is missing, or the
            warehouse could not be attached.
        duckdb.Error: DuckDB failed to load an extension.
    """
    conn = session(cache, settings, repository, ref, own_sql=True)
    try:
        start = time.monotonic()
        try:
            statements = conn.extract_statements(sql)
            relation = conn.execute(sql)
            table = relation.to_arrow_table() if relation.description else pa.table({})
        except duckdb.Error as exc:
            hint = f"the query ran at ref {ref!r} of {repository!r}"
            if "Failed to commit" in str(exc):
                # after a refused commit DuckDB deletes the files it wrote; engines' keys cannot
                # delete (only `vxp gc` does), so DuckDB may report that instead of the refusal
                hint += (
                    "; the catalog refused the commit: a tag or commit is read-only, and "
                    "source/integration change only by merge (write on a work branch with --ref); "
                    "files DuckDB wrote are left for `vxp gc`"
                )
            raise VxpError(f"DuckDB: {exc}", hint=hint) from exc
        written = _written(statements[-1].type, table) if statements else None
        return Result(table, time.monotonic() - start, written, len(statements))
    finally:
        conn.close()


# the statements DuckDB answers with one row, one column `Count`: the rows they wrote
_WRITES = frozenset(
    {
        duckdb.StatementType.INSERT,
        duckdb.StatementType.UPDATE,
        duckdb.StatementType.DELETE,
        duckdb.StatementType.MERGE_INTO,
        duckdb.StatementType.CREATE,
    }
)


def _written(kind: duckdb.StatementType, table: pa.Table) -> int | None:
    """The rows a write of ``kind`` wrote, from its ``Count`` answer; None for anything else
    (a plain CREATE TABLE answers no row)."""
    if kind not in _WRITES or table.column_names != ["Count"] or table.num_rows != 1:
        return None
    value = table.column(0)[0].as_py()
    return value if isinstance(value, int) else None
