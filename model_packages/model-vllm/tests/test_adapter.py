"""VLLMModel around vLLM's async engine, with the engine replaced: `model_vllm.stand_in.StandInEngine`
answers each conversation with an echo of its question, word by word, instead of running a model on a
GPU (none here, so the GPU check is switched off where the engine is stood in). The adapter's own event
loop, its request handling, cancellation and timing run for real.

Two ways: with a stand-in `vllm` module (runs anywhere), and with the real vllm where only
`AsyncLLMEngine` is replaced, so real `AsyncEngineArgs`, `SamplingParams` and `RequestOutput` flow through.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from model_interface import GenerationConfig, GenerationRequest, ModelUnavailableError
from model_vllm import adapter
from model_vllm.adapter import VLLMModel, gpu_memory_in_use_bytes
from model_vllm.params import VLLMParams
from model_vllm.stand_in import StandInEngine, stand_in_vllm
from PIL import Image

MADE: list[VLLMModel] = []


@pytest.fixture
def engine_stood_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, module in stand_in_vllm().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(StandInEngine, "instances", [])
    monkeypatch.setattr(adapter, "gpu_problem", lambda tensor_parallel_size: None)  # no GPU here
    yield
    while MADE:
        MADE.pop().close()  # stops each model's engine loop thread


def make_model(**params: Any) -> VLLMModel:
    model = VLLMModel("qwen-test-vllm", "0.1.0", VLLMParams(model_path="/models/qwen", **params))
    MADE.append(model)
    return model


def test_nothing_starts_until_the_first_generate_and_the_engine_is_kept(engine_stood_in: None) -> None:
    model = make_model()
    assert not model.is_loaded and StandInEngine.instances == []
    model.generate([GenerationRequest(prompt="q")])
    model.generate([GenerationRequest(prompt="q")])
    (engine,) = StandInEngine.instances
    assert engine.args.kwargs["model"] == "/models/qwen" and engine.args.kwargs["disable_log_stats"] is True
    model.close()
    assert engine.shut_down and not model.is_loaded


def test_a_batch_goes_to_the_engine_at_once_and_results_keep_request_order(
    engine_stood_in: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each request waits in the engine until all three are there (an event, not timing): sent one by one,
    # they would never meet, and the engine fails them after its deadline.
    monkeypatch.setattr(StandInEngine, "hold_until_running", 3)
    model = make_model()
    requests = [
        GenerationRequest(
            prompt=f"question {index}", images=[Image.new("RGB", (8, 8))], request_id=str(index)
        )
        for index in range(3)
    ]
    config = GenerationConfig(max_new_tokens=16, stop=("\n",), seed=5)
    results = model.generate(requests, config)

    (engine,) = StandInEngine.instances
    assert engine.most_running == 3  # all three were in the engine together (continuous batching)
    assert [(r.request_id, r.text, r.output_tokens, r.prompt_tokens) for r in results] == [
        ("0", "echo: question 0", 3, 1),
        ("1", "echo: question 1", 3, 1),
        ("2", "echo: question 2", 3, 1),
    ]
    assert all(r.ok and r.model_id == "qwen-test-vllm" and 0 < r.ttft_s <= r.latency_s for r in results)
    assert len(set(engine.started)) == 3 and all(rid.startswith(("0-", "1-", "2-")) for rid in engine.started)


def test_sampling_and_rendering_settings_reach_the_engine(engine_stood_in: None) -> None:
    model = make_model()
    model.load()
    (engine,) = StandInEngine.instances
    prompts: list[Any] = []
    generate = engine.generate

    def recording_generate(prompt: Any, sampling_params: Any, request_id: str) -> Any:
        prompts.append((prompt, sampling_params.kwargs))
        return generate(prompt, sampling_params, request_id)

    engine.generate = recording_generate
    model.generate(
        [GenerationRequest(prompt="q", system_prompt="Be brief.")], GenerationConfig(max_new_tokens=2)
    )
    ((prompt, sampling),) = prompts
    assert sampling == {"max_tokens": 2, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": []}
    assert prompt["conversation"][0] == {"role": "system", "content": "Be brief."}
    assert prompt["tokenize"] == {"add_special_tokens": False}  # the chat template writes BOS/EOS
    assert prompt["chat_params"].kwargs["chat_template_kwargs"]["add_generation_prompt"] is True


def test_a_bad_image_fails_its_request_and_the_rest_are_answered(
    engine_stood_in: None, tmp_path: Path
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

    (engine,) = StandInEngine.instances
    assert len(engine.started) == 2
    assert [(r.request_id, r.text, r.ok) for r in results] == [
        ("a", "echo: first", True),
        ("b", "", False),
        ("c", "", False),
        ("d", "echo: last", True),
    ]
    error = results[1].error
    assert error.startswith("ImageDecodeError: cannot read image ") and "corrupt.png" in error
    assert results[2].error == (
        "ValueError: the request has 3 images but the engine accepts at most 2 (raise the model param limit_images)"
    )


def test_streaming_yields_the_pieces_and_stopping_early_aborts_the_request(
    engine_stood_in: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model()
    pieces = list(model.stream(GenerationRequest(prompt="one two"), GenerationConfig(max_new_tokens=8)))
    assert pieces == ["echo:", " one", " two"]

    monkeypatch.setattr(StandInEngine, "token_interval_s", 0.01)  # a long answer, paced
    stream = model.stream(GenerationRequest(prompt="long"), GenerationConfig(max_new_tokens=10000))
    assert next(stream) == "echo:"
    stream.close()  # the consumer stopped reading
    (engine,) = StandInEngine.instances
    assert engine.abort_seen.wait(30) and engine.aborted == [engine.started[-1]]


def test_cancelling_agenerate_from_another_loop_aborts_the_request(
    engine_stood_in: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StandInEngine, "token_interval_s", 0.01)
    model = make_model()
    model.load()
    (engine,) = StandInEngine.instances

    async def leave_after_the_first_token() -> None:
        task = asyncio.create_task(
            model.agenerate(GenerationRequest(prompt="q"), GenerationConfig(max_new_tokens=10000))
        )
        await asyncio.to_thread(engine.first_token.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(leave_after_the_first_token())
    assert engine.abort_seen.wait(30) and engine.aborted == engine.started
    assert not engine.running  # the engine holds nothing for a caller that left


def test_astream_from_another_loop_yields_the_pieces(engine_stood_in: None) -> None:
    model = make_model()

    async def read() -> list[str]:
        return [piece async for piece in model.astream(GenerationRequest(prompt="a b"), GenerationConfig())]

    assert asyncio.run(read()) == ["echo:", " a", " b"]


def test_without_a_gpu_loading_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has a CUDA GPU")
    for name, module in stand_in_vllm().items():
        monkeypatch.setitem(sys.modules, name, module)
    with pytest.raises(
        ModelUnavailableError, match=r"^qwen-test-vllm: vLLM needs a CUDA GPU; none was found$"
    ):
        make_model().load()


def test_peak_memory_is_gpu_memory_in_use_not_this_process_allocations(
    engine_stood_in: None, monkeypatch: pytest.MonkeyPatch
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
def test_real_vllm_args_sampling_params_and_outputs_flow_through(monkeypatch: pytest.MonkeyPatch) -> None:
    import vllm
    from vllm.outputs import CompletionOutput, RequestOutput

    def real_output(request_id: str, text: str, token_ids: list[int], prompt_tokens: int, finished: bool):
        completion = CompletionOutput(
            index=0, text=text, token_ids=token_ids, cumulative_logprob=None, logprobs=None,
            finish_reason="stop" if finished else None,
        )  # fmt: skip
        return RequestOutput(
            request_id=request_id, prompt=None, prompt_token_ids=list(range(prompt_tokens)),
            prompt_logprobs=None, outputs=[completion], finished=finished,
        )  # fmt: skip

    sampling: list[Any] = []

    class RecordingEngine(StandInEngine):  # the device call; everything else is real vllm
        def generate(self, prompt: Any, sampling_params: Any, request_id: str) -> Any:
            sampling.append(sampling_params)
            return super().generate(prompt, sampling_params, request_id)

    # The stand-in renderer hands the conversation through; the real one is tested in test_vllm_rendering.
    monkeypatch.setattr(vllm, "AsyncLLMEngine", RecordingEngine)
    monkeypatch.setattr(RecordingEngine, "instances", [])
    monkeypatch.setattr(RecordingEngine, "make_output", staticmethod(real_output))
    monkeypatch.setattr(adapter, "gpu_problem", lambda tensor_parallel_size: None)  # no GPU here

    requests = [
        GenerationRequest(prompt="one", system_prompt="Be brief.", images=[Image.new("RGB", (8, 8))]),
        GenerationRequest(prompt="two"),
    ]
    model = make_model()
    results = model.generate(requests, GenerationConfig(max_new_tokens=8, temperature=0.5, seed=1))

    (engine,) = RecordingEngine.instances
    assert isinstance(engine.args, vllm.AsyncEngineArgs) and engine.args.model == "/models/qwen"
    assert engine.args.limit_mm_per_prompt == {"image": 4, "video": 0}
    assert all(isinstance(params, vllm.SamplingParams) for params in sampling)
    assert [(p.max_tokens, p.temperature, p.seed) for p in sampling] == [(8, 0.5, 1)] * 2
    assert [(r.text, r.prompt_tokens, r.output_tokens) for r in results] == [
        ("echo: one", 2, 2),
        ("echo: two", 1, 2),
    ]
    model.close()


def test_concurrent_callers_share_the_engine(engine_stood_in: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads calling `generate` at once (a pipeline run and the chat UI) are batched together."""
    monkeypatch.setattr(StandInEngine, "hold_until_running", 4)  # each request waits until 4 run at once
    model = make_model()
    model.load()
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.extend(model.generate([GenerationRequest(prompt=str(i))]))
        )
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(result.text for result in results) == [f"echo: {i}" for i in range(4)]
    assert StandInEngine.instances[0].most_running == 4
