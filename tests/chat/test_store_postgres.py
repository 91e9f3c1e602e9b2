"""The chat's records on a real PostgreSQL (VLMBENCH_CHAT_DB is a SQLAlchemy URL): a throw-away cluster is
started for the test (initdb + pg_ctl, as the `postgres` user when run as root) and removed after."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ui.store import AccessError, Store
from vlm_pipelines.components import postgres_bin_dir


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, the command runs as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--", *command]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    binaries = Path(postgres_bin_dir() or "/nonexistent")
    root = Path(tempfile.mkdtemp(prefix="vlmbench-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]),
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    options = f"-p {port} -k {root} -h 127.0.0.1"
    subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start"]),
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(root, ignore_errors=True)


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
