"""The chat server keeps no decoded pages unless asked (issue 21): an evaluation keeps up to 1 GiB of them so
that its read, model and report decode a document once, but a long-lived chat decodes each upload once."""

from __future__ import annotations

from model_interface import images

from ui.engine import keep_no_decoded_pages_unless_asked


def test_the_chat_keeps_no_decoded_pages_unless_the_variable_is_set(monkeypatch, tmp_path) -> None:
    page = tmp_path / "page.png"
    images.Image.new("RGB", (32, 32), "white").save(page)
    evaluation = images.PageCache(images.DEFAULT_DECODED_PAGES_MB * 2**20)
    monkeypatch.setattr(images, "DECODED_PAGES", evaluation)
    images.load_pages(page)
    monkeypatch.delenv("VLMBENCH_DECODED_PAGES_MB", raising=False)
    keep_no_decoded_pages_unless_asked()
    assert evaluation.budget == 0
    images.load_pages(page)
    images.load_pages(page)
    assert evaluation.hits == 0 and evaluation.misses == 3  # cleared, and nothing kept since

    asked = images.PageCache(64 * 2**20)
    monkeypatch.setattr(images, "DECODED_PAGES", asked)
    monkeypatch.setenv("VLMBENCH_DECODED_PAGES_MB", "64")
    keep_no_decoded_pages_unless_asked()
    assert asked.budget == 64 * 2**20
