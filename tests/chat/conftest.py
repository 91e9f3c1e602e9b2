"""A real chat app for the tests: a temporary data folder and Dagster instance, a knowledge base of real
documents (ingested through the Dagster job), users alice and bob, the real SmolLM2 and MiniLM."""

from __future__ import annotations

import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chat import documents as docs
from tests.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
USERS = {"alice": "alice-pw", "bob": "bob-pw", "root": "root-pw"}  # root: an admin where a test says so


@dataclass
class ChatSite:
    data_dir: Path
    url: str
    port: int
    demo: object
    app: object
    handbook_assistant: int = 0  # the seeded site's assistants (`seed_site`)
    private_assistant: int = 0

    def client(self, user: str):
        from gradio_client import Client

        downloads = self.data_dir.parent / "client-downloads"  # not the shared /tmp/gradio
        return Client(self.url, auth=(user, USERS[user]), verbose=False, download_files=downloads)


def chat_environment(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    data_dir, home = root / "data", root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_bytes((REPO_ROOT / "dagster.yaml").read_bytes())
    monkeypatch.setenv("VLMBENCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("VLMBENCH_CHAT_USERS", ",".join(f"{u}:{p}" for u, p in USERS.items()))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(root / "gradio"))  # the app's uploads stay in the test's folder
    keep_client_downloads_in(root / "client-tmp", monkeypatch)
    return data_dir


def keep_client_downloads_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gradio_client leaves an empty folder in the system's temp dir for each file it downloads; its module
    sees `folder` as the temp dir instead (only it: Postgres and the app keep theirs)."""
    import gradio_client.client

    folder.mkdir(parents=True, exist_ok=True)
    shim = types.ModuleType("tempfile")
    shim.__dict__.update(tempfile.__dict__)
    shim.gettempdir = lambda: str(folder)
    monkeypatch.setattr(gradio_client.client, "tempfile", shim)


def seed_site(data_dir: Path) -> tuple[int, int]:
    """The handbook knowledge base (public) and alice's private one, and an assistant for each."""
    from ui.service import create_knowledge_base, ingest, seed_demo
    from vlm_pipelines.chat.store import Store

    store = Store(Store.default_url(data_dir))
    seed_demo(store, data_dir, ingest_now=False)
    corpus = docs.write_corpus(data_dir.parent / "handbook-docs")
    from vlm_pipelines.knowledge.bases import create_base

    create_base("handbook", "Company handbook", source_folder=corpus, data_dir=data_dir)
    store.register_knowledge_base("handbook", "Company handbook", None, private=False)
    ingest("handbook", data_dir)
    create_knowledge_base(store, "alice", "alice-notes", "Alice's notes", True, data_dir)
    template = next(t for t in store.templates("alice") if t.name == "Cite the sources")
    handbook = store.save_assistant(
        None, name="Handbook helper", description="Answers from the handbook.", type="support",
        model="smollm2-135m", max_tokens=32, search_limit=2, template_id=template.id, private=False,
        knowledge_bases=["handbook"],
    )  # fmt: skip
    private = store.save_assistant(
        "alice",
        name="Alice private",
        model="smollm2-135m",
        max_tokens=24,
        private=True,
        knowledge_bases=["alice-notes"],
    )
    return handbook.id, private.id


def start_site(data_dir: Path, handbook: int, private: int, port: int | None = None) -> ChatSite:
    from ui.app import launch

    port = port or free_port()
    demo, app = launch(data_dir, port=port, block=False, seed=False)
    return ChatSite(data_dir, f"http://127.0.0.1:{port}/", port, demo, app, handbook, private)


@pytest.fixture(scope="module")
def chat_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatSite]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        data_dir = chat_environment(monkeypatch, tmp_path_factory.mktemp("chat"))
        handbook, private = seed_site(data_dir)
        site = start_site(data_dir, handbook, private)
        try:
            yield site
        finally:
            site.demo.close()
