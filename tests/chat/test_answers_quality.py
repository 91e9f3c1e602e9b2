"""Answers that hold up with the default CPU model: the real SmolLM2-135M over a knowledge base of three of
the project's own READMEs (real MiniLM, Chroma and BM25), asked through `ChatEngine` as the chat asks.
Pinned: no marker loops; an answer is the model's own words found in the cited sentence, or that sentence
quoted and labelled, or "not in the sources" with no citation; and a history of wrong turns does not change
a later answer. The full question set is `bench/chat_answers.py`."""

from __future__ import annotations

import shutil

import pytest

from bench.chat_answers import LOOP_RAW, LOOP_STORED, contains, load_questions
from tests.chat.conftest import REPO_ROOT, chat_environment
from ui.engine import MODEL_SPAN, NOT_IN_SOURCES, QUOTED, ChatEngine

pytestmark = pytest.mark.slow
DOCUMENTS = [
    "model_packages/model-vllm/README.md",
    "model_packages/model-openai/README.md",
    "data/vlmhyperbench_sample/README.md",
]
OFF_TOPIC = "What is the boiling point of water on Mars?"
WRONG_TURNS = [
    (
        "Which vllm version is model-vllm pinned to?",
        "The source you provided is from the [n] source. [1] [2]",
    ),
    ("What is the default API key variable?", "[1] [n] [2] [1] [2] [1]"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    from ui.service import DEMO_SYSTEM_PROMPT, seed_demo
    from vlm_pipelines.chat.store import Store
    from vlm_pipelines.knowledge.bases import create_base, ingest_base

    with pytest.MonkeyPatch.context() as monkeypatch:
        root = tmp_path_factory.mktemp("answers")
        data_dir = chat_environment(monkeypatch, root)
        folder = root / "readmes"
        for document in DOCUMENTS:
            (folder / document).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / document, folder / document)
        store = Store(Store.default_url(data_dir))
        seed_demo(store, data_dir, ingest_now=False)
        create_base("readmes", "Three READMEs", source_folder=folder, data_dir=data_dir)
        ingest_base("readmes", data_dir)
        store.register_knowledge_base("readmes", "Three READMEs", None, private=False)
        template = next(t for t in store.templates("alice") if t.name == "Cite the sources")
        assistant = store.save_assistant(
            None, name="README helper", type="qa", system_prompt=DEMO_SYSTEM_PROMPT, model="smollm2-135m",
            max_tokens=64, search_limit=2, template_id=template.id, private=False, knowledge_bases=["readmes"],
        )  # fmt: skip
        yield store, ChatEngine(store, data_dir), assistant


def ask(store, engine: ChatEngine, assistant, question: str, conversation_id: int | None = None):
    """(the model's raw streamed text, the stored answer message)."""
    conversation_id = conversation_id or store.new_conversation("alice", assistant.id).id
    raw = ""
    for reply in engine.ask("alice", conversation_id, question):
        if not reply.done:
            raw = reply.text
    return raw, reply.message


def test_answers_have_no_marker_loops_and_are_grounded_in_the_sentence_they_cite(site) -> None:
    store, engine, assistant = site
    items = [q for q in load_questions() if q.get("document") in DOCUMENTS][:4]
    assert len(items) == 4
    right = 0
    for question in [*(item["question"] for item in items), OFF_TOPIC]:
        raw, message = ask(store, engine, assistant, question)
        assert not LOOP_RAW.search(raw) and not LOOP_STORED.search(message.content), (question, raw)
        assert message.notes["model_text"] == raw.strip()  # what the model wrote, kept beside the answer
        if message.notes["cited"]:
            (n,) = message.notes["cited"]
            source = message.sources[n - 1]
            assert source["in_prompt"] and message.request["context"] == source["text"]  # the one sentence
            if message.notes["answer"] == MODEL_SPAN:
                span = message.content.removesuffix(f" [{n}]")
                assert contains(source["text"], span) or span in source["text"], (question, message.content)
            else:
                assert message.notes["answer"] == QUOTED
                assert message.content == f'From {source["document"]}: "{source["text"]}" [{n}]'
        else:
            assert message.content == NOT_IN_SOURCES, (question, message.content)
        right += any(contains(message.content, str(i["answer"])) for i in items if i["question"] == question)
    assert message.content == NOT_IN_SOURCES  # the off-topic question
    assert right >= 3  # the quality figures are the bench's (bench/chat_answers.py)


def test_a_history_of_wrong_turns_does_not_change_a_later_answer(site) -> None:
    store, engine, assistant = site
    question = "Which environment variable holds the API key of the openai-compatible model by default?"
    _, alone = ask(store, engine, assistant, question)
    conversation = store.new_conversation("alice", assistant.id)
    for asked, wrong in WRONG_TURNS:
        store.add_message("alice", conversation.id, "user", asked)
        store.add_message("alice", conversation.id, "assistant", wrong)
    _, later = ask(store, engine, assistant, question, conversation.id)
    assert later.request["prompt"] == alone.request["prompt"]
    assert later.content == alone.content and "[n]" not in later.content
    assert later.notes["history_turns"] == 2


def test_the_assistant_type_and_the_response_format_reach_the_prompt(site) -> None:
    from ui.engine import TYPE_INSTRUCTIONS

    store, engine, assistant = site
    template = store.save_template(
        "alice", name="Terse", type="rag", text="{context}\nQ: {question}", response_format="One word.",
        tags=[], private=True,
    )  # fmt: skip
    support_bot = store.save_assistant(
        "alice", name="Support bot", type="support", model="smollm2-135m", max_tokens=8,
        knowledge_bases=["readmes"], template_id=template.id, private=True,
    )  # fmt: skip
    _, message = ask(store, engine, support_bot, "Which vllm version is model-vllm pinned to?")
    assert message.request["system_prompt"] == TYPE_INSTRUCTIONS["support"]
    assert message.request["prompt"].endswith(
        "Q: Which vllm version is model-vllm pinned to?\nAnswer format: One word."
    )
