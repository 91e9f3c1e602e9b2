"""The GPU check of a host (bench/gpu_check.sh runs it): four sections, each in its own process under a
deadline, then one summary. A failing section is reported with its error (its traceback is in its log) and
the next one runs.

- discovery: `vlm_pipelines.gpus.discover_gpus` (NVML, else nvidia-smi) beside torch.cuda's own view, and
  one small matrix product on the device.
- hf: the tiny random Qwen2.5-VL (built offline on first use, `model_hf.tiny_qwen`) through model-hf's
  wrapper, per dtype (bf16 and fp32 on CUDA, fp32 on CPU) and batch size (1 and 8 on CUDA, 1 and 2 on CPU):
  one untimed warm-up per (dtype, batch), then `--repeats` timed `generate` calls, the batch sizes
  interleaved; greedy, fixed max_new_tokens, one rendered document page and a question per request.
  - TTFT: the wrapper's time to the batch's first new token (a generate() streamer), preparing the inputs
    (image processing, chat template) included.
  - TPOT: (latency - TTFT) / (decoding steps - 1); a batch decodes in lock-step, so its steps are its
    longest answer.
  - tokens/s: the batch's output tokens / latency. Each figure is the median over the repeats.
  - peak MiB: CUDA memory allocated at the batch's peak, weights included (on CPU: the process's peak RSS).
- service: `vlmbench serve` (the CLI, a real server on 127.0.0.1, with an API key: a request without it
  must get 401) with two tiny models and `--max-loaded 1`: concurrent requests to the first, a streamed
  request to the second (it evicts the first; TTFT is the first streamed text), the first again (evicting
  the second); /v1/models, /health and /metrics checked.
- vllm: model-vllm's wrapper on the tiny checkpoint, where vllm is importable and CUDA is there.

It carries its own environment: the wheels of `gpu_check.sh --prepare` go into a throwaway folder, and a
model package that is not installed goes on PYTHONPATH with its entry points (a `.dist-info` written
into that folder), so the host's torch and transformers are used as they are.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime
import gc
import http.client
import importlib.util
import io
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("discovery", "hf", "service", "vllm")
# The most each section may take; the whole run is also bounded by --budget-s.
SECTION_CAP_S = {"discovery": 90, "hf": 300, "service": 300, "vllm": 300}
TINY_MODEL = "tiny-qwen2.5-vl"
# The model packages the sections use (others are left out: their registries may import what a GPU host
# lacks, model-ocr's rapidfuzz for one).
CHECKED_PACKAGES = ("model-interface", "model-hf", "model-vllm")
# What the model packages and the service import beyond torch and transformers: the carried wheels are
# installed when one is missing (all of them, one consistent set).
SERVICE_MODULES = ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "fastapi",
                   "starlette", "uvicorn", "prometheus_client", "yaml", "psutil")  # fmt: skip
VERSIONS_SHOWN = ("torch", "transformers", "accelerate", "pydantic", "fastapi", "uvicorn", "vllm")
QUESTIONS = [
    "What is the total amount on this invoice?",
    "Who is the seller?",
    "What is the invoice number?",
    "What is the date of the document?",
    "Which currency is used?",
    "How many items are listed?",
    "What is the VAT rate?",
    "Summarize this document in one sentence, please.",
]


class Skipped(Exception):
    """The section does not apply on this host (the reason is the message)."""


class CheckFailed(Exception):
    """The section ran and found something wrong (the message says what)."""


# The sections (each runs in its own process: `gpu_check.py --section NAME`).


def section_discovery(options: argparse.Namespace, figures: dict[str, Any]) -> str:
    from vlm_pipelines.gpus import discover_gpus

    asked_smi = []

    def run_smi(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess:
        asked_smi.append(True)
        return subprocess.run(*args, **kwargs)

    gpus = discover_gpus(run=run_smi)
    if asked_smi:
        source = "nvidia-smi"
    elif gpus:
        source = "NVML"
    else:
        nvml = "no driver" if importlib.util.find_spec("pynvml") else "not installed"
        source = f"neither NVML ({nvml}) nor nvidia-smi (not on PATH)"
    figures["discovered"] = [
        {"index": gpu.index, "uuid": gpu.uuid, "name": gpu.name, "memory_mib": gpu.memory_mib} for gpu in gpus
    ]
    figures["source"] = source

    import torch

    cuda = {
        "available": torch.cuda.is_available(),
        "device_count": torch.cuda.device_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "devices": [],
    }
    figures["torch_cuda"] = cuda
    for index in range(cuda["device_count"]):
        properties = torch.cuda.get_device_properties(index)
        cuda["devices"].append({
            "index": index,
            "name": properties.name,
            "capability": f"{properties.major}.{properties.minor}",
            "memory_mib": properties.total_memory // 2**20,
            "bf16": torch.cuda.is_bf16_supported(),
        })  # fmt: skip
    listed = "; ".join(f"#{g.index} {g.name} {g.memory_mib} MiB {g.uuid}" for g in gpus) or "none"
    seen = ", ".join(f"{d['name']} cc {d['capability']}" for d in cuda["devices"]) or "no device"
    line = f"{len(gpus)} GPU(s) via {source}: {listed}; torch.cuda: {cuda['device_count']} ({seen})"
    if options.device == "cpu":
        return line
    if not gpus:
        raise CheckFailed(f"no GPU found through NVML or nvidia-smi; {line}")
    if not cuda["available"]:
        raise CheckFailed(f"torch.cuda.is_available() is False (torch {torch.__version__}); {line}")
    if cuda["visible_devices"] is None and len(gpus) != cuda["device_count"]:
        raise CheckFailed(f"discovery and torch.cuda disagree on the GPU count; {line}")
    size = 1024
    product = torch.ones(size, size, device="cuda") @ torch.ones(size, size, device="cuda")
    if product[0, 0].item() != size:
        raise CheckFailed(f"a {size}x{size} matrix product of ones on cuda gave {product[0, 0].item()}")
    return line + f"; a {size}x{size} product on cuda is right"


def document_page(question_index: int):
    """A small rendered invoice page (white, black text), the kind of input the benchmark feeds."""
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(page)
    lines = ["INVOICE No 2024-0315", "Seller: ACME Office Supplies", "Date: 2024-03-15",
             f"Items: {question_index + 2}", "VAT 20%", "Total: 1,234.56 EUR"]  # fmt: skip
    for row, text in enumerate(lines):
        draw.text((16, 16 + 34 * row), text, fill="black")
    return page


def document_requests(count: int) -> list:
    from model_interface import GenerationRequest

    return [
        GenerationRequest(prompt=QUESTIONS[i % len(QUESTIONS)], images=[document_page(i)], request_id=f"q{i}")
        for i in range(count)
    ]


def require_cuda(device: str) -> None:
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise CheckFailed(f"torch.cuda.is_available() is False (torch {torch.__version__})")


def batch_figures(dtype: str, batch: int, load_s: float, runs: list[list]) -> dict[str, Any]:
    """One (dtype, batch) row from its timed runs (each a list of the batch's results)."""
    tpots, tokens_per_s = [], []
    for results in runs:
        latency, ttft = results[0].latency_s, results[0].ttft_s  # one stopwatch per batch
        steps = max(result.output_tokens for result in results)
        if steps > 1:
            tpots.append((latency - ttft) / (steps - 1))
        tokens_per_s.append(sum(result.output_tokens for result in results) / latency)
    return {
        "dtype": dtype,
        "batch": batch,
        "load_s": round(load_s, 3),
        "repeats": len(runs),
        "ttft_ms": round(1000 * statistics.median(r[0].ttft_s for r in runs), 2),
        "tpot_ms": round(1000 * statistics.median(tpots), 3) if tpots else None,
        "latency_ms": round(1000 * statistics.median(r[0].latency_s for r in runs), 2),
        "tokens_per_s": round(statistics.median(tokens_per_s), 1),
        "output_tokens": [result.output_tokens for result in runs[-1]],
        "prompt_tokens": [result.prompt_tokens for result in runs[-1]],
        "peak_mib": round(max(r.peak_memory_bytes for results in runs for r in results) / 2**20, 1),
        "answer": runs[-1][0].text[:60],
    }


def section_hf(options: argparse.Namespace, figures: dict[str, Any]) -> str:
    require_cuda(options.device)
    import torch
    from model_hf.tiny_qwen import ensure_tiny_qwen
    from model_interface import GenerationConfig, create_model

    started = time.perf_counter()
    figures["checkpoint"] = str(ensure_tiny_qwen())
    figures["checkpoint_ready_s"] = round(time.perf_counter() - started, 2)
    cuda = options.device == "cuda"
    dtypes = ["bfloat16", "float32"] if cuda else ["float32"]
    batches = [1, 8] if cuda else [1, 2]
    config = GenerationConfig(max_new_tokens=options.max_new_tokens)
    requests = document_requests(max(batches))
    figures.update(max_new_tokens=options.max_new_tokens, repeats=options.repeats, rows=[])
    problems = []
    for dtype in dtypes:
        model = None
        try:
            model = create_model(TINY_MODEL, {"device": options.device, "dtype": dtype})
            started = time.perf_counter()
            model.load()
            load_s = time.perf_counter() - started
            runs: dict[int, list[list]] = {batch: [] for batch in batches}
            for repeat in range(options.repeats + 1):  # the first pass warms up, untimed
                for batch in batches:
                    results = model.generate(requests[:batch], config)
                    failed = [result.error for result in results if not result.ok]
                    if failed:
                        raise CheckFailed(f"{len(failed)} of {batch} requests failed: {failed[0]}")
                    if not all(result.output_tokens > 0 for result in results):
                        raise CheckFailed(
                            f"a request got no output tokens: {[r.output_tokens for r in results]}"
                        )
                    if repeat:
                        runs[batch].append(results)
            figures["rows"] += [batch_figures(dtype, batch, load_s, runs[batch]) for batch in batches]
        except Exception as error:  # noqa: BLE001 - this dtype fails; the next one still runs
            traceback.print_exc()
            problems.append(f"{dtype}: {type(error).__name__}: {error}")
            figures["rows"].append({"dtype": dtype, "error": problems[-1]})
        finally:
            del model
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
    if problems:
        raise CheckFailed("; ".join(problems))
    return (
        f"checkpoint ready in {figures['checkpoint_ready_s']} s; {len(figures['rows'])} (dtype, batch) rows "
        f"on {options.device}, median of {options.repeats}, max_new_tokens {options.max_new_tokens} "
        "(table below)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass(frozen=True)
class Service:
    """A running `vlmbench serve`: its root URL and the API key it was started with."""

    root: str
    api_key: str

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"}


def http_json(
    method: str, url: str, body: dict | None = None, timeout: float = 60, headers: dict | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers=headers or {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    text = raw.decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def chat_body(model: str, question_index: int, max_tokens: int, stream: bool = False) -> dict[str, Any]:
    png = io.BytesIO()
    document_page(question_index).save(png, format="PNG")
    image_url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    return {
        "model": model,
        "max_tokens": max_tokens,
        "stream": stream,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": image_url}},
            {"type": "text", "text": QUESTIONS[question_index % len(QUESTIONS)]},
        ]}],
    }  # fmt: skip


def complete(
    service: Service, model: str, question_index: int, options: argparse.Namespace
) -> dict[str, Any]:
    """One non-streamed completion; raises CheckFailed unless it is a 200 with generated tokens."""
    try:
        status, answer = http_json(
            "POST", f"{service.root}/v1/chat/completions",
            chat_body(model, question_index, options.max_new_tokens),
            timeout=options.request_timeout_s, headers=service.headers(),
        )  # fmt: skip
    except TimeoutError:
        raise CheckFailed(
            f"{model}: no answer within {options.request_timeout_s} s (the service hung)"
        ) from None
    if status != 200:
        raise CheckFailed(f"{model}: HTTP {status}: {str(answer)[:300]}")
    if answer["usage"]["completion_tokens"] < 1:
        raise CheckFailed(f"{model}: a 200 with no completion tokens: {answer}")
    return answer


def stream(service: Service, model: str, options: argparse.Namespace) -> dict[str, Any]:
    """One streamed completion (SSE): time to the first text, the text pieces, the whole time."""
    connection = http.client.HTTPConnection(
        service.root.removeprefix("http://"), timeout=options.request_timeout_s
    )
    body = json.dumps(chat_body(model, 0, options.max_new_tokens, stream=True))
    started = time.perf_counter()
    first_text_s = None
    pieces = []
    try:
        connection.request("POST", "/v1/chat/completions", body, service.headers())
        response = connection.getresponse()
        if response.status != 200:
            raise CheckFailed(f"{model} (streamed): HTTP {response.status}: {response.read()[:300]!r}")
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                break
            event = json.loads(line.removeprefix("data: "))
            if "error" in event:
                raise CheckFailed(f"{model} (streamed): {event['error']}")
            text = event["choices"][0]["delta"].get("content")
            if text:
                first_text_s = first_text_s or time.perf_counter() - started
                pieces.append(text)
    except TimeoutError:
        raise CheckFailed(
            f"{model} (streamed): nothing for {options.request_timeout_s} s (the service hung)"
        ) from None
    finally:
        connection.close()
    if not pieces:
        raise CheckFailed(f"{model} (streamed): no text came")
    return {"ttft_ms": round(1000 * first_text_s, 1), "pieces": len(pieces),
            "seconds": round(time.perf_counter() - started, 3), "text": "".join(pieces)[:60]}  # fmt: skip


def prometheus_samples(text: str, metric: str) -> dict[tuple, float]:
    """The samples of one metric from /metrics, by their sorted label pairs."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric
    }


def loaded_models(service: Service) -> list[str]:
    status, health = http_json("GET", f"{service.root}/health", timeout=30, headers=service.headers())
    if status != 200:
        raise CheckFailed(f"/health: HTTP {status}: {health}")
    return sorted(name for name, state in health["models"].items() if state["loaded"])


def section_service(options: argparse.Namespace, figures: dict[str, Any]) -> str:
    require_cuda(options.device)
    first, second = "tiny-a", "tiny-b"
    cuda = options.device == "cuda"
    work = Path(tempfile.mkdtemp(prefix="gpu-check-service-"))
    (work / "registry" / "models").mkdir(parents=True)
    (work / "registry" / "models" / "gpu-check.yaml").write_text(
        f"- name: {first}\n  model: {TINY_MODEL}\n  params: {{device: {options.device}, "
        f"dtype: {'bfloat16' if cuda else 'float32'}}}\n"
        f"- name: {second}\n  model: {TINY_MODEL}\n  params: {{device: {options.device}, dtype: float32}}\n"
    )
    env = {
        **os.environ,
        "VLMBENCH_REGISTRY_DIR": str(work / "registry"),
        "VLMBENCH_DATA_DIR": str(work / "data"),
        "VLMBENCH_SERVICE_API_KEY": secrets.token_hex(16),
    }
    port = free_port()
    service = Service(f"http://127.0.0.1:{port}", env["VLMBENCH_SERVICE_API_KEY"])
    root = service.root
    command = [sys.executable, "-m", "vlm_pipelines.cli", "serve", "--model", first, "--model", second,
               "--max-loaded", "1", "--max-batch-size", "8",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    server_log = (work / "server.log").open("w+")
    # In this section's process group: a section killed at its deadline takes the server with it.
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        while True:
            if server.poll() is not None:
                server_log.seek(0)
                tail = " | ".join(server_log.read().strip().splitlines()[-2:])
                raise CheckFailed(
                    f"vlmbench serve exited with {server.returncode} before answering: {tail[-400:]}"
                )
            with contextlib.suppress(OSError):
                if http_json("GET", f"{root}/health", timeout=2)[0] == 200:
                    break
            time.sleep(0.3)
        figures["startup_s"] = round(time.perf_counter() - started, 2)
        figures["without_api_key"] = http_json("GET", f"{root}/v1/models", timeout=60)[0]
        if figures["without_api_key"] != 401:
            raise CheckFailed(f"/v1/models without the API key: HTTP {figures['without_api_key']}, not 401")
        status, served = http_json("GET", f"{root}/v1/models", timeout=60, headers=service.headers())
        if status != 200:
            raise CheckFailed(f"/v1/models: HTTP {status}: {served}")
        figures["resolved"] = {item["id"]: item["vlmbench"]["resolved"] for item in served["data"]}
        wrong = {
            name: r.get("device")
            for name, r in figures["resolved"].items()
            if r.get("device") != options.device
        }
        if wrong:
            raise CheckFailed(f"the served models resolved to other devices than {options.device}: {wrong}")

        concurrent = 8 if cuda else 2
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrent) as pool:
            answers = list(pool.map(lambda i: complete(service, first, i, options), range(concurrent)))
        figures["first_model"] = {
            "requests": concurrent, "seconds": round(time.perf_counter() - started, 3),
            "completion_tokens": [a["usage"]["completion_tokens"] for a in answers],
            "text": answers[0]["choices"][0]["message"]["content"][:60],
        }  # fmt: skip
        if loaded_models(service) != [first]:
            raise CheckFailed(f"after {first} answered, loaded: {loaded_models(service)}")
        figures["second_model_streamed"] = stream(service, second, options)  # evicts the first
        if loaded_models(service) != [second]:
            raise CheckFailed(
                f"after {second} answered, loaded: {loaded_models(service)} (expected only {second})"
            )
        started = time.perf_counter()
        again = complete(service, first, 1, options)  # evicts the second
        figures["first_model_again"] = {"seconds": round(time.perf_counter() - started, 3),
                                        "completion_tokens": again["usage"]["completion_tokens"]}  # fmt: skip
        if loaded_models(service) != [first]:
            raise CheckFailed(f"after {first} answered again, loaded: {loaded_models(service)}")

        status, text = http_json("GET", f"{root}/metrics", timeout=30, headers=service.headers())
        evictions = prometheus_samples(text, "vlmbench_service_model_evictions_total")
        figures["evictions"] = {dict(labels)["model"]: value for labels, value in evictions.items()}
        answered = prometheus_samples(text, "vlmbench_service_requests_total")
        figures["requests_200"] = {
            labels["model"]: value
            for labels, value in ((dict(pairs), value) for pairs, value in answered.items())
            if labels["status"] == "200" and labels.get("endpoint") == "/v1/chat/completions"
        }
        if figures["evictions"] != {first: 1.0, second: 1.0}:
            raise CheckFailed(f"/metrics evictions {figures['evictions']}, expected one of each model")
        if figures["requests_200"] != {first: concurrent + 1.0, second: 1.0}:
            raise CheckFailed(f"/metrics counted {figures['requests_200']} answered requests, "
                              f"expected {first}: {concurrent + 1}, {second}: 1")  # fmt: skip
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server_log.seek(0)
        print(f"--- vlmbench serve's output ---\n{server_log.read()}", flush=True)
        server_log.close()
        shutil.rmtree(work, ignore_errors=True)
    streamed = figures["second_model_streamed"]
    return (
        f"up in {figures['startup_s']} s; {first} answered {concurrent} concurrent requests in "
        f"{figures['first_model']['seconds']} s (its load included); {second} streamed "
        f"(TTFT {streamed['ttft_ms']} ms) after evicting {first}; {first} answered again after evicting "
        f"{second}; on {options.device}"
    )


def section_vllm(options: argparse.Namespace, figures: dict[str, Any]) -> str:
    if importlib.util.find_spec("vllm") is None:
        raise Skipped(
            "vllm is not installed here (the project's vllm extra; about 311 MiB, it cannot be carried)"
        )
    if options.device != "cuda":
        raise Skipped(f"vLLM runs on CUDA only (--device {options.device})")
    require_cuda(options.device)
    from model_hf.tiny_qwen import ensure_tiny_qwen
    from model_interface import GenerationConfig, create_model

    figures["vllm"] = metadata.version("vllm")
    model = create_model(
        "qwen2.5-vl-3b-vllm",
        {"model_path": str(ensure_tiny_qwen()), "gpu_memory_utilization": 0.3, "max_model_len": 2048,
         "min_pixels": 56 * 56, "max_pixels": 112 * 112},
    )  # fmt: skip
    started = time.perf_counter()
    model.load()
    figures["load_s"] = round(time.perf_counter() - started, 2)
    config = GenerationConfig(max_new_tokens=options.max_new_tokens)
    requests = document_requests(8)
    walls, tokens, ttfts = [], [], []
    for repeat in range(options.repeats + 1):
        started = time.perf_counter()
        results = model.generate(requests, config)
        wall = time.perf_counter() - started
        failed = [result.error for result in results if not result.ok]
        if failed:
            raise CheckFailed(f"{len(failed)} of {len(requests)} requests failed: {failed[0]}")
        if repeat:
            walls.append(wall)
            tokens.append(sum(result.output_tokens for result in results))
            ttfts.append(statistics.median(result.ttft_s for result in results))
    figures.update(
        batch=len(requests), wall_ms=round(1000 * statistics.median(walls), 2),
        tokens_per_s=round(statistics.median(t / w for t, w in zip(tokens, walls, strict=True)), 1),
        ttft_ms=round(1000 * statistics.median(ttfts), 2), output_tokens=statistics.median(tokens),
    )  # fmt: skip
    return (
        f"vllm {figures['vllm']}: loaded in {figures['load_s']} s; batch 8: {figures['wall_ms']} ms, "
        f"{figures['tokens_per_s']} tokens/s, median TTFT {figures['ttft_ms']} ms"
    )


SECTION_FUNCTIONS = {
    "discovery": section_discovery,
    "hf": section_hf,
    "service": section_service,
    "vllm": section_vllm,
}


def run_section_here(options: argparse.Namespace) -> int:
    """`--section NAME`: runs one section in this process and writes its result to `--result`."""
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    result: dict[str, Any] = {"name": options.section, "figures": figures}
    try:
        result.update(status="ok", detail=SECTION_FUNCTIONS[options.section](options, figures))
    except Skipped as reason:
        result.update(status="skipped", detail=str(reason))
    except Exception as error:  # noqa: BLE001 - the summary reports it; the traceback goes to the log
        traceback.print_exc()
        message = f"{type(error).__name__}: {error}" if not isinstance(error, CheckFailed) else str(error)
        if isinstance(error, ModuleNotFoundError):
            message += " (run bench/gpu_check.sh --prepare where PyPI is reachable, and carry .whl/gpu-check)"
        result.update(status="failed", detail=message)
    result["seconds"] = round(time.perf_counter() - started, 2)
    Path(options.result).write_text(json.dumps(result, default=str))
    return 0


# The run: environment, sections in their own processes, summary.


def write_dist_info(site: Path, project: dict[str, Any]) -> None:
    """The installed-package metadata of a package on PYTHONPATH: its name, version and entry points (what
    `importlib.metadata` reads to find the model packages)."""
    name = project["name"]
    folder = site / f"{name.replace('-', '_')}-{project['version']}.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {project['version']}\n")
    groups = project.get("entry-points", {})
    (folder / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
            for group, points in groups.items()
        )
    )


def prepare_environment(wheels: Path, site: Path) -> tuple[dict[str, str], list[str]]:
    """The sections' environment: the carried wheels installed into `site` where something they hold is
    missing, and each checked model package that is not installed put on PYTHONPATH with its metadata.
    Returns (environment, notes for the summary)."""
    notes = []
    found = sorted(wheels.glob("*.whl")) if wheels.is_dir() else []
    missing = [name for name in SERVICE_MODULES if importlib.util.find_spec(name) is None]
    if missing and not found:
        notes.append(
            f"missing here: {', '.join(missing)}; run bench/gpu_check.sh --prepare and carry {wheels}"
        )
    if missing and found:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
             "--no-cache-dir", "--disable-pip-version-check", "--target", str(site), *map(str, found)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode:
            notes.append(f"installing {wheels} failed: {(done.stderr or done.stdout).strip()[-500:]}")
        else:
            notes.append(f"{len(found)} wheels from {wheels} installed into a throwaway folder")
    paths = [str(site)]
    carried = []
    for package in CHECKED_PACKAGES:
        pyproject = REPO_ROOT / "model_packages" / package / "pyproject.toml"
        project = tomllib.loads(pyproject.read_text())["project"]
        try:
            metadata.distribution(project["name"])
            continue  # installed (a venv of this checkout)
        except metadata.PackageNotFoundError:
            pass
        write_dist_info(site, project)
        paths.append(str(pyproject.parent / "src"))
        carried.append(project["name"])
    if carried:
        notes.append(f"model packages from this checkout on PYTHONPATH: {', '.join(carried)}")
    paths.append(str(REPO_ROOT))
    sys.path[:0] = paths  # so that the versions in the summary are the ones the sections see
    previous = os.environ.get("PYTHONPATH")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths + ([previous] if previous else [])),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_VERBOSITY": "error",
    }
    return env, notes


def run_section(
    name: str, options: argparse.Namespace, env: dict[str, str], log_dir: Path, timeout_s: float
) -> dict[str, Any]:
    """Runs one section in its own process group, killed (with anything it started) at `timeout_s`."""
    result_file = log_dir / f".{name}.result.json"
    log_path = log_dir / f"{name}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--section", name, "--device", options.device,
               "--result", str(result_file), "--repeats", str(options.repeats),
               "--max-new-tokens", str(options.max_new_tokens),
               "--request-timeout-s", str(options.request_timeout_s)]  # fmt: skip
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # a server the section left behind
    seconds = round(time.perf_counter() - started, 2)
    if result_file.is_file():
        result = json.loads(result_file.read_text())
        result_file.unlink()
    else:
        tail = " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-3:])
        why = (
            f"no result within {timeout_s:.0f} s"
            if seconds >= timeout_s
            else f"exited with {process.returncode}"
        )
        result = {
            "name": name,
            "status": "failed",
            "detail": f"{why}; log ends: {tail[-400:]}",
            "figures": {},
        }
    result.update(seconds=seconds, log=str(log_path))
    return result


def installed_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONS_SHOWN:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def format_summary(summary: dict[str, Any]) -> str:
    versions = ", ".join(f"{name} {version}" for name, version in summary["versions"].items())
    lines = [
        f"vlmbench GPU check on {summary['host']}, --device {summary['device']}, {summary['started_at']}",
        f"Python {summary['python']}; {versions}",
        *(f"note: {note}" for note in summary["notes"]),
        "",
        f"{'section':<10} {'status':<8} {'seconds':>8}  details",
    ]
    for section in summary["sections"]:
        lines.append(
            f"{section['name']:<10} {section['status']:<8} {section['seconds']:>8.1f}  {section['detail']}"
        )
    hf = next((s for s in summary["sections"] if s["name"] == "hf"), None)
    rows = (hf or {}).get("figures", {}).get("rows", [])
    if rows:
        figures = hf["figures"]
        lines += [
            "",
            "HF path: tiny random Qwen2.5-VL through model-hf, greedy, "
            f"max_new_tokens {figures['max_new_tokens']}, median of {figures['repeats']} after one warm-up",
            f"{'dtype':<9} {'batch':>5} {'TTFT ms':>9} {'TPOT ms':>9} {'tokens/s':>9} {'peak MiB':>9}  "
            "output tokens",
        ]
        for row in rows:
            if "error" in row:
                lines.append(f"{row['dtype']:<9} failed: {row['error']}")
                continue
            tpot = "-" if row["tpot_ms"] is None else f"{row['tpot_ms']:.2f}"
            lines.append(
                f"{row['dtype']:<9} {row['batch']:>5} {row['ttft_ms']:>9.1f} {tpot:>9} "
                f"{row['tokens_per_s']:>9.1f} "
                f"{row['peak_mib']:>9.1f}  {row['output_tokens']}"
            )
    counts = summary["counts"]
    lines += ["", f"result: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed "
              f"in {summary['seconds']:.0f} s (logs in {summary['log_dir']})"]  # fmt: skip
    return "\n".join(lines)


def run_check(options: argparse.Namespace) -> int:
    started = time.monotonic()
    deadline = started + options.budget_s
    started_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    names = [name.strip() for name in options.sections.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        print(
            f"gpu_check: error: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}",
            file=sys.stderr,
        )
        return 2
    log_dir = Path(options.log_dir or tempfile.mkdtemp(prefix="gpu-check-logs-")).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-site-") as site:
        env, notes = prepare_environment(Path(options.wheels), Path(site))
        results = []
        for name in names:
            left = deadline - time.monotonic()
            if left < 5:
                reason = f"out of the time budget (--budget-s {options.budget_s:.0f})"
                results.append(
                    {"name": name, "status": "skipped", "seconds": 0.0, "figures": {}, "detail": reason}
                )
            else:
                print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
                results.append(run_section(name, options, env, log_dir, min(SECTION_CAP_S[name], left)))
            print(
                f"gpu_check: {name} {results[-1]['status']} ({results[-1]['seconds']} s)",
                file=sys.stderr,
                flush=True,
            )
        versions = installed_versions()
    summary = {
        "host": platform.node(),
        "device": options.device,
        "started_at": started_at,
        "python": platform.python_version(),
        "versions": versions,
        "notes": notes,
        "budget_s": options.budget_s,
        "seconds": round(time.monotonic() - started, 1),
        "log_dir": str(log_dir),
        "sections": results,
        "counts": {
            status: sum(r["status"] == status for r in results) for status in ("ok", "skipped", "failed")
        },
    }
    print(format_summary(summary), flush=True)
    if options.json:
        Path(options.json).write_text(json.dumps(summary, indent=2, default=str))
    return 1 if summary["counts"]["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cuda (default): the real check; cpu: the same sections on CPU (fp32, "
                        "small batches)")  # fmt: skip
    parser.add_argument("--budget-s", type=float, default=420, help="the whole run's limit (default 420 s)")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--json", help="also write the summary as JSON to this file")
    parser.add_argument("--log-dir", help="where each section's log goes (default: a new temporary folder)")
    parser.add_argument("--wheels", default=str(REPO_ROOT / ".whl" / "gpu-check"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help="timed passes per figure (default 5 on cuda, 2 on cpu)")
    parser.add_argument("--max-new-tokens", type=int, help="tokens per answer (default 32 on cuda, 8 on cpu)")
    parser.add_argument("--request-timeout-s", type=float, default=60, help="bounds a hung service request")
    parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    cuda = options.device == "cuda"
    options.repeats = options.repeats or (5 if cuda else 2)
    options.max_new_tokens = options.max_new_tokens or (32 if cuda else 8)
    if options.section:
        return run_section_here(options)
    return run_check(options)


if __name__ == "__main__":
    sys.exit(main())
