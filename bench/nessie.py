"""Project Nessie as a second Iceberg REST catalog to compare with, on a MinIO warehouse.

Nessie's catalog writes table metadata itself and supports only object stores (S3, GCS, ADLS) as
warehouses: a ``file://`` warehouse is refused with "Unknown or unsupported scheme: file". So it
runs against a MinIO: a full vxp stack's own (so vxp and Nessie share one object store), or one
started here from the vxp cache; its baseline is pyiceberg's SqlCatalog writing to the same MinIO
bucket. Nessie keeps its commits either in memory (IN_MEMORY version store: nothing survives a
restart, so no fsync is ever waited for) or, as it is deployed, in PostgreSQL (JDBC2 version
store): then on the full stack's own server, the one lakeFS keeps its commits in, so both
versioned catalogs pay for durable commits on the same database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from pyiceberg.catalog import Catalog, load_catalog

from bench.core import Options
from vxp.core.errors import VxpError
from vxp.core.home import Home
from vxp.services import cache, ports, process, toolchain
from vxp.services.base import Context, LaunchSpec
from vxp.services.minio import REGION, WAREHOUSE_BUCKET, MinIO
from vxp.services.secrets import load_or_create
from vxp.services.trino import java_home

VERSION = "0.99.0"
ARTIFACT = f"org.projectnessie.nessie:nessie-quarkus:{VERSION}:jar:runner"
JAR = f"nessie-quarkus-{VERSION}-runner.jar"
# a JVM starting Quarkus with every bundled extension takes ~25 s on two busy cores
STARTUP_TIMEOUT = 180.0
# the database Nessie's JDBC2 version store keeps its commits in, beside lakeFS's
DATABASE = "nessie_bench"


class Unavailable(Exception):
    """Nessie cannot run here; the message says why (printed in the results instead)."""


@dataclass(frozen=True)
class Servers:
    nessie_uri: str
    s3: dict[str, str]
    # where the SqlCatalog baseline writes, in the same MinIO
    sql_warehouse: str

    def nessie(self) -> Catalog:
        """A new pyiceberg REST client for Nessie's Iceberg endpoint (branch ``main``)."""
        return load_catalog(
            "nessie", type="rest", uri=self.nessie_uri, warehouse="warehouse", **self.s3
        )


def jar(options: Options) -> Path:
    """The Nessie server jar, fetched once into the vxp cache like Trino's archives."""
    slot = cache.slot(options.cache, "nessie", VERSION)
    if cache.is_complete(slot):
        cache.verify(slot, "nessie")
        return slot / JAR
    cache.clear(slot)
    try:
        toolchain.maven_fetch(ARTIFACT, slot, options.console)
    except Exception as exc:
        raise Unavailable(f"could not fetch {ARTIFACT}: {exc}") from exc
    cache.seal(slot, [JAR])
    return slot / JAR


def _wait(url: str, handle: process.Handle, log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not process.alive(handle):
            break
        time.sleep(0.2)  # polling a health endpoint, not synchronising on time
    raise Unavailable(f"{what} did not start; last lines of {log}:\n{process.tail(log)}")


def _postgres_store(dsn: str) -> dict[str, str]:
    """The JDBC2 version store's settings for the PostgreSQL server of ``dsn``
    (``postgresql://user:password@host:port/db``), in a database of its own, created here.

    Raises:
        Unavailable: the server refused the connection or the statement.
    """
    import psycopg

    parts = urlsplit(dsn)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                conn.execute(f"DROP DATABASE {DATABASE}")
            # a constant name: CREATE DATABASE takes no parameters
            conn.execute(f"CREATE DATABASE {DATABASE}")
    except psycopg.Error as exc:
        raise Unavailable(f"could not create the database {DATABASE}: {exc}") from exc
    return {
        "nessie.version.store.type": "JDBC2",
        "nessie.version.store.persist.jdbc.datasource": "postgresql",
        "quarkus.datasource.postgresql.jdbc.url": (
            f"jdbc:postgresql://{parts.hostname}:{parts.port}/{DATABASE}"
        ),
        "quarkus.datasource.postgresql.username": unquote(parts.username or ""),
        "quarkus.datasource.postgresql.password": unquote(parts.password or ""),
    }


@contextmanager
def running(
    options: Options, s3: dict[str, str] | None = None, postgres: str | None = None
) -> Iterator[Servers]:
    """Nessie (and MinIO unless given), started as processes of a throwaway home; stopped after.

    Args:
        options: the benchmark options (work directory, vxp cache, console).
        s3: an already running MinIO as pyiceberg's ``s3.endpoint``, ``s3.access-key-id``,
            ``s3.secret-access-key`` and ``s3.region`` properties (a full stack's, root user);
            its bucket ``WAREHOUSE_BUCKET`` must exist. ``None``: start a MinIO here.
        postgres: a PostgreSQL DSN (``postgresql://user:password@host:port/db``) whose server
            keeps Nessie's commits (JDBC2 version store, a database of its own); ``None``: the
            in-memory version store. Two Nessies of one run differ in this and in their home.

    Raises:
        Unavailable: MinIO or Java is missing, the jar cannot be fetched, the database cannot be
            created, or a server does not start.
    """
    store = "postgres" if postgres else "memory"
    home = Home(root=options.workdir / f"nessie-{store}", cache=options.cache)
    home.ensure()
    minio = MinIO()
    ctx = Context(
        home=home,
        stack="full",
        secrets=load_or_create(home.secrets_file),
        ports={"minio": ports.free_port(), "minio-console": ports.free_port()},
        console=options.console,
    )
    if s3 is None and not minio.installed(ctx):
        raise Unavailable("MinIO is not in the vxp cache (vxp install --stack full)")
    nessie_jar = jar(options)
    handles: list[process.Handle] = []
    try:
        if s3 is None:
            handles.append(process.spawn(minio.launch(ctx), ctx.log_file("minio")))
            minio_log = ctx.log_file("minio")
            _wait(f"{minio.url(ctx)}/minio/health/ready", handles[-1], minio_log, "MinIO")
            minio.after_start(ctx)
            s3 = {
                "s3.endpoint": minio.url(ctx),
                "s3.access-key-id": ctx.secrets["minio_root_user"],
                "s3.secret-access-key": ctx.secrets["minio_root_password"],
                "s3.region": REGION,
            }
        http_port, management_port = ports.free_port(), ports.free_port()
        location = f"s3://{WAREHOUSE_BUCKET}/nessie-{store}"
        s3_options = "nessie.catalog.service.s3.default-options"
        in_memory = {"nessie.version.store.type": "IN_MEMORY"}
        version_store = _postgres_store(postgres) if postgres else in_memory
        system = {
            "quarkus.http.host": "127.0.0.1",
            "quarkus.http.port": str(http_port),
            # Quarkus's management interface defaults to port 9000, MinIO's usual port
            "quarkus.management.host": "127.0.0.1",
            "quarkus.management.port": str(management_port),
            "quarkus.otel.sdk.disabled": "true",
            **version_store,
            "nessie.catalog.default-warehouse": "warehouse",
            "nessie.catalog.warehouses.warehouse.location": location,
            f"{s3_options}.endpoint": s3["s3.endpoint"] + "/",
            f"{s3_options}.path-style-access": "true",
            f"{s3_options}.region": s3["s3.region"],
            f"{s3_options}.access-key": "urn:nessie-secret:quarkus:bench.minio",
            # clients write data files with their own keys, not with signed requests: pyiceberg's
            # default (pyarrow) FileIO cannot use Nessie's request signer
            f"{s3_options}.request-signing-enabled": "false",
            "bench.minio.name": s3["s3.access-key-id"],
            "bench.minio.secret": s3["s3.secret-access-key"],
        }
        try:
            java = java_home() / "bin" / "java"
        except VxpError as exc:
            raise Unavailable(f"no Java runtime for Nessie: {exc}") from exc
        # the same Java 25 flags Trino gets: Netty's native and Unsafe access, without warnings
        flags = ["-Xmx1g", "--enable-native-access=ALL-UNNAMED"]
        flags.append("--sun-misc-unsafe-memory-access=allow")
        argv = [str(java), *flags, *(f"-D{k}={v}" for k, v in system.items()), "-jar"]
        log = ctx.log_file("nessie")
        handles.append(process.spawn(LaunchSpec(argv=[*argv, str(nessie_jar)]), log))
        _wait(f"http://127.0.0.1:{management_port}/q/health/ready", handles[-1], log, "Nessie")
        yield Servers(
            nessie_uri=f"http://127.0.0.1:{http_port}/iceberg",
            s3=s3,
            sql_warehouse=f"s3://{WAREHOUSE_BUCKET}/sql",
        )
    finally:
        for handle in reversed(handles):
            process.stop(handle)
