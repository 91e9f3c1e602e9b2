"""The model service's overhead: `smollm2-135m` answering the same prompts in process (model-hf) and through
`vlmbench serve` + the OpenAI client model (HTTP, JSON, the batcher), on this machine.

Both sides run greedy decoding with the same batch size: in process, `generate()` on batches of
`--batch-size`; served, the client sends each batch as concurrent requests and the service batches what
arrives together (`--max-wait-ms`). Repeats alternate the two sides, so machine load hits both alike;
medians are reported with the ratio served / in process. The answers must be equal, or the script fails.

    uv run --frozen python bench/service_overhead.py [--repeats 5] [--max-new-tokens 16] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from model_interface import GenerationConfig, GenerationRequest, create_model
from smollm2_batch import DOCUMENTS

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed_batches(model, requests, config, batch_size) -> tuple[float, list[str]]:
    started = time.perf_counter()
    texts = []
    for start in range(0, len(requests), batch_size):
        results = model.generate(requests[start : start + batch_size], config)
        if any(result.error for result in results):
            raise SystemExit(f"a request failed: {[result.error for result in results if result.error][0]}")
        texts += [result.text for result in results]
    return time.perf_counter() - started, texts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=20.0)
    args = parser.parse_args()

    requests = [
        GenerationRequest(prompt=f"{document}\n\nQuestion: {question}") for document, question in DOCUMENTS
    ]
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "vlm_pipelines.cli", "serve", "--model", "smollm2-135m", "--port", str(port),
         "--max-batch-size", str(args.batch_size), "--max-wait-ms", str(args.max_wait_ms)],
        cwd=REPO_ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        local = create_model("smollm2-135m")
        local.load()
        base_url = f"http://127.0.0.1:{port}/v1"
        for _ in range(120):
            try:
                if httpx.get(f"{base_url.removesuffix('/v1')}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        client = create_model(
            "openai-compatible",
            {"base_url": base_url, "served_model": "smollm2-135m", "max_concurrency": args.batch_size},
        )
        timed_batches(local, requests, config, args.batch_size)  # warm-up (not timed)
        timed_batches(client, requests, config, args.batch_size)  # warm-up: the service loads its model
        in_process, served = [], []
        for repeat in range(args.repeats):
            seconds, local_texts = timed_batches(local, requests, config, args.batch_size)
            in_process.append(seconds)
            seconds, served_texts = timed_batches(client, requests, config, args.batch_size)
            served.append(seconds)
            if served_texts != local_texts:
                raise SystemExit(f"repeat {repeat}: served answers differ from in-process answers")
            print(
                f"repeat {repeat + 1}: in process {in_process[-1]:.2f} s, served {served[-1]:.2f} s",
                flush=True,
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    local_median, served_median = statistics.median(in_process), statistics.median(served)
    print(
        f"\n{len(requests)} prompts, max_new_tokens {args.max_new_tokens}, batch {args.batch_size}, "
        f"{args.repeats} repeats; answers equal in every repeat\n"
        f"| side | median s | requests/s |\n| :--- | ---: | ---: |\n"
        f"| in process (model-hf) | {local_median:.2f} | {len(requests) / local_median:.2f} |\n"
        f"| served (vlmbench serve + openai-compatible) | {served_median:.2f} | {len(requests) / served_median:.2f} |\n"
        f"\nratio served / in process: {served_median / local_median:.3f} "
        f"(overhead {(served_median - local_median) / len(requests) * 1000:.0f} ms per request)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
