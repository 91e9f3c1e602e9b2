"""Owners, roles and delete (issue 19), through the app's HTTP API as each user would call it: a real app on
127.0.0.1, real ingestion (the Dagster job), the real Chroma and BM25. Users: alice and bob (role `user`) and
root (an `admin`). `shared-docs` is a public knowledge base seeded for the admins, with a README.md of its own,
as `project-docs` is (that one is not ingested here: its many files would take a minute)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chat.conftest import ChatSite, chat_environment
from tests.processes import free_port

README = "# Shared docs\n\nThe release train leaves every Tuesday at 10:00 from platform SEVEN.\n"
SPOOF = "# Spoof\n\nThe release train was cancelled forever, says SPOOFTOKEN.\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatSite]:
    from ui.app import launch
    from ui.service import create_knowledge_base, ingest, seed_demo
    from vlm_pipelines.chat.store import Store
    from vlm_pipelines.knowledge.bases import create_base

    with pytest.MonkeyPatch.context() as monkeypatch:
        data_dir = chat_environment(monkeypatch, tmp_path_factory.mktemp("owners"))
        monkeypatch.setenv("VLMBENCH_CHAT_USERS", "alice:alice-pw,bob:bob-pw,root:root-pw:admin")
        store = Store(Store.default_url(data_dir))
        seed_demo(store, data_dir, ingest_now=False)
        sources = data_dir.parent / "shared-sources"
        sources.mkdir()
        (sources / "README.md").write_text(README, encoding="utf-8")
        create_base("shared-docs", "Shared", source_folder=sources, data_dir=data_dir)
        store.register_knowledge_base("shared-docs", "Shared", None, private=False)
        ingest("shared-docs", data_dir)
        create_knowledge_base(store, "alice", "alice-notes", "Alice's notes", True, data_dir)
        port = free_port()
        demo, app = launch(data_dir, port=port, block=False, seed=False)
        try:
            yield ChatSite(data_dir, f"http://127.0.0.1:{port}/", port, demo, app)
        finally:
            demo.close()


def template_id(site: ChatSite, name: str) -> int:
    return next(t.id for t in site.app.store.templates("alice") if t.name == name)


def assistant_id(site: ChatSite, name: str) -> int:
    return next(a.id for a in site.app.store.assistants("alice") if a.name == name)


def save_assistant(client, record: str | None, name: str, private: bool, bases=(), template=None):
    return client.predict(
        record, name, "", "qa", "", "smollm2-135m", 0.0, 32, list(bases), True, 2, template, private,
        api_name="/save_assistant",
    )  # fmt: skip


def chunks_of(site: ChatSite, base: str, document: str) -> tuple[list[dict], list[str]]:
    """The document's rows in the chunk table and its ids in Chroma."""
    from vlm_pipelines.knowledge.index import KnowledgeIndex

    index = KnowledgeIndex(base, site.data_dir)
    rows = [row for row in index.chunk_table() if row["document"] == document]
    return rows, index.collection.get(where={"document": document})["ids"]


def test_a_user_cannot_rewrite_or_hide_the_shared_template_and_assistant(site: ChatSite) -> None:
    bob, root = site.client("bob"), site.client("root")
    shared = str(template_id(site, "Cite the sources"))
    helper = str(assistant_id(site, "Docs helper"))
    text_before = site.app.store.template("alice", int(shared)).text

    with pytest.raises(Exception, match=rf"no template {shared} that you may change"):
        bob.predict(
            shared, "Cite", "rag", "Invent an answer. {question}", "", "", False, api_name="/save_template"
        )
    with pytest.raises(Exception, match=rf"no assistant {helper} that you may change"):
        save_assistant(bob, helper, "Docs helper", private=True)

    assert site.app.store.template("alice", int(shared)).text == text_before
    assert "Docs helper" in [row["name"] for row in bob.predict(api_name="/list_assistants")]
    # an admin changes the seeded records; they stay public
    root.predict(
        shared, "Cite the sources", "rag", text_before, "", "rag, checked", False, api_name="/save_template"
    )
    assert site.app.store.template("bob", int(shared)).tags == ["rag", "checked"]


def test_uploads_into_a_shared_base_come_from_members_and_never_replace_its_documents(
    site: ChatSite, tmp_path: Path
) -> None:
    from gradio_client import handle_file

    alice, bob, root = site.client("alice"), site.client("bob"), site.client("root")
    spoof = tmp_path / "README.md"
    spoof.write_text(SPOOF, encoding="utf-8")
    seeded_rows, seeded_ids = chunks_of(site, "shared-docs", "README.md")
    assert seeded_rows and len(seeded_ids) == len(seeded_rows)

    with pytest.raises(Exception, match="no knowledge base 'shared-docs' that you may upload to"):
        bob.predict("shared-docs", [handle_file(str(spoof))], api_name="/upload")
    with pytest.raises(Exception, match="no knowledge base 'shared-docs' that you may change"):
        bob.predict("shared-docs", "bob", api_name="/set_members")
    assert root.predict("shared-docs", "alice", api_name="/set_members") == "members of shared-docs: alice"
    assert alice.predict("shared-docs", [handle_file(str(spoof))], api_name="/upload") == "added 1 file(s)"

    files, *_ = bob.predict("shared-docs", api_name="/knowledge_base")
    by_document = {row[0]: row for row in files["data"]}
    assert by_document["README.md"][1] == "(source)"
    assert by_document["files/alice/README.md"][1] == "alice"
    assert chunks_of(site, "shared-docs", "README.md") == (seeded_rows, seeded_ids)  # the seeded one stays
    spoof_rows, spoof_ids = chunks_of(site, "shared-docs", "files/alice/README.md")
    assert len(spoof_rows) == len(spoof_ids) == 1

    for document in ("files/alice/README.md", "README.md"):
        with pytest.raises(Exception, match=f"no document '{document}' in 'shared-docs' that you may delete"):
            bob.predict("shared-docs", document, api_name="/delete_document")
    with pytest.raises(Exception, match="is a source file of 'shared-docs'"):
        root.predict("shared-docs", "README.md", api_name="/delete_document")
    alice.predict("shared-docs", "files/alice/README.md", api_name="/delete_document")

    assert chunks_of(site, "shared-docs", "files/alice/README.md") == ([], [])
    index = site.app.engine.index("shared-docs")
    assert index.search("SPOOFTOKEN", k=3, mode="keyword") == []  # BM25 rebuilt without it
    assert chunks_of(site, "shared-docs", "README.md") == (seeded_rows, seeded_ids)


def test_the_owner_deletes_each_record_and_another_user_cannot(site: ChatSite, tmp_path: Path) -> None:
    from gradio_client import handle_file

    alice, bob = site.client("alice"), site.client("bob")
    alice.predict("team-kb", "Team", False, api_name="/create_knowledge_base")
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe team password hint is TEAMHINT.\n", encoding="utf-8")
    alice.predict("team-kb", [handle_file(str(note))], api_name="/upload")
    template = alice.predict(
        None, "Mine", "rag", "{context} {question}", "", "", False, api_name="/save_template"
    )
    assistant = save_assistant(alice, None, "Team helper", False, (), template[0]["value"])
    assistant_id_ = int(assistant[0]["value"])
    # the editor's knowledge-base list takes only the choices the page loaded: linked through the store
    site.app.store.save_assistant(
        "alice",
        assistant_id=assistant_id_,
        knowledge_bases=["team-kb"],
        template_id=int(template[0]["value"]),
    )
    conversation = alice.predict(str(assistant_id_), api_name="/new_conversation")["value"]

    refusals = {
        "/delete_template": (template[0]["value"],),
        "/delete_assistant": (str(assistant_id_),),
        "/delete_knowledge_base": ("team-kb",),
        "/delete_document": ("team-kb", "files/alice/note.md"),
        "/delete": (str(assistant_id_), conversation),
    }
    for endpoint, arguments in refusals.items():
        with pytest.raises(Exception, match=r"no (template|assistant|knowledge base|document|conversation)"):
            bob.predict(*arguments, api_name=endpoint)

    alice.predict(template[0]["value"], api_name="/delete_template")
    assert site.app.store.assistant("alice", assistant_id_).template_id is None  # falls back to the default
    folder = site.data_dir / "knowledge" / "team-kb"
    assert folder.is_dir() and chunks_of(site, "team-kb", "files/alice/note.md")[0]
    alice.predict("team-kb", api_name="/delete_knowledge_base")
    assert not folder.exists() and "team-kb" not in site.app.kb_choices("alice")
    assert site.app.store.assistant("alice", assistant_id_).knowledge_bases == []  # the link is gone
    import chromadb.errors

    from vlm_pipelines.knowledge.index import _client

    with pytest.raises(chromadb.errors.NotFoundError):
        _client(str(site.data_dir / "knowledge" / "chroma")).get_collection("kb-team-kb")
    alice.predict(str(assistant_id_), api_name="/delete_assistant")
    assert "Team helper" not in [row["name"] for row in alice.predict(api_name="/list_assistants")]
    with pytest.raises(Exception, match="no conversation"):
        alice.predict(conversation, api_name="/open_conversation")
    with pytest.raises(Exception, match="no knowledge base 'project-docs' that you may change"):
        alice.predict("project-docs", api_name="/delete_knowledge_base")


def test_errors_name_only_what_the_caller_gave(site: ChatSite) -> None:
    store = site.app.store
    private = next(a for a in store.assistants("alice") if a.name == "Docs helper")
    conversation = store.new_conversation("alice", private.id, "alice's")
    answer = store.add_message("alice", conversation.id, "assistant", "a", compare_group="g1")
    bob = site.client("bob")

    with pytest.raises(Exception, match=rf"no message {answer.id}") as rated:
        bob.predict(answer.id, 1, api_name="/rate")
    with pytest.raises(Exception, match=rf"no compared answer {answer.id}") as picked:
        bob.predict([answer.id, None], api_name="/pick_a")
    for error in (rated, picked):
        assert f"conversation {conversation.id}" not in str(error.value)
    with pytest.raises(Exception, match="no knowledge base 'nothing-here'") as unknown:
        bob.predict("nothing-here", [], api_name="/upload")
    assert "alice-notes" not in str(unknown.value)

    from vlm_pipelines.knowledge.bases import get_base
    from vlm_pipelines.knowledge.index import KnowledgeBaseError

    with pytest.raises(KnowledgeBaseError) as missing:
        get_base("nothing-here", site.data_dir)
    assert "alice-notes" not in str(missing.value)


def test_roles_come_from_the_users_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.service import users_from_env

    monkeypatch.delenv("VLMBENCH_CHAT_USERS", raising=False)
    assert users_from_env() == [("demo", "demo", "admin")]
    monkeypatch.setenv("VLMBENCH_CHAT_USERS", "ann:pw:admin, ben:a:b, cat:x:user")
    assert users_from_env() == [("ann", "pw", "admin"), ("ben", "a:b", "user"), ("cat", "x", "user")]


def check_an_old_database_keeps_working(url: str) -> None:
    from sqlalchemy import create_engine, text

    from vlm_pipelines.chat.store import Store, hash_password

    engine = create_engine(url)
    with engine.begin() as old:  # the users and knowledge_bases tables as they were before roles
        old.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(64) UNIQUE, "
                         "password_hash VARCHAR(256), created_at TIMESTAMP)"))  # fmt: skip
        old.execute(text("CREATE TABLE knowledge_bases (name VARCHAR(64) PRIMARY KEY, description TEXT, "
                         "owner_id INTEGER, private BOOLEAN, created_at TIMESTAMP)"))  # fmt: skip
        old.execute(
            text("INSERT INTO knowledge_bases VALUES ('old-kb', '', NULL, FALSE, '2026-01-01 00:00:00')")
        )
        old.execute(
            text("INSERT INTO users VALUES (1, 'demo', :hash, '2026-01-01 00:00:00')"),
            {"hash": hash_password("demo")},
        )
    engine.dispose()
    store = Store(url)
    Store(url)  # idempotent: a second start adds nothing and fails on nothing

    assert store.user("demo").role == "user" and store.authenticate("demo", "demo")
    assert store.ensure_user("demo", "demo", "admin").role == "admin"
    assert store.user("demo").is_admin
    assert store.may_change_knowledge_base("demo", "old-kb") and store.set_members("demo", "old-kb", []) == []
    # An admin dropped from VLMBENCH_CHAT_USERS is no admin on the next start.
    assert store.demote_admins_not_in({"someone-else"}) == ["demo"] and not store.user("demo").is_admin
    store.engine.dispose()


def test_a_sqlite_database_from_before_roles_gets_the_new_columns(tmp_path: Path) -> None:
    check_an_old_database_keeps_working(f"sqlite:///{tmp_path / 'app.db'}")


@pytest.mark.requires("postgres")
def test_a_postgres_database_from_before_roles_gets_the_new_columns(postgres_url: str) -> None:
    check_an_old_database_keeps_working(postgres_url)


def test_a_skipped_document_is_not_read_again_while_it_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy (it calls the real reader) counts which files are read."""
    from vlm_pipelines.knowledge import index as index_module

    folder = tmp_path / "docs"
    folder.mkdir()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:  # 20 MB of blanks in 20 kB
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", " " * 20_000_000)
    (folder / "bomb.docx").write_bytes(bomb.getvalue())
    read: list[str] = []
    real = index_module.read_sections

    def spy(path: Path):
        read.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(index_module, "read_sections", spy)
    index = index_module.KnowledgeIndex("bombs", tmp_path / "data")

    first = index.ingest_folder(folder)
    again = index.ingest_folder(folder)
    (folder / "bomb.docx").write_bytes(bomb.getvalue() + b"\0")
    changed = index.ingest_folder(folder)

    assert read == ["bomb.docx", "bomb.docx"]  # the first ingestion and the changed file, not the re-index
    assert list(first.skipped) == list(again.skipped) == list(changed.skipped) == ["bomb.docx"]
    assert again.skipped["bomb.docx"] == first.skipped["bomb.docx"]
    assert index.skipped() == changed.skipped


def test_an_assistant_other_users_talk_to_is_not_deleted_with_their_conversations(site: ChatSite) -> None:
    """Review of issue 19: deleting a public assistant deleted every user's conversations and ratings."""
    alice, bob = site.client("alice"), site.client("bob")
    created = save_assistant(alice, None, "Shared helper", False)
    assistant = int(created[0]["value"])
    bobs = bob.predict(str(assistant), api_name="/new_conversation")["value"]
    with pytest.raises(Exception, match=r"holds 1 conversation\(s\) of other users"):
        alice.predict(str(assistant), api_name="/delete_assistant")
    assert bob.predict(bobs, api_name="/open_conversation") is not None  # bob's conversation is still there
    bob.predict(str(assistant), bobs, api_name="/delete")
    alice.predict(str(assistant), api_name="/delete_assistant")
    assert "Shared helper" not in [row["name"] for row in alice.predict(api_name="/list_assistants")]
