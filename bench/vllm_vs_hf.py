"""vLLM against transformers throughput on one GPU: the same Qwen2.5-VL checkpoint, the same rendered
document questions, greedy decoding, fixed max_new_tokens. Needs CUDA and the vllm extra; on a CPU machine
it says so and exits 2.

    uv run --frozen --extra vllm python bench/vllm_vs_hf.py --model-path /models/Qwen2.5-VL-3B-Instruct \
        [--samples 64] [--batch-size 16] [--max-new-tokens 32] [--repeats 3]
    uv run --frozen --extra vllm python bench/vllm_vs_hf.py --tiny     # the tiny random Qwen2.5-VL (no hub)

Method: the task `synth_vqa_en` renders `--samples` questions over synthetic documents (seeded, so both
engines see identical images and prompts). Each engine loads once (load time reported apart), answers
one untimed warm-up batch, then `--repeats` timed passes over all samples: transformers in batches of
`--batch-size` (model-hf, left padding, sdpa), vLLM with the whole list in one `LLM.chat` call
(model-vllm; continuous batching). Reported: samples/s and output tokens/s (medians), the vLLM/HF
ratio, and the share of samples whose greedy answers agree exactly (different kernels may differ in the
last digits and so in a token now and then; the rate says how often).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def requests_for(samples: int):
    from model_interface import GenerationRequest

    from vlm_pipelines.evaluation import default_paths, prepare_dataset, prompted_samples, select
    from vlm_pipelines.tasks import load_task_registry

    task = load_task_registry()["synth_vqa_en"]
    paths = default_paths()
    prepare_dataset(task, paths)
    prompted, _ = prompted_samples(task, select(task, paths, samples)[1])
    return [GenerationRequest(prompt=row["prompt"], images=list(row["image_paths"]), request_id=row["sample_id"])
            for row in prompted.head(samples).iter_rows(named=True)]  # fmt: skip


def timed(model, requests, config, batch_size: int | None, repeats: int):
    batches = (
        [requests]
        if batch_size is None
        else [requests[i : i + batch_size] for i in range(0, len(requests), batch_size)]
    )
    model.generate(batches[0][: batch_size or 8], config)  # warm-up
    walls, tokens, texts = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        results = [result for batch in batches for result in model.generate(batch, config)]
        walls.append(time.perf_counter() - started)
        tokens.append(sum(result.output_tokens for result in results))
        texts = [result.text for result in results]
    return statistics.median(walls), statistics.median(tokens), texts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-path")
    parser.add_argument(
        "--tiny", action="store_true", help="the tiny random Qwen2.5-VL (exercises the code path)"
    )
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("vllm_vs_hf: needs a CUDA GPU (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    from model_hf.tiny_qwen import ensure_tiny_qwen
    from model_interface import GenerationConfig, create_model

    path = str(ensure_tiny_qwen()) if args.tiny else args.model_path
    if not path:
        parser.error("give --model-path or --tiny")
    requests = requests_for(args.samples)
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)
    rows = {}
    for engine, model_id, params, batch in (
        (
            "transformers",
            "qwen2.5-vl-3b",
            {"model_path": path, "device": "cuda", "dtype": "bfloat16"},
            args.batch_size,
        ),
        ("vllm", "qwen2.5-vl-3b-vllm", {"model_path": path, "gpu_memory_utilization": 0.8}, None),
    ):
        model = create_model(model_id, params)
        started = time.perf_counter()
        model.load()
        load_s = time.perf_counter() - started
        wall, tokens, texts = timed(model, requests, config, batch, args.repeats)
        rows[engine] = (load_s, wall, tokens, texts)
        print(
            f"{engine}: load {load_s:.1f} s, {len(requests) / wall:.2f} samples/s, {tokens / wall:.0f} tokens/s",
            flush=True,
        )
        del model
        gc.collect()
        torch.cuda.empty_cache()
    hf, vl = rows["transformers"], rows["vllm"]
    agree = sum(a == b for a, b in zip(hf[3], vl[3], strict=True)) / len(requests)
    print(
        f"\n{len(requests)} samples, max_new_tokens {args.max_new_tokens}, HF batch {args.batch_size}, "
        f"{args.repeats} repeats, {torch.cuda.get_device_name(0)}\n"
        "| engine | load s | samples/s | output tokens/s |\n| :--- | ---: | ---: | ---: |\n"
        + "".join(
            f"| {name} | {row[0]:.1f} | {len(requests) / row[1]:.2f} | {row[2] / row[1]:.0f} |\n"
            for name, row in rows.items()
        )
        + f"\nratio vLLM / HF (samples/s): {hf[1] / vl[1]:.2f}; identical greedy answers: {agree:.0%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
