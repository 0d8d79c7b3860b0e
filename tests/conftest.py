"""Session-scoped real stacks, shared by every integration test.

Each stack gets its own ``VXP_HOME`` under pytest's temp dir but the shared binary cache
(``$VXP_CACHE``, default ``~/.cache/vxp``), so binaries are built once per machine. Tests isolate
themselves by creating their own repositories (see the ``repo_name`` fixture).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Stack, started
from vxp.core.home import Home


def _start(tmp_path_factory: pytest.TempPathFactory, stack: str) -> Iterator[Stack]:
    with started(tmp_path_factory.mktemp(f"vxp-{stack}"), stack) as running:
        yield running


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _start(tmp_path_factory, "embedded")


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _start(tmp_path_factory, "full")


@pytest.fixture(params=["embedded", "full"])
def stack(request: pytest.FixtureRequest) -> Stack:
    """Run a test once on each stack."""
    result: Stack = request.getfixturevalue(request.param)
    return result


@pytest.fixture
def repo_name() -> str:
    """A repository name no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running ``vxp`` as a subprocess with its own, empty ``VXP_HOME``."""
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("VXP_") or k.startswith("LAKEFS_")]:
        env.pop(key)
    env["VXP_HOME"] = str(tmp_path / "home")
    env["VXP_CACHE"] = str(Home.from_env().cache)
    env["COLUMNS"] = "200"
    return env
