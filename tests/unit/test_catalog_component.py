"""The stack's catalog component: the allowed locations of `vxp up`'s environment reach the
catalog, and `vxp env` reports the ones the running catalog was started with (for `vxp gc`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from vxp.catalog.settings import Settings
from vxp.core.home import Home
from vxp.services import secrets as secretlib
from vxp.services.base import Context
from vxp.services.catalog import ALLOWED_LOCATIONS, Catalog


def _context(tmp_path: Path) -> Context:
    return Context(
        home=Home(root=tmp_path / "home", cache=tmp_path / "cache"),
        stack="embedded",
        secrets=secretlib.load_or_create(tmp_path / "secrets.json"),
        ports={"lakefs": 8000, "catalog": 8181},
        console=Console(stderr=True, force_terminal=False),
    )


def test_allowed_locations_pass_from_vxp_up_to_the_catalog_and_vxp_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, component = _context(tmp_path), Catalog()
    monkeypatch.setenv(ALLOWED_LOCATIONS, "file:///tmp,s3://scratch/x")
    component.prepare(ctx)
    env = component.launch(ctx).env
    assert env[ALLOWED_LOCATIONS] == "file:///tmp,s3://scratch/x"
    assert Settings.from_env(env).allowed_locations == ("file:///tmp", "s3://scratch/x")

    # `vxp env` runs in another shell: it reports what the catalog was started with
    monkeypatch.delenv(ALLOWED_LOCATIONS)
    assert component.settings(ctx)[ALLOWED_LOCATIONS] == "file:///tmp,s3://scratch/x"


def test_no_allowed_locations_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, component = _context(tmp_path), Catalog()
    monkeypatch.delenv(ALLOWED_LOCATIONS, raising=False)
    component.prepare(ctx)
    env = component.launch(ctx).env
    # named even when unset: empty means none
    assert env[ALLOWED_LOCATIONS] == ""
    assert Settings.from_env(env).allowed_locations == ()
    assert ALLOWED_LOCATIONS not in component.settings(ctx)
