"""VLLMModel batching with the device call mocked: `vllm.LLM` is replaced by `FakeLLM`, which answers
each conversation with an echo of its question instead of running a model on a GPU.

Two ways: with a stand-in `vllm` module (runs anywhere, like CI without vllm), and with the real vllm
where only `LLM` is replaced, so real `SamplingParams`, `RequestOutput` and `RequestStateStats` flow
through the adapter.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from model_interface import GenerationConfig, GenerationRequest, ModelUnavailableError
from model_vllm.adapter import VLLMModel, gpu_memory_in_use_bytes
from model_vllm.params import VLLMParams
from PIL import Image


def question_of(conversation: list[dict[str, Any]]) -> str:
    content = conversation[-1]["content"]
    return content if isinstance(content, str) else content[-1]["text"]


class FakeLLM:
    """Stands in for `vllm.LLM` (no GPU): records its arguments and echoes each conversation's question."""

    instances: list[FakeLLM] = []
    output_factory: Any = None  # builds one RequestOutput-like object

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.chat_calls: list[tuple[list, Any, dict]] = []
        FakeLLM.instances.append(self)

    def chat(self, messages: list, sampling_params: Any, **kwargs: Any) -> list[Any]:
        self.chat_calls.append((messages, sampling_params, kwargs))
        arrival = time.time()
        outputs = [
            FakeLLM.output_factory(f"echo: {question_of(conversation)}", len(conversation), arrival)
            for conversation in messages
        ]
        time.sleep(0.02)  # the batch takes longer than any request's metrics say
        return outputs


def namespace_output(text: str, prompt_tokens: int, arrival_time: float) -> SimpleNamespace:
    return SimpleNamespace(
        prompt_token_ids=list(range(prompt_tokens)),
        outputs=[SimpleNamespace(text=text, token_ids=[1, 2, 3, 4])],
        metrics=SimpleNamespace(
            arrival_time=arrival_time, first_token_latency=0.001, first_token_ts=5.0, last_token_ts=5.003
        ),
    )


class RecordedSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@pytest.fixture
def stand_in_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = RecordedSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(FakeLLM, "instances", [])
    monkeypatch.setattr(FakeLLM, "output_factory", staticmethod(namespace_output))
    return module


def make_model(**params: Any) -> VLLMModel:
    return VLLMModel("qwen-test-vllm", "0.1.0", VLLMParams(model_path="/models/qwen", **params))


def test_nothing_loads_until_the_first_generate(stand_in_vllm: types.ModuleType) -> None:
    model = make_model()
    assert not model.is_loaded and FakeLLM.instances == []
    model.generate([GenerationRequest(prompt="q")])
    model.generate([GenerationRequest(prompt="q")])
    assert len(FakeLLM.instances) == 1
    assert FakeLLM.instances[0].kwargs["model"] == "/models/qwen"
    assert FakeLLM.instances[0].kwargs["disable_log_stats"] is False


def test_a_batch_is_one_chat_call_and_results_keep_request_order(stand_in_vllm: types.ModuleType) -> None:
    model = make_model()
    requests = [
        GenerationRequest(
            prompt=f"question {index}", images=[Image.new("RGB", (8, 8))], request_id=str(index)
        )
        for index in range(3)
    ]
    config = GenerationConfig(max_new_tokens=16, stop=("\n",), seed=5)
    results = model.generate(requests, config)

    (engine,) = FakeLLM.instances
    (messages, sampling_params, chat_kwargs) = engine.chat_calls[0]
    assert len(engine.chat_calls) == 1 and len(messages) == 3
    assert chat_kwargs == {"use_tqdm": False}
    assert sampling_params.kwargs == {
        "max_tokens": 16,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 5,
        "stop": ["\n"],
    }
    assert [(r.request_id, r.text, r.output_tokens, r.prompt_tokens) for r in results] == [
        ("0", "echo: question 0", 4, 1),
        ("1", "echo: question 1", 4, 1),
        ("2", "echo: question 2", 4, 1),
    ]
    assert all(r.ok and r.model_id == "qwen-test-vllm" and r.package_version == "0.1.0" for r in results)


def test_a_bad_image_fails_its_request_and_the_rest_go_to_vllm_together(
    stand_in_vllm: types.ModuleType, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    requests = [
        GenerationRequest(prompt="first", images=[Image.new("RGB", (8, 8))], request_id="a"),
        GenerationRequest(prompt="broken", images=[corrupt], request_id="b"),
        GenerationRequest(prompt="too many", images=[Image.new("RGB", (8, 8))] * 3, request_id="c"),
        GenerationRequest(prompt="last", request_id="d"),
    ]
    results = make_model(limit_images=2).generate(requests)

    (engine,) = FakeLLM.instances
    assert len(engine.chat_calls) == 1
    assert [question_of(conversation) for conversation in engine.chat_calls[0][0]] == ["first", "last"]
    assert [(r.request_id, r.text, r.ok) for r in results] == [
        ("a", "echo: first", True),
        ("b", "", False),
        ("c", "", False),
        ("d", "echo: last", True),
    ]
    # the model contract's image loader names the file and the decoder's own error
    error = results[1].error
    assert error.startswith("ImageDecodeError: cannot read image ") and "corrupt.png" in error
    assert "UnidentifiedImageError" in error
    assert results[2].error == (
        "ValueError: the request has 3 images but the engine accepts at most 2 (raise the model param limit_images)"
    )


def test_when_every_request_fails_to_open_vllm_is_not_called(
    stand_in_vllm: types.ModuleType, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    results = make_model().generate([GenerationRequest(prompt="q", images=[corrupt])])
    assert [r.ok for r in results] == [False]
    assert FakeLLM.instances[0].chat_calls == []


def test_per_request_timing_comes_from_vllm_metrics(stand_in_vllm: types.ModuleType) -> None:
    (result,) = make_model().generate([GenerationRequest(prompt="q")])
    # FakeLLM: first token 1 ms after arrival, then 3 ms for the other 3 tokens, in a 20 ms batch.
    assert 0.001 <= result.ttft_s < 0.02
    assert result.latency_s - result.ttft_s == pytest.approx(0.003, abs=1e-9)
    assert result.tpot_s == pytest.approx(0.001, abs=1e-9)


def test_concurrent_batches_take_turns_on_the_engine(stand_in_vllm: types.ModuleType) -> None:
    model = make_model()
    model.load()
    (engine,) = FakeLLM.instances
    in_flight: list[int] = []
    seen_in_flight: list[int] = []
    chat = engine.chat

    def counting_chat(*args: Any, **kwargs: Any) -> list[Any]:
        in_flight.append(1)
        seen_in_flight.append(len(in_flight))
        try:
            return chat(*args, **kwargs)  # takes 20 ms
        finally:
            in_flight.pop()

    engine.chat = counting_chat
    threads = [
        threading.Thread(target=model.generate, args=([GenerationRequest(prompt=str(index))],))
        for index in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen_in_flight == [1, 1, 1, 1]


def test_peak_memory_is_gpu_memory_in_use_not_this_process_allocations(
    stand_in_vllm: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    gib = 1 << 30
    fake_cuda = SimpleNamespace(
        is_available=lambda: True,
        device_count=lambda: 4,
        mem_get_info=lambda device: (10 * gib, 80 * gib),  # (free, total) of each device
        max_memory_allocated=lambda: 1,  # what the contract's default would report
    )
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=fake_cuda))
    (result,) = make_model(tensor_parallel_size=2).generate([GenerationRequest(prompt="q")])
    assert result.peak_memory_bytes == 2 * 70 * gib


def test_gpu_memory_in_use_is_none_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        sys.modules, "torch", SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False))
    )
    assert gpu_memory_in_use_bytes(1) is None


def test_without_vllm_loading_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(
        ModelUnavailableError, match="vllm is not installed; install the vllm extra: uv sync --extra vllm"
    ):
        make_model().generate([GenerationRequest(prompt="q")])


@pytest.mark.requires("vllm")
def test_real_vllm_sampling_params_and_outputs_flow_through(monkeypatch: pytest.MonkeyPatch) -> None:
    import vllm
    from vllm.outputs import CompletionOutput, RequestOutput
    from vllm.v1.metrics.stats import RequestStateStats

    def real_output(text: str, prompt_tokens: int, arrival_time: float) -> RequestOutput:
        stats = RequestStateStats(
            arrival_time=arrival_time, first_token_latency=0.001, first_token_ts=7.0, last_token_ts=7.002
        )
        completion = CompletionOutput(
            index=0,
            text=text,
            token_ids=[5, 6, 7],
            cumulative_logprob=None,
            logprobs=None,
            finish_reason="stop",
        )
        return RequestOutput(
            request_id="0",
            prompt=None,
            prompt_token_ids=list(range(prompt_tokens)),
            prompt_logprobs=None,
            outputs=[completion],
            finished=True,
            metrics=stats,
        )

    monkeypatch.setattr(vllm, "LLM", FakeLLM)  # the device call; everything else is real vllm
    monkeypatch.setattr(FakeLLM, "instances", [])
    monkeypatch.setattr(FakeLLM, "output_factory", staticmethod(real_output))

    requests = [
        GenerationRequest(prompt="one", system_prompt="Be brief.", images=[Image.new("RGB", (8, 8))]),
        GenerationRequest(prompt="two"),
    ]
    results = make_model().generate(requests, GenerationConfig(max_new_tokens=8, temperature=0.5, seed=1))

    (messages, sampling_params, _) = FakeLLM.instances[0].chat_calls[0]
    assert isinstance(sampling_params, vllm.SamplingParams)
    assert (sampling_params.max_tokens, sampling_params.temperature, sampling_params.seed) == (8, 0.5, 1)
    assert [(r.text, r.prompt_tokens, r.output_tokens) for r in results] == [
        ("echo: one", 2, 3),
        ("echo: two", 1, 3),
    ]
    assert all(r.latency_s - r.ttft_s == pytest.approx(0.002, abs=1e-9) for r in results)
