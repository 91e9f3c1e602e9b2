"""The service over vLLM's async engine, over real HTTP (uvicorn on 127.0.0.1, in this process): the real
`VLLMModel`, made by the model registry, with only vLLM's CUDA-bound engine stood in
(`model_vllm.stand_in.StandInEngine`, which answers "echo: <question>" word by word; there is no GPU here,
so the adapter's GPU check is switched off where the engine is stood in). Requests, disconnects,
aborts and /metrics are real."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import httpx
import pytest
from model_vllm import adapter
from model_vllm.stand_in import StandInEngine, stand_in_vllm

from tests.processes import free_port
from tests.service.conftest import metric, post_and_leave, serving, wait_for
from vlm_pipelines.model_registry import ad_hoc_model
from vlm_pipelines.service.app import create_app
from vlm_pipelines.service.manager import ModelManager

KEY = {"Authorization": "Bearer k3y"}
ENDPOINT = "/v1/chat/completions"


def ask(question: str, max_tokens: int = 8, **extra) -> dict:
    return {"model": "qwen-vllm", "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            **extra}  # fmt: skip


@pytest.fixture
def stood_in(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, module in stand_in_vllm().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(StandInEngine, "instances", [])


@pytest.fixture
def root(stood_in: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(adapter, "gpu_problem", lambda tensor_parallel_size: None)  # no GPU here
    entries = {"qwen-vllm": ad_hoc_model("qwen2.5-vl-3b-vllm", {"model_path": "/models/qwen"})}
    with serving(create_app(ModelManager(entries), api_key="k3y")) as root:
        yield root
    assert StandInEngine.instances[0].shut_down  # the service's shutdown ends the engine


def test_concurrent_requests_are_in_the_engine_together(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StandInEngine, "hold_until_running", 4)  # each request waits until 4 run at once
    answers: list[httpx.Response] = []

    def send(index: int) -> None:
        answers.append(httpx.post(f"{root}{ENDPOINT}", json=ask(f"q{index}"), headers=KEY, timeout=120))

    threads = [threading.Thread(target=send, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(a.json()["choices"][0]["message"]["content"] for a in answers) == [
        f"echo: q{i}" for i in range(4)
    ]
    (engine,) = StandInEngine.instances
    assert engine.most_running == 4  # one engine, four requests at once: no call per batch


def test_a_client_that_leaves_aborts_its_vllm_request_streamed_or_not(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StandInEngine, "token_interval_s", 0.02)  # long answers, paced: time to leave
    for stage, body in [("generating", ask("long", 1500)), ("streaming", ask("long", 1500, stream=True))]:
        leaving = post_and_leave(root, ENDPOINT, body, KEY)
        wait_for(lambda: StandInEngine.instances and StandInEngine.instances[0].first_token.is_set(), 60,
                 "the first token")  # fmt: skip
        (engine,) = StandInEngine.instances
        engine.abort_seen.clear()
        leaving.close()
        assert engine.abort_seen.wait(60), f"{stage}: the engine was not told to abort"
        assert engine.aborted[-1] == engine.started[-1]
        wait_for(lambda engine=engine: not engine.running, 60, "the engine to drop the request")
        wait_for(lambda stage=stage: metric(root, "vlmbench_service_cancelled_total", KEY, stage=stage) == 1, 60,
                 f"the service to count the {stage} cancellation")  # fmt: skip
        engine.first_token.clear()

    monkeypatch.setattr(StandInEngine, "token_interval_s", 0.0)
    after = httpx.post(f"{root}{ENDPOINT}", json=ask("short"), headers=KEY, timeout=60)
    assert after.json()["choices"][0]["message"]["content"] == "echo: short"
    wait_for(lambda: metric(root, "vlmbench_service_requests_total", KEY, endpoint=ENDPOINT, status="499") == 2, 60,
             "both requests counted as closed by the client")  # fmt: skip


def test_metrics_count_every_request_whatever_became_of_it(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,bm90IGFuIGltYWdl"}}
    mix = [
        (ask("a"), KEY, "200"),
        (ask("b"), KEY, "200"),
        (ask("c", stream=True), KEY, "200"),
        ({"model": "qwen-vllm", "messages": [{"role": "user", "content": [bad_image]}]}, KEY, "400"),
        (ask("d", max_tokens=0), KEY, "400"),
        ({**ask("e"), "model": "gpt-9"}, KEY, "404"),
        (ask("f"), {}, "401"),
        (ask("g"), {"Authorization": "Bearer wrong"}, "401"),
    ]
    for body, headers, status in mix:
        with httpx.stream("POST", f"{root}{ENDPOINT}", json=body, headers=headers, timeout=60) as response:
            response.read()
            assert str(response.status_code) == status, (body, response.text)
    monkeypatch.setattr(StandInEngine, "token_interval_s", 0.02)
    leaving = post_and_leave(root, ENDPOINT, ask("long", 1500), KEY)
    wait_for(lambda: StandInEngine.instances[0].first_token.is_set(), 60, "the first token")
    leaving.close()
    assert httpx.get(f"{root}/v1/models", timeout=30).status_code == 401
    assert httpx.get(f"{root}/health", timeout=30).status_code == 200

    def counted(**labels: str) -> float:
        return metric(root, "vlmbench_service_requests_total", KEY, **labels)

    wait_for(lambda: counted(endpoint=ENDPOINT, status="499") == 1, 60, "the client that left to be counted")
    expected = {"200": 3, "400": 2, "404": 1, "401": 2, "499": 1}
    assert {status: counted(endpoint=ENDPOINT, status=status) for status in expected} == expected
    assert counted(endpoint=ENDPOINT) == len(mix) + 1
    assert (
        counted(endpoint="/v1/models", status="401") == 1 and counted(endpoint="/health", status="200") == 1
    )
    assert counted(endpoint=ENDPOINT, model="qwen-vllm", status="200") == 3  # the model is a label


def test_without_a_gpu_a_vllm_model_is_refused_in_one_line(stood_in: None) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has a CUDA GPU")
    entries = {"qwen-vllm": ad_hoc_model("qwen2.5-vl-3b-vllm", {"model_path": "/models/qwen"})}
    with serving(create_app(ModelManager(entries))) as root:  # lazily: refused when first asked
        response = httpx.post(f"{root}{ENDPOINT}", json=ask("q"), timeout=60)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == (
        "qwen-vllm cannot run here: qwen2.5-vl-3b-vllm: vLLM needs a CUDA GPU; none was found"
    )


@pytest.mark.requires("vllm")
def test_vlmbench_serve_refuses_a_vllm_model_without_a_gpu_before_listening(
    capsys: pytest.CaptureFixture,
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has a CUDA GPU")
    from vlm_pipelines.cli import main

    assert main(["serve", "--model", "qwen2.5-vl-3b-vllm", "--port", str(free_port())]) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        "vlmbench: error: model 'qwen2.5-vl-3b-vllm' (qwen2.5-vl-3b-vllm) cannot run here: "
        "vLLM needs a CUDA GPU; none was found"
    )
    assert error.count("\n") == 1 and "Device string" not in error
