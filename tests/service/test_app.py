"""The service's routes and errors, in process (FastAPI's TestClient). The model is never loaded here:
each request fails before it would be answered. Answers are tested against a real server in
test_served_answers.py."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from vlm_pipelines.model_registry import ad_hoc_model
from vlm_pipelines.service.app import create_app
from vlm_pipelines.service.manager import ModelManager


@pytest.fixture(scope="module")
def client() -> TestClient:
    entries = {"smollm2-135m": ad_hoc_model("smollm2-135m")}
    with TestClient(create_app(ModelManager(entries))) as client:
        yield client


def test_models_health_and_version_describe_what_is_served_without_loading_it(client: TestClient) -> None:
    (model,) = client.get("/v1/models").json()["data"]
    assert model["id"] == "smollm2-135m" and model["object"] == "model"
    assert model["vlmbench"]["package"] == "model-hf" and model["vlmbench"]["resolved"]["device"] == "cpu"
    assert client.get("/health").json() == {"status": "ok", "models": {"smollm2-135m": {"loaded": False}}}
    assert client.get("/version").json()["version"].startswith("vlmbench ")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "gpt-9", "messages": [{"role": "user", "content": "q"}]}, 404, "model 'gpt-9' is not served"),
        ({"model": "smollm2-135m", "messages": []}, 400, "messages: List should have at least 1 item"),
        ({"model": "smollm2-135m", "messages": [{"role": "user", "content": "q"}], "max_tokens": 0}, 400,
         "max_tokens: Input should be greater than or equal to 1"),
        ({"model": "smollm2-135m", "messages": [{"role": "user", "content": [{"type": "image_url",
          "image_url": {"url": "data:image/png;base64," + base64.b64encode(b"junk").decode()}}]}]}, 400,
         "image 1 is not a readable image"),
    ],
)  # fmt: skip
def test_bad_requests_get_openai_style_errors(
    client: TestClient, body: dict, status: int, message: str
) -> None:
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert message in error["message"] and error["code"] == status


def test_metrics_are_prometheus_text_and_count_the_rejected_requests(client: TestClient) -> None:
    client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]})  # fmt: skip
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'vlmbench_service_errors_total{kind="bad_request",model="smollm2-135m"}' in text
    assert "vlmbench_service_queue_depth" in text and "vlmbench_service_models_loaded 0.0" in text
