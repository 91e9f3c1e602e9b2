"""The chat in a real browser: the Debian Chromium driven by Playwright (`executable_path`, never
`playwright install`). Log in, pick an assistant, ask, wait for the streamed answer and its Sources, rate
it, export the conversation; screenshots of each step go to `.artifacts/browser/` (and the test's folder)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.chat.conftest import REPO_ROOT, USERS, ChatSite
from vlm_pipelines.components import chromium_path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = REPO_ROOT / ".artifacts" / "browser"
QUESTION = "<img src=x onerror=window.__xss=1> What is the warranty period of the ZX-900 pump?"


def log_in(page, user: str) -> None:
    """The login form, as a user fills it; waits for the page to greet the user."""
    from playwright.sync_api import expect

    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(USERS[user])
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text(f"Logged in as {user}")).to_be_visible(timeout=60_000)


def settled_answer_sources(page):
    """Waits for the stored answer's collapsible Sources block (a plain text while the answer streams: its
    button means the answer's id is known to the page), then for the ask event to end: until it does, Gradio
    shows a "Loading response" bubble under the answer, and when it goes the rows above shift. A click during
    that shift can land beside its button (the likely cause of a CI failure: a Like that sent no rating event).
    Returns the Sources buttons."""
    from playwright.sync_api import expect

    sources = page.get_by_role("button", name=re.compile(r"^Sources · "))
    expect(sources.first).to_be_visible(timeout=120_000)
    expect(page.get_by_label("Loading response")).to_have_count(0, timeout=60_000)
    return sources


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
            sources = settled_answer_sources(page)
            answer = page.get_by_test_id("bot").filter(has_text="36 months")
            expect(answer.first).to_be_visible()
            expect(
                page.get_by_test_id("user").filter(has_text="<img src=x onerror=window.__xss=1>")
            ).to_be_visible()
            assert page.evaluate("window.__xss") is None  # shown as text, never run

            # The Like before the Sources block opens: the block grows the answer above the button, which moved
            # 94 px some 0.4 s after the block's text showed (measured), so a click then could miss it.
            chatbot = page.get_by_role("log", name="chatbot conversation")
            chatbot.get_by_role("button", name="Like", exact=True).first.click()
            # The button reads "Liked" once the page took the click; then the rating's round trip.
            expect(chatbot.get_by_role("button", name="Liked", exact=True)).to_be_visible()
            expect(page.get_by_text("rated message").filter(has_text=": +1")).to_be_visible(timeout=30_000)
            shot(page, "rated")

            sources.first.click()  # open the collapsible block
            expect(page.get_by_text("pump-manual.pdf, page 2").first).to_be_visible()
            shot(page, "answer-with-sources")

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


class RecordingListener:
    """An HTTP server on a free loopback port that records every request it gets (a tracking pixel)."""

    def __init__(self) -> None:
        import http.server
        import threading

        requests: list[str] = []

        class Pixel(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.requests = requests
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pixel)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.requires("chromium")
def test_a_remote_image_in_a_document_loads_nothing_in_another_users_browser(
    chat_site: ChatSite, tmp_path: Path
) -> None:
    """Alice uploads a document with a remote image (a loopback listener) to a public knowledge base behind
    a public assistant; Bob asks, and sees the image's Markdown as text in Sources while the listener
    records nothing. Code in the snippet shows its literal text. Then Bob logs out."""
    from gradio_client import handle_file
    from playwright.sync_api import expect, sync_playwright

    listener = RecordingListener()
    pixel = f"http://127.0.0.1:{listener.port}/pixel.png"
    document = tmp_path / "valve-notes.md"
    document.write_text(
        "# Valve notes\n\nThe Zephyr-42 valve is serviced every 90 days. "
        f"![]({pixel}) <img src={pixel}?tag> See [the log]({pixel}?link). "
        "Install its driver with `pip install <package>`.\n",
        encoding="utf-8",
    )
    alice = chat_site.client("alice")
    alice.predict("valve-notes", "Shared valve notes", False, api_name="/create_knowledge_base")
    added = alice.predict("valve-notes", [handle_file(str(document))], api_name="/upload")
    assert added.startswith("added 1 file")
    chat_site.app.store.save_assistant(
        "alice", name="Valve helper", model="smollm2-135m", max_tokens=24, search_limit=1, private=False,
        knowledge_bases=["valve-notes"],
    )  # fmt: skip

    csp_violations: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on(
                    "console",
                    lambda message: (
                        csp_violations.append(message.text)
                        if "Content Security Policy" in message.text
                        else None
                    ),
                )
                response = page.goto(chat_site.url, wait_until="domcontentloaded")
                assert "img-src 'self' data: blob:" in response.headers["content-security-policy"]
                log_in(page, "bob")
                page.get_by_label("Assistant").first.click()
                page.get_by_role("option", name="Valve helper").click()
                page.get_by_role("button", name="Chat with this assistant").click()
                page.get_by_role("button", name="New conversation").click()
                expect(page.get_by_label("Conversation", exact=True).first).not_to_have_value(
                    "", timeout=30_000
                )
                box = page.get_by_role("group", name="Multimedia input field").locator("textarea")
                box.fill("How often is the Zephyr-42 valve serviced?")
                box.press("Enter")
                sources = settled_answer_sources(page)
                sources.first.click()
                expect(page.get_by_text(f"![]({pixel})").first).to_be_visible()
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "remote-image-as-text.png"), full_page=True)
                expect(page.get_by_text(f"<img src={pixel}?tag>").first).to_be_visible()
                expect(page.locator("code", has_text="pip install <package>").first).to_be_visible()
                assert page.locator(f"img[src*='{listener.port}'], a[href*='{listener.port}']").count() == 0

                page.get_by_text("Log out", exact=True).click()
                expect(page.get_by_label("username")).to_be_visible(timeout=30_000)
                page.screenshot(path=str(ARTIFACTS / "logged-out.png"), full_page=True)
            finally:
                browser.close()
    finally:
        listener.close()
    assert listener.requests == []
    assert csp_violations == []


@pytest.mark.requires("chromium")
def test_a_new_template_is_private_and_shows_in_the_chat_tab_without_a_reload(
    chat_site: ChatSite, tmp_path: Path
) -> None:
    """Issue 19's papercuts: new templates were public by default, and a saved one reached the Chat tab's
    template list only after a reload."""
    from playwright.sync_api import expect, sync_playwright

    name = f"Brief answers {tmp_path.name[-6:]}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(chat_site.url, wait_until="domcontentloaded")
            log_in(page, "alice")

            page.get_by_role("tab", name="Templates").click()
            expect(page.get_by_label("Private", exact=True)).to_be_checked()
            page.get_by_role("textbox", name="Name", exact=True).fill(name)
            text = page.get_by_role("textbox", name=re.compile(r"^Text: "))
            text.fill("Source: {context}\nQuestion: {question}")
            page.get_by_role("button", name="Save template").click()
            expect(page.get_by_text(re.compile(r"saved template #\d+"))).to_be_visible(timeout=30_000)

            page.get_by_role("tab", name="Chat", exact=True).click()
            page.get_by_label("Prompt template (this chat)").click()
            expect(page.get_by_role("option", name=re.compile(re.escape(name)))).to_be_visible(timeout=30_000)
            page.screenshot(path=str(tmp_path / "new-template-in-chat.png"), full_page=True)
        finally:
            browser.close()
    record = next(t for t in chat_site.app.store.templates("alice") if t.name == name)
    assert record.private and not any(t.name == name for t in chat_site.app.store.templates("bob"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "new-template-in-chat.png", ARTIFACTS / "new-template-in-chat.png")
