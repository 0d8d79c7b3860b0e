"""lakeFS's web UI: cached with the binary under its own key, and its URL in ``vxp status``."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxp.cli.stack import _print_status
from vxp.core.home import Home
from vxp.core.settings import Health
from vxp.services import cache
from vxp.services.base import Context
from vxp.services.lakefs import VERSION, LakeFS
from vxp.services.manager import Status


def _context(tmp_path: Path) -> Context:
    return Context(
        home=Home(root=tmp_path / "home", cache=tmp_path / "cache"),
        stack="embedded",
        secrets={},
        ports={"lakefs": 8000},
    )


def test_a_binary_cached_without_the_ui_is_rebuilt_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _context(tmp_path)
    lakefs = LakeFS()
    # what vxp cached before the UI was built in: the slot named by the version alone
    old = cache.slot(ctx.home.cache, "lakefs", VERSION)
    old.mkdir(parents=True)
    (old / "lakefs").write_bytes(b"binary without UI")
    cache.seal(old, ["lakefs"])
    assert not lakefs.installed(ctx)

    builds: list[Path] = []

    def build(self: LakeFS, ctx: Context, slot: Path) -> None:
        builds.append(slot)
        (slot / "lakefs").write_bytes(b"binary with UI")

    monkeypatch.setattr(LakeFS, "build", build)
    lakefs.install(ctx)
    lakefs.install(ctx)
    assert builds == [ctx.home.cache / "lakefs" / f"{VERSION}+webui"]
    assert lakefs.installed(ctx)
    assert lakefs.binary(ctx).read_bytes() == b"binary with UI"


def test_status_prints_the_web_ui_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = "http://127.0.0.1:8000"
    _print_status(
        [
            Status("lakefs", VERSION, url, Health.HEALTHY, 42, ui=f"{url}/"),
            Status("duckdb", "1.5.5", "-", Health.READY, None),
        ]
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if "web UI" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"lakefs web UI: {url}/ (log in with")
