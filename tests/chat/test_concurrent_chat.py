"""Two users at once: the real SmolLM2-135M answers both in one batch (`ui/generation.py`), through
`ChatEngine` as the chat asks. Pinned: each greedy answer equals the answer asked alone, the second request
decodes in the first one's batch (the batcher's own events, not timing), a client that leaves stops its
generation, and the batcher keeps answering afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.chat.conftest import chat_environment
from ui.engine import ChatEngine

DEADLINE_S = 120  # bounds a hang only
QUESTIONS = ["What is the capital of France?", "Name three colours of the rainbow."]


class Events:
    """The batcher's events, (event, request number, tokens), and a way to wait for one."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []
        self.changed = threading.Condition()
        self.hold: Callable[[str, int], None] = lambda event, number: None

    def __call__(self, event: str, number: int, tokens: int) -> None:
        with self.changed:
            self.seen.append((event, number, tokens))
            self.changed.notify_all()
        self.hold(event, number)

    def wait_for(self, event: str, number: int) -> tuple[str, int, int]:
        def found():
            return next((e for e in self.seen if e[:2] == (event, number)), None)

        with self.changed:
            assert self.changed.wait_for(found, DEADLINE_S), f"no {event} for request {number}: {self.seen}"
            return found()

    def index(self, event: str, number: int) -> int:
        return next(i for i, e in enumerate(self.seen) if e[:2] == (event, number))


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory):
    from ui.service import seed_demo
    from vlm_pipelines.chat.store import Store

    with pytest.MonkeyPatch.context() as monkeypatch:
        data_dir = chat_environment(monkeypatch, tmp_path_factory.mktemp("concurrent"))
        store = Store(Store.default_url(data_dir))
        seed_demo(store, data_dir, ingest_now=False)
        assistant = store.save_assistant(
            None, name="Plain", model="smollm2-135m", max_tokens=12, temperature=0.0,
            search_enabled=False, private=False,
        )  # fmt: skip
        engine = ChatEngine(store, data_dir)
        events = Events()
        engine.streams.on_event = events
        yield store, engine, assistant, events


def answer(chat, user: str, question: str) -> str:
    store, engine, assistant, _ = chat
    conversation = store.new_conversation(user, assistant.id)
    *_, reply = engine.ask(user, conversation.id, question)
    return reply.message.content


def test_two_users_asking_together_share_a_batch_and_get_their_answers_alone(chat) -> None:
    events = chat[3]
    alone = [answer(chat, "alice", QUESTIONS[0]), answer(chat, "bob", QUESTIONS[1])]
    first = max(number for _, number, _ in events.seen) + 1
    second_queued = threading.Event()

    def hold_first_until_second_queued(event: str, number: int) -> None:
        if (event, number) == ("queued", first + 1):
            second_queued.set()
        if (event, number) == ("first_token", first):
            assert second_queued.wait(DEADLINE_S)

    events.hold = hold_first_until_second_queued
    together: dict[str, str] = {}
    users = [
        threading.Thread(target=lambda: together.__setitem__("alice", answer(chat, "alice", QUESTIONS[0]))),
    ]
    users[0].start()
    events.wait_for("queued", first)
    users.append(
        threading.Thread(target=lambda: together.__setitem__("bob", answer(chat, "bob", QUESTIONS[1])))
    )
    users[1].start()
    for user in users:
        user.join(DEADLINE_S)
    events.hold = lambda event, number: None

    assert not any(user.is_alive() for user in users)
    assert [together["alice"], together["bob"]] == alone
    # bob's request joined alice's running batch and produced a token before alice's answer ended
    assert events.index("batch", first + 1) < events.index("finished", first)
    assert events.index("first_token", first + 1) < events.index("finished", first)


def test_a_client_that_leaves_stops_its_generation_and_the_next_one_is_answered(chat) -> None:
    from model_interface import GenerationConfig, GenerationRequest

    store, engine, assistant, events = chat
    _, model = engine.model(assistant.model)
    budget = 200
    request = GenerationRequest(prompt="Count from 1 to 300, one number per line.")
    stream = engine.streams.stream(model, request, GenerationConfig(max_new_tokens=budget))
    client_left = threading.Event()

    def hold_until_the_client_leaves(event: str, number: int) -> None:
        if event == "first_token":
            assert client_left.wait(DEADLINE_S)

    events.hold = hold_until_the_client_leaves
    try:
        first_piece = next(stream)
        stream.close()
        client_left.set()
        number = max(n for event, n, _ in events.seen if event == "queued")
        _, _, tokens = events.wait_for("finished", number)
    finally:
        events.hold = lambda event, number: None

    assert first_piece and tokens == 1  # the step after the client left ended its row
    assert answer(chat, "alice", QUESTIONS[0])
