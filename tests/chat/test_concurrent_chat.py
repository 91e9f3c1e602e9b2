"""Two users at once: the real SmolLM2-135M answers both in one batch (`ui/generation.py`), through
`ChatEngine` as the chat asks. Pinned: each greedy answer equals the answer asked alone, the second request
decodes in the first one's batch (the batcher's own events, not timing), a client that leaves stops its
generation, and the batcher keeps answering afterwards; a waiting request with other settings is not
overtaken, and a worker that fails (an injected fault: a raising event hook) fails every waiting stream
instead of leaving it hanging, and the next request is answered."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from model_interface import GenerationConfig, GenerationRequest

from tests.chat.conftest import chat_environment
from ui.engine import ChatEngine
from ui.generation import StreamingBatcher

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


class Client(threading.Thread):
    """Reads one batcher stream to its end; `result()` is the text, or the exception the stream raised."""

    def __init__(self, batcher: StreamingBatcher, question: str, config: GenerationConfig) -> None:
        super().__init__(daemon=True)
        self.batcher, self.question, self.config = batcher, question, config
        self.outcome: str | Exception | None = None

    def run(self) -> None:
        try:
            self.outcome = "".join(self.batcher.stream(GenerationRequest(prompt=self.question), self.config))
        except Exception as error:  # noqa: BLE001 - the test inspects it
            self.outcome = error

    def result(self) -> str | Exception | None:
        self.join(DEADLINE_S)
        assert not self.is_alive(), f"the stream of {self.question!r} hangs"
        return self.outcome


def chat_model(chat):
    _, engine, assistant, _ = chat
    return engine.model(assistant.model)[1]


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


def test_a_waiting_request_with_other_settings_is_not_overtaken_by_later_ones(chat) -> None:
    """Request 1 (greedy) decodes while 2 (sampled) and then 3 (greedy) wait: 3 could join 1's batch, but
    it must not start before 2, or 2 would never start under steady greedy traffic."""
    events = Events()
    batcher = StreamingBatcher(chat_model(chat), on_event=events)
    greedy = GenerationConfig(max_new_tokens=6)
    sampled = GenerationConfig(max_new_tokens=6, temperature=0.7, top_p=0.9)

    def hold_first_until_third_queued(event: str, number: int) -> None:
        if (event, number) == ("first_token", 1):
            events.wait_for("queued", 3)

    events.hold = hold_first_until_third_queued
    clients = []
    for number, config in enumerate([greedy, sampled, greedy], start=1):
        clients.append(Client(batcher, QUESTIONS[0], config))
        clients[-1].start()
        events.wait_for("queued", number)
    first, second, third = [client.result() for client in clients]

    assert all(isinstance(outcome, str) for outcome in (first, second, third))
    assert first == third  # same prompt, greedy
    assert events.index("batch", 2) < events.index("batch", 3)


def test_a_failing_event_hook_fails_every_waiting_stream_and_the_next_request_is_answered(chat) -> None:
    """The fault is injected through the real hook: it raises on request 1's `batch` event and again on its
    `finished` event, which the worker reports outside `generate`. Request 2, queued meanwhile, must raise
    too instead of hanging, and a later request gets its single-user answer."""
    model = chat_model(chat)
    events = Events()
    batcher = StreamingBatcher(model, on_event=events)
    config = GenerationConfig(max_new_tokens=12)

    def fail_request_one(event: str, number: int) -> None:
        if (event, number) == ("batch", 1):
            events.wait_for("queued", 2)
        if number == 1 and event in ("batch", "finished"):
            raise RuntimeError("event sink down")

    events.hold = fail_request_one
    first = Client(batcher, QUESTIONS[0], config)
    first.start()
    events.wait_for("queued", 1)
    second = Client(batcher, QUESTIONS[1], config)
    second.start()
    outcomes = [first.result(), second.result()]
    events.hold = lambda event, number: None

    assert [repr(outcome) for outcome in outcomes] == [repr(RuntimeError("event sink down"))] * 2
    later = Client(batcher, QUESTIONS[0], config)
    later.start()
    assert later.result() == "".join(model.stream(GenerationRequest(prompt=QUESTIONS[0]), config))
