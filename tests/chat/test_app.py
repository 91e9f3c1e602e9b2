"""The Gradio app launched on 127.0.0.1 and driven through its API with `gradio_client`, as a user would
drive it: real SmolLM2 answers, real retrieval, the server enforcing who may see what."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from tests.chat.conftest import ChatSite, start_site


def text_of(message: dict) -> str:
    """The message's text as the page shows it (the app escapes what it renders, `[` included)."""
    content = message["content"]
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return html.unescape(content) if isinstance(content, str) else ""


def ask(client, conversation: str, question: str) -> tuple[list[dict], list]:
    messages, ids, _ = client.predict(conversation, {"text": question, "files": []}, None, api_name="/ask")
    return messages, ids


def ask_with_file(client, conversation: str, question: str, path: Path) -> list[dict]:
    from gradio_client import handle_file

    messages, _, _ = client.predict(
        conversation, {"text": question, "files": [handle_file(str(path))]}, None, api_name="/ask"
    )
    return messages


def new_conversation(client, assistant_id: int) -> str:
    return client.predict(str(assistant_id), api_name="/new_conversation")["value"]


def test_a_question_about_a_seeded_document_is_answered_with_the_fact_and_its_source(
    chat_site: ChatSite,
) -> None:
    alice = chat_site.client("alice")
    conversation = new_conversation(alice, chat_site.handbook_assistant)

    messages, ids = ask(alice, conversation, "What is the warranty period of the ZX-900 pump?")

    question, answer, sources = messages[-3:]
    assert text_of(question) == "What is the warranty period of the ZX-900 pump?"
    assert "36 months" in text_of(answer)
    assert (
        sources["metadata"]["title"].startswith("Sources · ")
        and "first token" in sources["metadata"]["title"]
    )
    cited = [int(n) for n in __import__("re").findall(r"\[(\d)\]", text_of(answer))]
    assert cited, text_of(answer)
    source_lines = text_of(sources).split("\n\n")
    assert f"[{cited[0]}] pump-manual.pdf, page 2" in source_lines[cited[0] - 1]
    assert ids[-2] is not None and ids[-1] is None  # the answer row is rateable, its Sources block is not


def test_answers_can_be_rated_renamed_exported_cleared_and_deleted(chat_site: ChatSite) -> None:
    alice = chat_site.client("alice")
    conversation = new_conversation(alice, chat_site.handbook_assistant)
    _, ids = ask(alice, conversation, "Which invoice was paid on 12 March 2026?")
    assert alice.predict(ids[-2], 1, api_name="/rate") == f"rated message {ids[-2]}: +1"
    alice.predict(conversation, "Invoices", api_name="/rename")

    markdown = Path(alice.predict(conversation, api_name="/export_markdown")).read_text(encoding="utf-8")
    exported = json.loads(
        Path(alice.predict(conversation, api_name="/export_json")).read_text(encoding="utf-8")
    )
    assert markdown.startswith("# Invoices") and "👍" in markdown and "payments.txt" in markdown
    answer = exported["messages"][-1]
    assert (
        exported["title"] == "Invoices"
        and answer["rating"] == 1
        and answer["request"]["model"] == "smollm2-135m"
    )
    assert answer["prompt_hash"] and answer["ttft_s"] <= answer["processing_s"]
    assert answer["sources"][0]["document"] == "payments.txt"

    assert alice.predict(conversation, api_name="/clear") == ([], [])
    alice.predict(str(chat_site.handbook_assistant), conversation, api_name="/delete")
    with pytest.raises(Exception, match="no conversation"):
        alice.predict(conversation, api_name="/open_conversation")


def test_another_user_cannot_reach_a_private_assistant_through_the_api(chat_site: ChatSite) -> None:
    alice, bob = chat_site.client("alice"), chat_site.client("bob")
    private = str(chat_site.private_assistant)
    conversation = new_conversation(alice, chat_site.private_assistant)
    ask(alice, conversation, "Hello?")
    message_id = json.loads(Path(alice.predict(conversation, api_name="/export_json")).read_text())[
        "messages"
    ][-1]["id"]

    assert chat_site.private_assistant in [row["id"] for row in alice.predict(api_name="/list_assistants")]
    assert chat_site.private_assistant not in [row["id"] for row in bob.predict(api_name="/list_assistants")]
    attempts = [
        lambda: bob.predict(private, api_name="/pick_assistant"),
        lambda: bob.predict(private, api_name="/new_conversation"),
        lambda: bob.predict(conversation, api_name="/open_conversation"),
        lambda: bob.predict(conversation, {"text": "Hi", "files": []}, None, api_name="/ask"),
        lambda: bob.predict(conversation, api_name="/export_markdown"),
        lambda: bob.predict(conversation, api_name="/export_json"),
        lambda: bob.predict(message_id, 1, api_name="/rate"),
        lambda: bob.predict(conversation, "mine now", api_name="/rename"),
        lambda: bob.predict(private, conversation, api_name="/delete"),
        lambda: bob.predict("alice-notes", api_name="/knowledge_base"),
        lambda: bob.predict("alice-notes", [], api_name="/upload"),
    ]
    for attempt in attempts:
        with pytest.raises(Exception, match=r"no (assistant|conversation|message|knowledge base)"):
            attempt()
    assert (
        len(json.loads(Path(alice.predict(conversation, api_name="/export_json")).read_text())["messages"])
        == 2
    )


def test_nothing_in_the_data_folder_is_served(chat_site: ChatSite) -> None:
    import httpx

    with httpx.Client(base_url=chat_site.url, follow_redirects=True) as http:
        login = http.post("login", data={"username": "alice", "password": "alice-pw"})
        assert login.status_code == 200 and http.cookies  # logged in
        database = chat_site.data_dir / "chat" / "app.db"
        assert database.exists()
        for route in (f"gradio_api/file={database}", f"file={database}"):
            response = http.get(route)
            assert response.status_code >= 400 and b"SQLite format" not in response.content, route


def test_a_wrong_type_upload_is_refused_and_nothing_is_written(chat_site: ChatSite, tmp_path: Path) -> None:
    from gradio_client import handle_file

    fake = tmp_path / "manual.pdf"
    fake.write_bytes(b"MZ\x90\x00\x03" + b"\x00" * 200)  # a Windows executable renamed .pdf
    files = chat_site.data_dir / "knowledge" / "alice-notes" / "files"
    before = sorted(files.iterdir()) if files.exists() else []

    message = chat_site.client("alice").predict("alice-notes", [handle_file(str(fake))], api_name="/upload")

    assert message.startswith("added 0 file(s)") and "the content of manual.pdf is not PDF" in message
    assert (sorted(files.iterdir()) if files.exists() else []) == before


def test_an_image_for_a_text_model_goes_through_ocr_and_the_answer_says_so(
    chat_site: ChatSite, tmp_path: Path
) -> None:
    from tests.chat.documents import text_image

    image = tmp_path / "note.png"
    text_image(["Locker code 4471"]).save(image)
    alice = chat_site.client("alice")
    conversation = new_conversation(alice, chat_site.handbook_assistant)
    messages = ask_with_file(alice, conversation, "What is the locker code?", image)
    answer = text_of(messages[-2])
    assert answer.startswith("(I read the image with OCR") and "read with OCR" in answer


def test_a_document_attached_to_a_question_is_added_and_the_chat_says_so(
    chat_site: ChatSite, tmp_path: Path
) -> None:
    """Issue 19: an attached document went into the knowledge base silently."""
    note = tmp_path / "parking.md"
    note.write_text("# Parking\n\nVisitors park on level P2 of the north garage.\n", encoding="utf-8")
    alice = chat_site.client("alice")
    conversation = new_conversation(alice, chat_site.private_assistant)
    messages = ask_with_file(alice, conversation, "Where do visitors park?", note)
    shown = " ".join(text_of(message) for message in messages)
    assert "Added parking.md to knowledge base alice-notes" in shown, shown
    documents = chat_site.app.engine.index("alice-notes").manifest()["documents"]
    assert any(name.endswith("parking.md") for name in documents)


def test_compare_mode_stores_the_pick_like_a_rating(chat_site: ChatSite) -> None:
    alice = chat_site.client("alice")
    conversation = new_conversation(alice, chat_site.handbook_assistant)
    view_a, view_b, ids = alice.predict(
        conversation,
        "What is the maintenance code for the cooling unit?",
        "tiny-qwen2.5-vl",
        api_name="/compare",
    )
    view_a, view_b = html.unescape(view_a), html.unescape(view_b)  # as the page shows them
    assert view_a.startswith("**smollm2-135m**") and view_b.startswith("**tiny-qwen2.5-vl**")
    assert alice.predict(ids, api_name="/pick_a") == "stored: answer A is better"
    ratings = {
        m["id"]: m["rating"]
        for m in json.loads(Path(alice.predict(conversation, api_name="/export_json")).read_text())[
            "messages"
        ]
    }
    assert (ratings[ids[0]], ratings[ids[1]]) == (1, -1)
    shown, _ = alice.predict(conversation, api_name="/open_conversation")
    assert (
        sum(1 for m in shown if m["role"] == "assistant" and not m.get("metadata")) == 1
    )  # only the pick stays


def test_conversations_ratings_and_knowledge_bases_survive_a_restart(chat_site: ChatSite) -> None:
    alice = chat_site.client("alice")
    conversation = new_conversation(alice, chat_site.handbook_assistant)
    _, ids = ask(alice, conversation, "When does the Riverside office open?")
    alice.predict(ids[-2], -1, api_name="/rate")
    chat_site.demo.close()

    restarted = start_site(chat_site.data_dir, chat_site.handbook_assistant, chat_site.private_assistant)
    try:
        again = restarted.client("alice")
        shown, _ = again.predict(conversation, api_name="/open_conversation")
        assert text_of(shown[-3]) == "When does the Riverside office open?"
        exported = json.loads(Path(again.predict(conversation, api_name="/export_json")).read_text())
        assert exported["messages"][-1]["rating"] == -1
        files, _, quality, summary = again.predict("handbook", api_name="/knowledge_base")
        assert {row[0] for row in files["data"]} >= {"pump-manual.pdf", "handbook.docx", "offices.html"}
        assert "chunks" in summary
    finally:
        chat_site.demo = restarted.demo
