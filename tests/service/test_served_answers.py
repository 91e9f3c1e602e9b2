"""`vlmbench serve` for real: SmolLM2 served on 127.0.0.1, evaluated through the OpenAI client model by
`vlmbench run`; with greedy decoding its answers equal those of in-process generation."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import polars as pl
import pytest
import yaml
from model_interface import GenerationRequest, get_spec
from PIL import Image

from tests.pipeline.conftest import REPO_ROOT, run_vlmbench
from tests.service.conftest import running_service

pytestmark = pytest.mark.slow

QUESTIONS = [
    ("What is the capital of France?", "Paris", "France is a country in Europe. Its capital is Paris."),
    ("Who signed the contract?", "Anna Petrova", "The contract was signed by Anna Petrova on 3 May."),
    (
        "What is the total amount?",
        "1,250.00 EUR",
        "Subtotal 1,000.00 EUR, tax 250.00 EUR, total 1,250.00 EUR.",
    ),
    ("Which city is the office in?", "Riverside", "Our office is located in Riverside, at 12 Oak Street."),
    ("What is the warranty period?", "two years", "The ZX-900 pump comes with a warranty of two years."),
    ("What is the passport number?", "K1234567", "Passport number: K1234567. Issued 2019."),
    ("When is the invoice due?", "30 June 2026", "Payment due date: 30 June 2026."),
    ("How many pages does the form have?", "3", "This form has 3 pages."),
]
TASK = "service_text_qa"


def _registry(folder: Path) -> Path:
    """The repo's model registry plus one text task over QUESTIONS (answered from their context)."""
    shutil.copytree(REPO_ROOT / "registry" / "models", folder / "models")
    data = folder / "data" / TASK
    data.mkdir(parents=True)
    rows = [{"id": f"q{i}", "question": q, "answers": [a], "context": c, "doc_type": "note"}
            for i, (q, a, c) in enumerate(QUESTIONS)]  # fmt: skip
    (data / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (folder / "tasks").mkdir()
    task = {
        "name": TASK,
        "dataset": {"path": str(data / "manifest.jsonl"), "format": "jsonl_manifest"},
        "prompt": {"strategy": "template", "template": "{{ metadata.context }}\n\nQuestion: {{ question }}"},
        "generation": {"max_new_tokens": 24},
        "metrics": ["anls", "exact_match"],
    }
    (folder / "tasks" / f"{TASK}.yaml").write_text(yaml.safe_dump(task), encoding="utf-8")
    return folder


def _answers(data_dir: Path, model_name: str) -> dict[str, str]:
    # `--model-param` makes an entry of its own, `<model>-<8 hex>`
    (folder,) = [
        path
        for path in (data_dir / "predictions").iterdir()
        if re.fullmatch(rf"{model_name}(-[0-9a-f]{{8}})?", path.name)
    ]
    files = sorted((folder / TASK).glob("*.parquet"))
    table = pl.concat([pl.read_parquet(file) for file in files])
    assert table["error"].null_count() == table.height, table["error"].to_list()
    return dict(zip(table["sample_id"], table["text"], strict=True))


def _metric(text: str, line_start: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(line.rsplit(" ", 1)[1])


def test_served_smollm2_answers_as_in_process(
    tmp_path: Path,
    project_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    registry = _registry(tmp_path / "registry")
    monkeypatch.setenv("VLMBENCH_REGISTRY_DIR", str(registry))
    env = {**project_env, "VLMBENCH_REGISTRY_DIR": str(registry)}
    data_dir = Path(project_env["VLMBENCH_DATA_DIR"])

    code, out, err = run_vlmbench(["run", "--model", "smollm2-135m", "--task", TASK], capsys)
    assert code == 0, err
    in_process = _answers(data_dir, "smollm2-135m")

    with running_service(["--model", "smollm2-135m", "--max-wait-ms", "100"], env=env) as base_url:
        params = {"base_url": base_url, "served_model": "smollm2-135m"}
        code, out, err = run_vlmbench(
            ["run", "--model", "openai-compatible", "--task", TASK,
             *(f"--model-param={key}={value}" for key, value in params.items())], capsys,
        )  # fmt: skip
        assert code == 0, err
        served = _answers(data_dir, "openai-compatible")
        assert len(served) == len(QUESTIONS)
        assert served == in_process  # greedy: the same text for every sample

        # The result is keyed by what answered: the endpoint, its version, and the wrapper behind it.
        settings = get_spec("openai-compatible").resolution(params).settings
        assert settings["endpoint version"].startswith("vlmbench ")
        assert settings["served by"].startswith("smollm2-135m (model-hf ")
        assert settings["served device"] == "cpu"
        assert f"endpoint {base_url}" in out and "served model smollm2-135m" in out

        # Requests that arrived together were batched; every request and token was counted.
        metrics = httpx.get(base_url.removesuffix("/v1") + "/metrics").text
        labels = 'endpoint="/v1/chat/completions",model="smollm2-135m",status="200"'
        assert _metric(metrics, f"vlmbench_service_requests_total{{{labels}}}") == len(QUESTIONS)
        batches = _metric(metrics, 'vlmbench_service_batch_size_count{model="smollm2-135m"}')
        assert 1 <= batches < len(QUESTIONS)
        assert _metric(metrics, 'vlmbench_service_tokens_total{kind="completion",model="smollm2-135m"}') > 0

        # Streaming gives the same text, piece by piece, and its TTFT is recorded.
        question, _, context = QUESTIONS[0]
        prompt = f"{context}\n\nQuestion: {question}"
        model = get_spec("openai-compatible").create({**params, "stream": True})
        pieces = list(model.stream(GenerationRequest(prompt=prompt), _task_generation()))
        assert len(pieces) > 1 and "".join(pieces) == in_process[_sample_id(data_dir, question)]
        (streamed,) = model.generate([GenerationRequest(prompt=prompt)], _task_generation())
        assert streamed.text == "".join(pieces) and 0 < streamed.ttft_s < streamed.latency_s

        # A sample the served model cannot answer fails alone, with the server's reason.
        bad = GenerationRequest(prompt="What is this?", images=[Image.new("RGB", (32, 32))], request_id="img")
        good = GenerationRequest(prompt=prompt, request_id="text")
        failed, answered = model.generate([bad, good], _task_generation())
        assert "stream reported an error" in failed.error and "text-only model" in failed.error
        assert answered.ok and answered.text == streamed.text
        plain = get_spec("openai-compatible").create({**params, "max_retries": 1, "backoff_s": 0.1})
        failed, answered = plain.generate([bad, good], _task_generation())
        assert (
            "HTTP 500" in failed.error
            and "text-only model" in failed.error
            and "(after 2 attempts)" in failed.error
        )
        assert answered.ok and answered.text == streamed.text


def _task_generation():
    from model_interface import GenerationConfig

    return GenerationConfig(max_new_tokens=24)


def _sample_id(data_dir: Path, question: str) -> str:
    table = pl.read_parquet(data_dir / "datasets" / TASK / "samples.parquet")
    (sample_id,) = table.filter(pl.col("question") == question)["sample_id"]
    return sample_id
