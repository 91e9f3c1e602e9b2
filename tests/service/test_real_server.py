"""`vlmbench serve` for real, with an API key, two real small models and room for one: RapidOCR's rules
baseline and SmolLM2-135M (both ship in packages). Eviction through the app over HTTP, a client that
leaves a long generation, and the `openai-compatible` client sending the key."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from model_interface import GenerationConfig, GenerationRequest, get_spec

from tests.service.conftest import metric, post_and_leave, running_service, service_log, wait_for
from vlm_pipelines.service.access import API_KEY_ENV

pytestmark = pytest.mark.slow

KEY = {"Authorization": "Bearer s3rvice-key"}
ENDPOINT = "/v1/chat/completions"
# Greedy SmolLM2-135M counts on for all 1500 tokens (checked once: 148 s on 2 CPU cores).
COUNTING = "Write the numbers from 1 to 5000 separated by commas."


def ask(model: str, question: str, max_tokens: int = 8) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens}


def complete(root: str, model: str, question: str, max_tokens: int = 8) -> dict:
    response = httpx.post(
        f"{root}{ENDPOINT}", json=ask(model, question, max_tokens), headers=KEY, timeout=120
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        **os.environ,
        API_KEY_ENV: "s3rvice-key",
        "VLMBENCH_DATA_DIR": str(tmp_path_factory.mktemp("data")),
    }
    args = ["--model", "ocr-rules", "--model", "smollm2-135m", "--max-loaded", "1"]
    with running_service(args, env=env) as base_url:
        yield base_url.removesuffix("/v1")


def test_models_are_evicted_and_loaded_again_through_the_app(root: str) -> None:
    """The first eviction used to deadlock the manager: the request after it hung for good."""
    complete(root, "ocr-rules", "What is written here?")
    complete(root, "smollm2-135m", "Say hello.")  # evicts ocr-rules
    complete(root, "ocr-rules", "What is written here?")  # evicts smollm2-135m
    health = httpx.get(f"{root}/health", timeout=30).json()
    assert health["models"] == {"ocr-rules": {"loaded": True}, "smollm2-135m": {"loaded": False}}
    evictions = {name: metric(root, "vlmbench_service_model_evictions_total", KEY, model=name)
                 for name in ("ocr-rules", "smollm2-135m")}  # fmt: skip
    assert evictions == {"ocr-rules": 1, "smollm2-135m": 1}


def test_a_client_that_leaves_stops_its_generation(root: str) -> None:
    complete(root, "smollm2-135m", "Say hello.")  # loaded, so the long request starts generating at once
    labels = {"model": "smollm2-135m"}
    batches = metric(root, "vlmbench_service_batch_size_count", KEY, **labels)
    tokens = metric(root, "vlmbench_service_tokens_total", KEY, kind="completion", **labels)

    leaving = post_and_leave(root, ENDPOINT, ask("smollm2-135m", COUNTING, 1500), KEY)
    wait_for(lambda: metric(root, "vlmbench_service_batch_size_count", KEY, **labels) > batches, 120,
             "the long generation to start")  # fmt: skip
    leaving.close()
    wait_for(lambda: metric(root, "vlmbench_service_cancelled_total", KEY, stage="generating", **labels) == 1, 600,
             "the service to say the generation was cancelled")  # fmt: skip
    generated = metric(root, "vlmbench_service_tokens_total", KEY, kind="completion", **labels) - tokens
    assert 0 < generated < 1500  # stopped early: left alone it runs to the 1500-token limit

    after = complete(root, "smollm2-135m", "Say hello.")
    assert after["usage"]["completion_tokens"] > 0
    assert (
        metric(root, "vlmbench_service_requests_total", KEY, endpoint=ENDPOINT, status="499", **labels) == 1
    )


def test_the_openai_compatible_client_sends_the_key(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_spec("openai-compatible")
    params = {"base_url": f"{root}/v1", "served_model": "smollm2-135m", "api_key_env": "TEST_SERVICE_KEY"}
    monkeypatch.delenv("TEST_SERVICE_KEY", raising=False)
    refused = spec.availability(params)
    assert not refused.ok and refused.reason == (
        f"{root}/v1 refused the request (HTTP 401; no key was sent): set the environment variable "
        "TEST_SERVICE_KEY (the api_key_env param) to the server's API key"
    )

    monkeypatch.setenv("TEST_SERVICE_KEY", "s3rvice-key")
    assert spec.availability(params).ok
    assert spec.resolution(params).settings["served by"].startswith("smollm2-135m (model-hf ")
    (answer,) = spec.create(params).generate(
        [GenerationRequest(prompt="Say hello.")], GenerationConfig(max_new_tokens=4)
    )
    assert answer.ok and answer.output_tokens > 0


def test_the_log_has_no_traceback(root: str) -> None:
    """Clients that left and refused requests are not server errors."""
    assert "Traceback" not in service_log(root.rsplit(":", 1)[1]).read_text()
