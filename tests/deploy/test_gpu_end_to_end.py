"""On a CUDA host (skipped elsewhere, and under CI without a GPU): the GPUs are discovered as the launcher
will see them, and the model service answers on the GPU. The tiny random Qwen2.5-VL needs no hub.

    uv run pytest -m gpu tests/deploy/test_gpu_end_to_end.py
"""

from __future__ import annotations

import httpx
import pytest
from model_interface import GenerationConfig, GenerationRequest, get_spec
from PIL import Image

from tests.service.conftest import running_service
from vlm_pipelines.gpus import discover_gpus

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def test_the_gpus_are_discovered_with_their_uuids() -> None:
    gpus = discover_gpus()
    assert gpus and all(gpu.uuid.startswith(("GPU-", "MIG-")) and gpu.memory_mib > 0 for gpu in gpus)
    assert [gpu.index for gpu in gpus] == list(range(len(gpus)))


def test_the_service_answers_on_the_gpu_with_the_tiny_qwen() -> None:
    args = ["--model", "tiny-qwen2.5-vl", "--model-param", "device=cuda"]
    with running_service(args, timeout_s=300) as base_url:
        (served,) = httpx.get(f"{base_url}/models", timeout=60).json()["data"]
        assert served["vlmbench"]["resolved"]["device"] == "cuda"
        model = get_spec("openai-compatible").create(
            {"base_url": base_url, "served_model": "tiny-qwen2.5-vl"}
        )
        requests = [GenerationRequest(prompt="What is written here?", images=[Image.new("RGB", (224, 224), "white")])
                    for _ in range(4)]  # fmt: skip
        results = model.generate(requests, GenerationConfig(max_new_tokens=8))
        assert all(result.ok and result.output_tokens > 0 for result in results), [r.error for r in results]
        metrics = httpx.get(base_url.removesuffix("/v1") + "/metrics", timeout=30).text
        assert (
            'vlmbench_service_requests_total{endpoint="/v1/chat/completions",model="tiny-qwen2.5-vl",status="200"} 4.0'
            in metrics
        )
