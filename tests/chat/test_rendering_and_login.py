"""Rendering that loads and runs nothing, the page's Content-Security-Policy, login hardening (rate limit with
back-off, the same scrypt work for unknown users, hashing off the event loop) and stopping on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import yaml

from tests.chat.conftest import REPO_ROOT, USERS, ChatSite, chat_environment
from tests.processes import free_port, stop_process_group
from ui.app import assistant_cards, sources_markdown
from ui.login import CLIENT_ADDRESS, LoginLimiter, LoginRefused, PasswordLogin
from ui.rendering import CONTENT_SECURITY_POLICY, safe_markdown
from vlm_pipelines.chat.store import SCRYPT, Store

PIXEL = "http://127.0.0.1:9/pixel.png"


def test_remote_images_links_and_raw_html_render_as_text() -> None:
    text = f"![]({PIXEL}) <img src={PIXEL}> [log](javascript:alert(1)) at https://x.org or WWW.x.org, a@b.com"
    assert safe_markdown(text) == (
        "!&#91;&#93;(http&#58;//127&#46;0&#46;0&#46;1:9/pixel&#46;png) "
        "&lt;img src=http&#58;//127&#46;0&#46;0&#46;1:9/pixel&#46;png&gt; "
        "&#91;log&#93;(javascript:alert(1)) at https&#58;//x&#46;org or WWW&#46;x&#46;org, a&#64;b&#46;com"
    )


def test_code_shows_its_literal_text_and_markdown_emphasis_stays() -> None:
    assert safe_markdown("**Run** `pip install <package>`") == (
        "**Run** <code>pip install &#60;package&#62;</code>"
    )
    assert safe_markdown("```sh\necho <b> & [x](y)\n```\ndone") == (
        "<pre><code>echo &#60;b&#62; &#38; &#91;x&#93;&#40;y&#41;\n</code></pre>\n\ndone"
    )
    assert safe_markdown("a \\<b> &#91;") == "a &#92;&lt;b&gt; &amp;#91;"


def commonmark_html(markdown: str) -> str:
    """`markdown` rendered by markdown-it (CommonMark, raw HTML on, as in Gradio's marked), with linkify's bare
    URL, `www.` and e-mail links when linkify-it-py is installed."""
    from markdown_it import MarkdownIt

    try:
        import linkify_it  # noqa: F401
    except ImportError:
        return MarkdownIt("commonmark").render(markdown)
    return MarkdownIt("commonmark", {"linkify": True}).enable("linkify").render(markdown)


class PageText(HTMLParser):
    """The text a browser shows of an HTML fragment, and every attribute value in it."""

    def __init__(self, fragment: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text, self.attributes = "", []
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [value or "" for _, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text += data


HOSTILE = [
    ("`![x](http://evil/p.png)`", "![x](http://evil/p.png)"),
    ("see `[a](http://evil)` here", "[a](http://evil)"),
    ("``<https://evil/p.png> and `www.evil.com` ``", "<https://evil/p.png> and `www.evil.com`"),
    ("`WWW.EVIL.COM a@b.com mailto:a@b.com`", "WWW.EVIL.COM a@b.com mailto:a@b.com"),
    (
        "```md\n![x](http://evil/p.png)\n[a]: https://evil\n[a] <img src=x>\n```",
        "[a]: https://evil\n[a] <img src=x>",
    ),
    (
        "~~~\nHTTPS://EVIL.COM/p.png\n\n[a](www.evil.com)\n~~~\nafter",
        "HTTPS://EVIL.COM/p.png\n\n[a](www.evil.com)",
    ),
    ("- item `![x](https://evil/p.png)`\n- WWW.EVIL.COM", "![x](https://evil/p.png)"),
    ("WWW.EVIL.COM", "WWW.EVIL.COM"),
    ("Www.Evil.com/path", "Www.Evil.com/path"),
    ("write to a@b.com or mailto:foo@bar.com", "write to a@b.com or mailto:foo@bar.com"),
    ("HTTP://EVIL.COM and ftp://evil.com and evil.com", "HTTP://EVIL.COM and ftp://evil.com and evil.com"),
    ("<img src=x>", "<img src=x>"),
    ("<https://evil/p.png> <a@b.com>", "<https://evil/p.png> <a@b.com>"),
    ("![x](http://evil/p.png) [a](http://evil)", "![x](http://evil/p.png) [a](http://evil)"),
    ("[a]\n\n[a]: http://evil", "[a]"),
]


@pytest.mark.parametrize(("markdown", "shown"), HOSTILE)
def test_hostile_code_and_prose_render_as_their_literal_text(markdown: str, shown: str) -> None:
    """Checked in CommonMark (with linkify when installed) and against what marked's GFM autolinks look for
    in the source, in any case: `://`, `www.` and the `@` of an e-mail."""
    assert not re.search(r"://|www\.|@", safe_markdown(markdown), re.IGNORECASE)
    rendered = commonmark_html(safe_markdown(markdown))
    page = PageText(rendered)
    assert "<img" not in rendered.lower() and "<a " not in rendered.lower()
    assert not [value for value in page.attributes if re.search(r"https?:|www\.|@", value, re.IGNORECASE)]
    assert shown in page.text


def test_bold_lists_and_code_still_render() -> None:
    rendered = commonmark_html(safe_markdown("**Run** `pip install <package>`:\n\n1. first\n2. `x` second"))
    assert rendered == (
        "<p><strong>Run</strong> <code>pip install &lt;package&gt;</code>:</p>\n"
        "<ol>\n<li>first</li>\n<li><code>x</code> second</li>\n</ol>\n"
    )


def test_sources_and_assistant_cards_show_remote_images_as_text(tmp_path) -> None:
    sources = [{"n": 1, "document": "notes.md", "page": None, "score": 0.5, "snippet": f"![]({PIXEL})"}]
    assert sources_markdown(sources) == (
        "**[1] notes&#46;md** (score 0.5000)  \n!&#91;&#93;(http&#58;//127&#46;0&#46;0&#46;1:9/pixel&#46;png)"
    )
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    store.add_user("alice", "alice-pw")
    store.save_assistant("alice", name="Pixel", description=f"![]({PIXEL})", model="smollm2-135m")
    assert "!&#91;&#93;(http&#58;//127&#46;0&#46;0&#46;1:9/pixel&#46;png)" in assistant_cards(store, "alice")


def test_the_page_sends_a_policy_that_forbids_remote_images_and_scripts(chat_site: ChatSite) -> None:
    page = httpx.get(chat_site.url, timeout=30)
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["img-src"] == "'self' data: blob:"
    assert directives["script-src"] == "'self' 'unsafe-inline' 'unsafe-eval'"
    assert directives["default-src"] == "'self'"


def log_in(site: ChatSite, user: str, password: str) -> httpx.Response:
    return httpx.post(f"{site.url}login", data={"username": user, "password": password}, timeout=60)


def test_sixty_wrong_passwords_lock_the_user_out_until_the_back_off_passes(chat_site: ChatSite) -> None:
    limiter = chat_site.app.login.limiter
    try:
        answers = [log_in(chat_site, "alice", f"wrong-{n}").status_code for n in range(60)]
        assert answers == [400] * limiter.max_failures + [429] * (60 - limiter.max_failures)
        refused = log_in(chat_site, "alice", USERS["alice"])
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        alice = limiter.failures[("user", "alice from 127.0.0.1")]
        address = limiter.failures[("address", "127.0.0.1")]
        assert alice.count == address.count == limiter.max_failures  # refused tries are not hashed
        assert alice.locked_until > limiter.clock()
        assert log_in(chat_site, "bob", USERS["bob"]).status_code == 200  # the address is not locked

        later = limiter.clock() + limiter.max_delay_s + limiter.window_s
        limiter.clock = lambda: later
        assert log_in(chat_site, "alice", USERS["alice"]).status_code == 200
        assert ("user", "alice from 127.0.0.1") not in limiter.failures
        assert ("user anywhere", "alice") not in limiter.failures
    finally:
        limiter.clock = time.monotonic
        limiter.clear()


def test_many_users_tried_from_one_address_lock_the_address() -> None:
    """The limiter alone, on a clock the test moves (no waiting)."""
    now = [1000.0]
    limiter = LoginLimiter(
        max_failures=2, address_factor=3, base_delay_s=10, window_s=60, clock=lambda: now[0]
    )
    login = PasswordLogin(lambda user, password: password == "right", limiter)

    async def attempts() -> list[object]:
        CLIENT_ADDRESS.set("10.0.0.7")
        results: list[object] = []
        for user in [f"user{n}" for n in range(7)] + ["known"]:
            try:
                results.append(await login.verify(user, "wrong" if user != "known" else "right"))
            except LoginRefused as refused:
                results.append(refused.retry_after_s)
        now[0] += 11  # past the first back-off (10 s)
        results.append(await login.verify("known", "right"))
        return results

    assert asyncio.run(attempts()) == [False] * 6 + [10, 10, True]
    assert limiter.failures[("address", "10.0.0.7")].count == 6


def test_wrong_passwords_from_one_address_do_not_lock_the_user_out_elsewhere() -> None:
    """Review of issue 19: five wrong passwords from anywhere locked the account for everyone."""
    now = [1000.0]
    limiter = LoginLimiter(max_failures=2, anywhere_factor=3, base_delay_s=10, clock=lambda: now[0])
    login = PasswordLogin(lambda user, password: password == "right", limiter)

    async def attempts() -> list[object]:
        results: list[object] = []
        for address, password in [("10.0.0.9", "wrong")] * 3 + [("10.0.0.5", "right")]:
            CLIENT_ADDRESS.set(address)
            try:
                results.append(await login.verify("alice", password))
            except LoginRefused as refused:
                results.append(refused.retry_after_s)
        for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.6", "10.0.0.7"):
            CLIENT_ADDRESS.set(address)
            with contextlib.suppress(LoginRefused):
                results.append(await login.verify("alice", "wrong"))
        CLIENT_ADDRESS.set("10.0.0.5")
        try:
            results.append(await login.verify("alice", "right"))
        except LoginRefused as refused:
            results.append(refused.retry_after_s)
        return results

    # Locked at the attacker's address only; the owner still logs in from hers. Failures from many addresses
    # (six, over the anywhere limit of 2 x 3) lock the name everywhere: the limit that remains.
    assert asyncio.run(attempts()) == [False, False, 10, True, False, False, False, False, False, False, 10]


def test_unknown_and_known_users_do_the_same_scrypt_work(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    store.add_user("alice", "alice-pw")
    calls: list[tuple[int, int, int]] = []
    scrypt = hashlib.scrypt

    def counted(password, *, salt, n, r, p, **kwargs):
        calls.append((n, r, p))
        return scrypt(password, salt=salt, n=n, r=r, p=p, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    work = {}
    for user, password in [("alice", "alice-pw"), ("alice", "wrong"), ("nobody", "wrong"), ("nobody", "")]:
        calls.clear()
        work[(user, password)] = (store.authenticate(user, password), list(calls))
    same = [(SCRYPT["n"], SCRYPT["r"], SCRYPT["p"])]
    assert work == {
        ("alice", "alice-pw"): (True, same),
        ("alice", "wrong"): (False, same),
        ("nobody", "wrong"): (False, same),
        ("nobody", ""): (False, same),
    }


def test_another_request_is_served_while_a_login_hashes(chat_site: ChatSite) -> None:
    """The password check is held on an event until another HTTP request has been answered: that can only
    happen when the check runs off the server's event loop."""
    login = chat_site.app.login
    hashing, release = threading.Event(), threading.Event()
    check = login.check

    def held_check(user: str, password: str) -> bool:
        hashing.set()
        release.wait(60)
        return check(user, password)

    login.check = held_check
    result: dict[str, int] = {}
    thread = threading.Thread(
        target=lambda: result.update(code=log_in(chat_site, "bob", "bob-pw").status_code)
    )
    try:
        thread.start()
        assert hashing.wait(30)
        page = httpx.get(chat_site.url, timeout=30)
        assert page.status_code == 200 and not release.is_set()
    finally:
        release.set()
        thread.join(60)
        login.check = check
    assert result == {"code": 200}


def process_group(pgid: int) -> list[str]:
    """`pid command` of every live process in the group (zombies excluded)."""
    listing = subprocess.run(["ps", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True).stdout
    rows = [line.split(None, 3) for line in listing.splitlines()]
    return [f"{row[0]} {row[3]}" for row in rows if int(row[1]) == pgid and not row[2].startswith("Z")]


def test_chat_started_with_sigint_ignored_stops_on_sigterm_and_leaves_no_helpers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real `vlmbench chat` on a fresh data folder (its first start seeds the demo through a Dagster run in
    the main thread), with SIGINT ignored as `cmd &` in a script leaves it. A knowledge base is created through
    the API; its Dagster run must leave no helper process behind when it returns (Dagster's own compute logs
    started a `tail -F` and a watcher per stream), and SIGTERM to the app alone must stop it with nothing left
    in its process group."""
    from gradio_client import Client

    chat_environment(monkeypatch, tmp_path)
    # The demo knowledge base cut to one short document: embedding the whole docs folder (about 30 s here)
    # is not what this test is about, and the first start still seeds it through a Dagster run.
    registry = tmp_path / "registry"
    shutil.copytree(REPO_ROOT / "registry", registry)
    entry_file = registry / "knowledge" / "project-docs.yaml"
    entry = yaml.safe_load(entry_file.read_text(encoding="utf-8"))
    entry["include"], entry["questions"] = ["docs/tracking.md"], None
    entry_file.write_text(yaml.safe_dump(entry), encoding="utf-8")
    monkeypatch.setenv("VLMBENCH_REGISTRY_DIR", str(registry))
    port = free_port()
    vlmbench = Path(sys.executable).parent / "vlmbench"
    process = subprocess.Popen(
        [str(vlmbench), "chat", "--port", str(port)],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO_ROOT,
    )
    ready, output = threading.Event(), []

    def read() -> None:
        for line in process.stdout:
            output.append(line)
            if "ready at" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(600), "".join(output)
        user, password = next(iter(USERS.items()))
        client = Client(f"http://127.0.0.1:{port}/", auth=(user, password), verbose=False)
        created = client.predict("signals", "", True, api_name="/create_knowledge_base")
        assert created[1] == "created knowledge base signals"
        assert [row.split()[0] for row in process_group(process.pid)] == [str(process.pid)]  # no helpers
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=120) == 0
        assert process_group(process.pid) == []
    finally:
        stop_process_group(process)
