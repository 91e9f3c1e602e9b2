"""A caller that asks a running batch to stop (`model_interface.cancellation`, the model service when every
client of the batch has left) gets it stopped at the next token: SmolLM2-135M on CPU, real weights."""

import threading

import pytest
from model_interface import GenerationConfig, GenerationRequest, shared_model
from model_interface.cancellation import cancel_on

pytestmark = pytest.mark.slow

COUNTING = GenerationRequest(prompt="Write the numbers from 1 to 5000 separated by commas.")


def test_a_batch_asked_to_stop_ends_at_its_next_token() -> None:
    model = shared_model("smollm2-135m")
    stop = threading.Event()
    stop.set()  # the clients left before the first token
    with cancel_on(stop):
        stopped = model.generate([COUNTING, COUNTING], GenerationConfig(max_new_tokens=40))
    assert [result.output_tokens for result in stopped] == [1, 1] and all(r.ok for r in stopped)
    (free,) = model.generate([COUNTING], GenerationConfig(max_new_tokens=40))  # no caller asked: runs on
    assert free.output_tokens == 40
