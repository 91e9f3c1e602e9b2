"""The chat's records on a real PostgreSQL (VLMBENCH_CHAT_DB is a SQLAlchemy URL), from the `postgres_url`
fixture (tests/postgres.py)."""

from __future__ import annotations

import pytest

from vlm_pipelines.chat.store import AccessError, Store


@pytest.mark.requires("postgres")
def test_records_access_rules_and_restart_on_postgres(postgres_url: str) -> None:
    store = Store(postgres_url)
    store.add_user("alice", "alice-pw")
    store.add_user("bob", "bob-pw")
    store.register_knowledge_base("notes", "", "alice", private=True)
    assistant = store.save_assistant(
        "alice", name="Private", model="smollm2-135m", private=True, knowledge_bases=["notes"]
    )
    conversation = store.new_conversation("alice", assistant.id, "on postgres")
    answer = store.add_message(
        "alice", conversation.id, "assistant", "an answer", sources=[{"n": 1, "document": "a.pdf"}]
    )
    store.rate_message("alice", answer.id, 1)
    with pytest.raises(AccessError):
        store.conversation("bob", conversation.id)
    assert store.assistants("bob") == []

    reopened = Store(postgres_url)  # a restarted app on the same database
    kept = reopened.conversation("alice", conversation.id)
    assert kept.title == "on postgres" and kept.messages[0].rating == 1
    assert kept.messages[0].sources == [{"n": 1, "document": "a.pdf"}]
    assert [(a.name, m.content) for a, _, m in reopened.rated_messages()] == []  # no question before it
