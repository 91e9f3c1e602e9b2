"""The OpenAI client model against a misbehaving stand-in endpoint (see conftest.py)."""

from __future__ import annotations

import pytest
from model_interface import GenerationConfig, GenerationRequest
from model_openai.params import OpenAIClientParams
from model_openai.registry import check_endpoint, create_client_model, resolve_endpoint
from model_openai.transport import retry_delay
from PIL import Image


def _model(base_url: str, served_model: str, **params):
    return create_client_model(
        "openai-compatible", OpenAIClientParams(base_url=base_url, served_model=served_model, **params)
    )


def test_a_503_is_retried_with_backoff_until_it_succeeds(stand_in) -> None:
    base_url, endpoint = stand_in
    (result,) = _model(base_url, "flaky", backoff_s=0.01).generate([GenerationRequest(prompt="p1")])
    assert result.ok and result.text == "answer to p1"
    assert (result.prompt_tokens, result.output_tokens) == (5, 3)
    assert endpoint.calls["flaky:p1"] == 3  # two 503s, then the answer


def test_a_400_fails_that_sample_at_once_with_the_servers_message(stand_in) -> None:
    base_url, endpoint = stand_in
    good, bad = _model(base_url, "ok").generate([GenerationRequest(prompt="g")]), None
    (bad,) = _model(base_url, "bad").generate([GenerationRequest(prompt="b", request_id="r1")])
    assert good[0].ok
    assert not bad.ok and bad.request_id == "r1"
    assert "HTTP 400: max_tokens is too large" in bad.error
    assert endpoint.calls["bad:b"] == 1  # not retried


def test_a_timeout_is_retried_then_reported(stand_in) -> None:
    base_url, endpoint = stand_in
    model = _model(base_url, "slow", timeout_s=0.3, max_retries=1, backoff_s=0.01)
    (result,) = model.generate([GenerationRequest(prompt="s")])
    assert "ReadTimeout" in result.error and "(after 2 attempts)" in result.error
    assert endpoint.calls["slow:s"] == 2


def test_concurrency_is_bounded_and_every_request_of_the_batch_is_answered(stand_in) -> None:
    base_url, endpoint = stand_in
    requests = [GenerationRequest(prompt=f"c{i}", request_id=str(i)) for i in range(9)]
    results = _model(base_url, "busy", max_concurrency=3).generate(requests)
    assert [result.text for result in results] == [f"answer to c{i}" for i in range(9)]  # in order
    assert endpoint.max_in_flight == 3


def test_streaming_measures_the_first_token_and_counts_pieces_without_usage(stand_in) -> None:
    base_url, _ = stand_in
    model = _model(base_url, "stream", stream=True)
    assert list(model.stream(GenerationRequest(prompt="x y"))) == ["answer ", "to ", "x ", "y "]
    (result,) = model.generate([GenerationRequest(prompt="x y")])
    assert result.text == "answer to x y " and result.output_tokens == 4
    assert 0 < result.ttft_s < result.latency_s


def test_images_travel_as_base64_parts_and_a_bad_image_fails_alone(stand_in, tmp_path) -> None:
    base_url, _ = stand_in
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    requests = [
        GenerationRequest(prompt="size?", images=[Image.new("RGB", (64, 48)), Image.new("L", (10, 20))]),
        GenerationRequest(prompt="size?", images=[broken]),
    ]
    ok, bad = _model(base_url, "images").generate(requests)
    assert ok.text == "64x48 10x20"
    assert "UnidentifiedImageError" in bad.error


def test_the_backoff_doubles_up_to_its_cap_and_retry_after_wins() -> None:
    params = OpenAIClientParams(served_model="m", backoff_s=0.5, backoff_max_s=3)
    assert [retry_delay(attempt, params, None, jitter=lambda: 1.0) for attempt in range(4)] == [
        0.5,
        1.0,
        2.0,
        3.0,
    ]
    assert retry_delay(0, params, None, jitter=lambda: 0.0) == 0.25
    assert retry_delay(5, params, "2") == 2.0 and retry_delay(0, params, "60") == 3.0


def test_availability_and_identity_come_from_the_endpoint(stand_in) -> None:
    base_url, _ = stand_in
    assert check_endpoint(OpenAIClientParams(base_url=base_url, served_model="ok")).ok
    missing = check_endpoint(OpenAIClientParams(base_url=base_url, served_model="gpt-9"))
    assert not missing.ok and "does not serve 'gpt-9'" in missing.reason and "ok, flaky" in missing.reason
    settings = resolve_endpoint(OpenAIClientParams(base_url=base_url, served_model="ok")).settings
    # No /version here: the Server header is the reported version.
    assert settings == {"endpoint": base_url, "served model": "ok", "endpoint version": "stand-in/1.0"}


def test_an_unreachable_endpoint_says_how_to_start_one() -> None:
    availability = check_endpoint(
        OpenAIClientParams(base_url="http://127.0.0.1:9/v1", served_model="smollm2-135m")
    )
    assert not availability.ok
    assert "cannot reach http://127.0.0.1:9/v1/models" in availability.reason
    assert "vlmbench serve --model smollm2-135m" in availability.reason


@pytest.mark.parametrize("url", ["127.0.0.1:8000/v1", "ftp://x/v1"])
def test_a_base_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="is not an http"):
        OpenAIClientParams(base_url=url, served_model="m")


def test_decoding_settings_are_sent_explicitly() -> None:
    from model_openai.messages import completion_body

    body = completion_body("m", [], GenerationConfig(max_new_tokens=7, stop=("\n",)), stream=True)
    assert body["temperature"] == 0.0 and body["max_tokens"] == 7 and body["stop"] == ["\n"]
    assert body["stream_options"] == {"include_usage": True}
