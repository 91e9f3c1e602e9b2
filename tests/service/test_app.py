"""The service's routes and errors, in process (FastAPI's TestClient). The model is never loaded here:
each request fails before it would be answered. Answers are tested against a real server in
test_served_answers.py."""

from __future__ import annotations

import base64
import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

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


def test_an_oversize_image_gets_a_json_400_not_a_server_error(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")  # 50 kB that would decode to 1.2 GB of RGB
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = client.post("/v1/chat/completions", json={"model": "smollm2-135m", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]})  # fmt: skip
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == 400
    assert error["message"].startswith("image 1 is too large (") and "\n" not in error["message"]


def test_with_a_key_every_route_but_health_needs_it() -> None:
    entries = {"smollm2-135m": ad_hoc_model("smollm2-135m")}
    with TestClient(create_app(ModelManager(entries), api_key="s3cret")) as keyed:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            for method, path in [("GET", "/v1/models"), ("GET", "/metrics"), ("GET", "/version"),
                                 ("POST", "/v1/chat/completions")]:  # fmt: skip
                response = keyed.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json() == {"error": {
                    "message": "missing or wrong API key; send the header 'Authorization: Bearer <key>'",
                    "type": "invalid_request_error", "param": None, "code": 401}}  # fmt: skip
        assert keyed.get("/health").status_code == 200  # liveness probes carry no key
        right = {"Authorization": "Bearer s3cret"}
        assert keyed.get("/v1/models", headers=right).json()["data"][0]["id"] == "smollm2-135m"
        text = keyed.get("/metrics", headers=right).text
        assert 'vlmbench_service_requests_total{endpoint="/v1/models",model="",status="401"} 3.0' in text
