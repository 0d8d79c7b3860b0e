"""lakeFS's web UI, built into the lakeFS binary, in headless Chromium (issue 6, deliverable 8).

Playwright drives the OS's Chromium (Debian's ``chromium`` package, which ``scripts/test``
installs) through ``executable_path``: no browser is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support import Stack
from vxp.lakefs import open_session

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
# no network beyond the page itself: no sync, updates, QUIC, first-run or background calls
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# generous: a loaded 2-core machine parses the UI's 6 MB bundle in a few seconds
TIMEOUT_MS = 30_000


def test_web_ui_logs_in_and_lists_a_new_repository(
    embedded: Stack, repo_name: str, tmp_path: Path
) -> None:
    assert CHROMIUM.is_file(), (
        f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does)"
    )
    settings = embedded.settings
    open_session(settings).create_repository(
        repo_name, settings.storage_namespace_prefix + repo_name, "main"
    )
    (lakefs,) = [row for row in embedded.manager.status() if row.component == "lakefs"]
    assert lakefs.ui == settings.lakefs_endpoint + "/"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(lakefs.ui)
            # a binary built without the UI answers every page with "lakeFS UI Not Built"
            assert "UI Not Built" not in page.content()
            page.get_by_placeholder("Access Key ID").fill(settings.lakefs_access_key_id)
            page.get_by_placeholder("Secret Access Key").fill(
                settings.lakefs_secret_access_key.reveal()
            )
            page.get_by_role("button", name="Login").click()
            expect(page.get_by_role("link", name=repo_name, exact=True)).to_be_visible(
                timeout=TIMEOUT_MS
            )
            assert page.url.startswith(lakefs.ui + "repositories")
        finally:
            browser.close()
