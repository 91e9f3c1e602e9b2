"""The app's records (SQLAlchemy on SQLite) and upload checks: access rules, validation, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chat import documents as docs
from ui.uploads import MAX_UPLOAD_BYTES, UploadError, save_upload
from vlm_pipelines.chat.store import (
    AccessError,
    Store,
    StoreError,
    check_password,
    hash_password,
    template_problems,
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    store.add_user("alice", "alice-pw")
    store.add_user("bob", "bob-pw")
    store.register_knowledge_base("alice-notes", "", "alice", private=True)
    store.register_knowledge_base("shared", "", None, private=False)
    return store


def private_assistant(store: Store):
    return store.save_assistant(
        "alice", name="Alice's helper", model="smollm2-135m", private=True, knowledge_bases=["alice-notes"]
    )


def test_passwords_are_salted_hashes() -> None:
    first, second = hash_password("secret"), hash_password("secret")
    assert first != second and "secret" not in first and first.startswith("scrypt$")
    assert check_password("secret", first) and not check_password("wrong", first)


def test_private_records_are_invisible_to_other_users(store: Store) -> None:
    assistant = private_assistant(store)
    conversation = store.new_conversation("alice", assistant.id)
    message = store.add_message("alice", conversation.id, "assistant", "an answer")

    assert [a.name for a in store.assistants("bob")] == []
    assert [kb.name for kb in store.knowledge_bases("bob")] == ["shared"]
    for attempt in (
        lambda: store.assistant("bob", assistant.id),
        lambda: store.new_conversation("bob", assistant.id),
        lambda: store.conversation("bob", conversation.id),
        lambda: store.add_message("bob", conversation.id, "user", "hi"),
        lambda: store.rate_message("bob", message.id, 1),
        lambda: store.delete_conversation("bob", conversation.id),
        lambda: store.save_assistant("bob", assistant_id=assistant.id, name="taken over", model="x"),
        lambda: store.save_assistant(
            "bob", name="mine", model="smollm2-135m", knowledge_bases=["alice-notes"]
        ),
    ):
        with pytest.raises(AccessError):
            attempt()
    assert store.conversations("bob") == []
    assert store.conversation("alice", conversation.id).messages[0].content == "an answer"


def test_templates_are_validated_when_saved(store: Store) -> None:
    assert template_problems("Sources: {context}\nQ: {question}") == []
    assert "unknown variable(s) ['documents']" in template_problems("{documents} {question}")[0]
    assert template_problems("{context}") == ["the template must contain {question}"]
    with pytest.raises(StoreError, match="braces"):
        store.save_template("alice", name="bad", text="{question")


def test_ratings_feed_assistant_and_template_stats(store: Store) -> None:
    template = store.save_template("alice", name="t", text="{context} {question}")
    assistant = private_assistant(store)
    conversation = store.new_conversation("alice", assistant.id)
    answer = store.add_message(
        "alice", conversation.id, "assistant", "a", request={"template_id": template.id}
    )
    store.rate_message("alice", answer.id, 1)
    store.rate_message("alice", answer.id, -1)  # a changed rating replaces the first
    stats = store.assistant_stats(assistant.id)
    assert (stats.conversations, stats.messages, stats.rating) == (1, 1, -1.0)
    assert (
        store.template("alice", template.id).rating_count,
        store.template("alice", template.id).rating,
    ) == (1, -1.0)


def test_records_survive_a_new_store_on_the_same_database(tmp_path: Path, store: Store) -> None:
    assistant = private_assistant(store)
    conversation = store.new_conversation("alice", assistant.id, "kept")
    store.rate_message("alice", store.add_message("alice", conversation.id, "assistant", "x").id, 1)
    reopened = Store(f"sqlite:///{tmp_path / 'app.db'}")
    assert reopened.authenticate("alice", "alice-pw") and not reopened.authenticate("alice", "bob-pw")
    kept = reopened.conversation("alice", conversation.id)
    assert kept.title == "kept" and kept.messages[0].rating == 1


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("big.txt", b"x" * (MAX_UPLOAD_BYTES + 1), "the limit is"),
        ("manual.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "is not PDF (found: binary data)"),
        ("tool.pdf", b"MZ\x90\x00" + b"\x00" * 64, "is not PDF"),
        ("../escape.txt", b"hello", "is not allowed"),
        ("..", b"hello", "is not allowed"),
        ("sub/dir.txt", b"hello", "is not allowed"),
        (".hidden.md", b"# hi", "is not allowed"),
        ("run.exe", b"MZ\x90\x00", "unsupported file type .exe"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_written(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    folder = tmp_path / "uploads"
    with pytest.raises(UploadError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        save_upload(folder, name, data)
    assert not folder.exists() or list(folder.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_a_good_upload_is_written_inside_the_folder(tmp_path: Path) -> None:
    source = docs.write_pdf(tmp_path / "manual.pdf")
    path = save_upload(tmp_path / "uploads", "manual.pdf", source.read_bytes())
    assert (
        path == (tmp_path / "uploads" / "manual.pdf").resolve() and path.read_bytes() == source.read_bytes()
    )
