"""The chat in a real browser: the Debian Chromium driven by Playwright (`executable_path`, never
`playwright install`). Log in, pick an assistant, ask, wait for the streamed answer and its Sources, rate
it, export the conversation; screenshots of each step go to `.artifacts/browser/` (and the test's folder)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.chat.conftest import REPO_ROOT, ChatSite
from vlm_pipelines.components import chromium_path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = REPO_ROOT / ".artifacts" / "browser"
QUESTION = "<img src=x onerror=window.__xss=1> What is the warranty period of the ZX-900 pump?"


@pytest.mark.requires("chromium")
def test_log_in_ask_rate_and_export_in_a_real_browser(chat_site: ChatSite, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots: list[Path] = []

    def shot(page, name: str) -> None:
        path = tmp_path / f"{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with sync_playwright() as playwright:
        # Playwright gives the browser a fresh temporary profile (user-data-dir) of its own.
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(chat_site.url, wait_until="domcontentloaded")
            page.get_by_label("username").fill("alice")
            page.get_by_label("password").fill("alice-pw")
            shot(page, "login")
            page.get_by_role("button", name="Login").click()
            expect(page.get_by_text("Logged in as alice")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Handbook helper").first).to_be_visible()
            shot(page, "assistant-picker")

            page.get_by_label("Assistant").first.click()
            page.get_by_role("option", name="Handbook helper").click()
            page.get_by_role("button", name="Chat with this assistant").click()
            page.get_by_role("button", name="New conversation").click()
            expect(page.get_by_label("Conversation", exact=True).first).not_to_have_value("", timeout=30_000)
            box = page.get_by_role("group", name="Multimedia input field").locator("textarea")
            box.fill(QUESTION)
            box.press("Enter")
            # The Sources block is a collapsible button only in the rows stored after the answer ended
            # (while streaming it is plain text): waiting for it means the answer's id is known to the page.
            sources = page.get_by_role("button", name=re.compile(r"^Sources · "))
            expect(sources.first).to_be_visible(timeout=120_000)
            answer = page.get_by_test_id("bot").filter(has_text="36 months")
            expect(answer.first).to_be_visible()
            expect(
                page.get_by_test_id("user").filter(has_text="<img src=x onerror=window.__xss=1>")
            ).to_be_visible()
            assert page.evaluate("window.__xss") is None  # shown as text, never run
            sources.first.click()  # open the collapsible block
            expect(page.get_by_text("pump-manual.pdf, page 2").first).to_be_visible()
            shot(page, "answer-with-sources")

            page.get_by_role("button", name="Like", exact=True).first.click()
            expect(page.get_by_text("rated message").filter(has_text=": +1")).to_be_visible(timeout=30_000)
            shot(page, "rated")

            page.get_by_role("button", name="Export Markdown").click()
            link = page.locator("a[href*='conversation-'][href$='.md']")
            expect(link.first).to_be_visible(timeout=30_000)
            with page.expect_download() as download:
                link.first.click()
            exported = tmp_path / "exported.md"
            download.value.save_as(exported)
            shot(page, "exported")
        finally:
            browser.close()

    text = exported.read_text(encoding="utf-8")
    assert "36 months" in text and "👍" in text and "pump-manual.pdf, page 2" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path in shots:
        assert path.stat().st_size > 10_000
        shutil.copy(path, ARTIFACTS / path.name)
