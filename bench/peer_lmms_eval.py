"""vlmbench against lmms-eval on the same model, the same samples and the same settings, timed alternately.

    uv run python bench/peer_lmms_eval.py                     # 200 samples, batch 8, 2 threads, 3 repeats each
    uv run python bench/peer_lmms_eval.py --samples 64 --repeats 1

What is compared: the wall time of the whole command a user runs (interpreter start, imports, model
loading, inference, scoring, writing results), on the tiny random Qwen2.5-VL (`tiny-qwen2.5-vl`, built
offline by model-hf), float32 on the CPU, greedy, `max_new_tokens` 16, batch 8, 2 threads:

- A: `vlmbench run --model tiny-qwen2.5-vl --dataset <parquet> --batch-size 8 --model-param num_threads=2`
- B: `lmms-eval --model qwen2_5_vl --tasks vlmbench_peer --batch_size 8` through a launcher that forces
  float32 (lmms-eval 0.7.3 hard-codes bfloat16 for Qwen2.5-VL), with OMP_NUM_THREADS=2.

The samples are the synthetic English field questions (`synth_vqa_en` documents), written once as one
Hugging Face parquet file that both tools read. lmms-eval is installed into its own uv environment
(`--venv`, default `.bench/lmms-eval-venv`), pinned to the torch, torchvision and transformers versions of
this project's lock, with `filelock<4` and `decord`. Runs alternate A B A B so load from other jobs on the
shared machine hits both; each run gets fresh output folders. Medians are compared, and the answers of the
last two runs are compared sample by sample. Results go to stdout and `--json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LMMS_EVAL_VERSION = "0.7.3"
TASK_NAME = "vlmbench_peer"
MAX_NEW_TOKENS = 16
MIN_PIXELS, MAX_PIXELS = 56 * 56, 112 * 112  # the tiny checkpoint's own image processor limits

TASK_YAML = f"""\
task: {TASK_NAME}
dataset_path: parquet
dataset_kwargs:
  data_files:
    test: {{parquet}}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: {MAX_NEW_TOKENS}
  temperature: 0
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""
TASK_UTILS = """
import io

from PIL import Image


def doc_to_visual(doc):
    image = doc["image"]
    if isinstance(image, dict):  # the image struct as stored, when `datasets` does not decode it
        image = Image.open(io.BytesIO(image["bytes"]))
    return [image.convert("RGB")]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]


def process_results(doc, results):
    return {"exact_match": float(results[0].strip().lower() == doc["answer"].strip().lower())}
"""
# lmms-eval 0.7.3 loads Qwen2.5-VL in bfloat16 whatever the device; vlmbench runs float32 on a CPU.
LAUNCHER = """
import sys

import torch
from transformers import Qwen2_5_VLForConditionalGeneration

_load = Qwen2_5_VLForConditionalGeneration.from_pretrained.__func__


def _float32(cls, *args, **kwargs):
    kwargs.pop("torch_dtype", None)
    kwargs["dtype"] = torch.float32
    return _load(cls, *args, **kwargs)


Qwen2_5_VLForConditionalGeneration.from_pretrained = classmethod(_float32)
torch.set_num_threads(int(sys.argv.pop(1)))

from lmms_eval.__main__ import cli_evaluate

cli_evaluate()
"""


def write_samples(out: Path, count: int) -> Path:
    """`count` synthetic English field questions as Hugging Face parquet (image structs, and the feature
    metadata `datasets` reads to decode them), with vlmbench's sample ids in `id`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vlm_pipelines.readers import read_dataset
    from vlm_pipelines.synthetic import generate_task_dataset

    n_documents = max(1, count // 7 + 2)  # about 7.5 questions per document
    folder = generate_task_dataset(
        variant="field_vqa", language="en", n_documents=n_documents, seed=0, out_dir=out / "synthetic"
    )
    samples = read_dataset(folder).samples.sort("sample_id").head(count)
    if samples.height < count:
        raise SystemExit(f"only {samples.height} samples from {n_documents} documents")
    rows = samples.select("sample_id", "image_paths", "question", "answers").to_dicts()
    table = pa.table(
        {
            "id": [row["sample_id"] for row in rows],
            "image": [{"bytes": Path(row["image_paths"][0]).read_bytes(), "path": None} for row in rows],
            "question": [row["question"] for row in rows],
            "answer": [row["answers"][0] for row in rows],
        }
    )
    features = {
        "id": {"dtype": "string", "_type": "Value"},
        "image": {"_type": "Image"},
        "question": {"dtype": "string", "_type": "Value"},
        "answer": {"dtype": "string", "_type": "Value"},
    }
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    path = out / "samples.parquet"
    pq.write_table(table, path)
    return path


def ensure_lmms_eval(venv: Path) -> Path:
    """The lmms-eval environment's python, built with uv on first use (pinned to this lock's torch) and
    compiled to bytecode, as this project's environment is (`uv sync --compile-bytecode`): with
    PYTHONDONTWRITEBYTECODE set, an uncompiled environment would pay for compiling at every start."""
    python = venv / "bin" / "python"
    compiled = venv / ".bytecode-compiled"
    if python.exists() and compiled.exists():
        return python
    if python.exists():
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
        subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", site], check=False)
        compiled.touch()
        return python
    pins = [
        f"{name}=={metadata.version(name)}" for name in ("torch", "torchvision", "transformers", "accelerate")
    ]
    subprocess.run(["uv", "venv", "--python", "3.11", str(venv)], check=True)
    subprocess.run(
        ["uv", "pip", "install", "--compile-bytecode", "--python", str(python), f"lmms-eval=={LMMS_EVAL_VERSION}",
         "filelock<4", "decord", "qwen-vl-utils", *pins],
        check=True,
    )  # fmt: skip
    compiled.touch()
    return python


def environment(threads: int) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
        "TQDM_DISABLE": "1",
    }


def run_vlmbench(parquet: Path, out: Path, batch: int, threads: int) -> float:
    env = environment(threads) | {"VLMBENCH_DATA_DIR": str(out / "data"), "DAGSTER_HOME": str(out / "home")}
    command = [
        sys.executable, "-m", "vlm_pipelines.cli", "run", "--model", "tiny-qwen2.5-vl", "--dataset", str(parquet),
        "--batch-size", str(batch), "--model-param", f"num_threads={threads}", "--gen",
        f"max_new_tokens={MAX_NEW_TOKENS}", "--quiet", "--metric", "exact_match",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_lmms_eval(
    python: Path, launcher: Path, tasks: Path, checkpoint: Path, out: Path, batch: int, threads: int
) -> float:
    model_args = (
        f"pretrained={checkpoint},device=cpu,device_map=cpu,attn_implementation=sdpa,"
        f"min_pixels={MIN_PIXELS},max_pixels={MAX_PIXELS}"
    )
    command = [
        str(python), str(launcher), str(threads), "--model", "qwen2_5_vl", "--model_args", model_args, "--tasks",
        TASK_NAME, "--include_path", str(tasks), "--batch_size", str(batch), "--log_samples", "--output_path",
        str(out / "lmms"),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment(threads), cwd=out, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    if not list((out / "lmms").rglob(f"*samples_{TASK_NAME}.jsonl")):  # lmms-eval exits 0 after some errors
        raise SystemExit(f"lmms-eval wrote no samples log under {out / 'lmms'}; see its output above")
    return wall


def vlmbench_answers(out: Path) -> dict[str, str]:
    """Answers by the parquet's `id` (the reader derives its own sample ids and keeps `id` in metadata)."""
    import polars as pl

    (path,) = (out / "data" / "results").glob("*/*/*/*/sample_metrics.parquet")
    (samples,) = (out / "data" / "datasets").glob("*/samples.parquet")
    ids = {
        row["sample_id"]: json.loads(row["metadata"])["id"]
        for row in pl.read_parquet(samples).iter_rows(named=True)
    }
    frame = pl.read_parquet(path).select("sample_id", "prediction_raw")
    return {ids[sample_id]: text for sample_id, text in frame.iter_rows()}


def lmms_answers(out: Path, parquet: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    ids = pq.read_table(parquet, columns=["id"]).column("id").to_pylist()
    (log,) = (out / "lmms").rglob(f"*samples_{TASK_NAME}.jsonl")
    answers = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        response = record.get("filtered_resps", record.get("resps"))
        while isinstance(response, list):  # older versions log [[text]]
            response = response[0]
        answers[ids[int(record["doc_id"])]] = response
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each tool (alternating)")
    parser.add_argument("--venv", type=Path, default=REPO / ".bench" / "lmms-eval-venv")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from model_hf.tiny_qwen import ensure_tiny_qwen

    checkpoint = ensure_tiny_qwen()
    python = ensure_lmms_eval(args.venv)
    work = Path(tempfile.mkdtemp(prefix="peer-lmms-"))
    parquet = write_samples(work, args.samples)
    tasks = work / "tasks"
    tasks.mkdir()
    (tasks / f"{TASK_NAME}.yaml").write_text(TASK_YAML.format(parquet=parquet))
    (tasks / "utils.py").write_text(TASK_UTILS)
    launcher = work / "launch_lmms_eval.py"
    launcher.write_text(LAUNCHER)

    walls: dict[str, list[float]] = {"vlmbench": [], "lmms-eval": []}
    last: dict[str, Path] = {}
    for repeat in range(args.repeats):
        for tool in ("vlmbench", "lmms-eval"):
            out = work / f"{tool}-{repeat}"
            out.mkdir()
            if tool == "vlmbench":
                wall = run_vlmbench(parquet, out, args.batch, args.threads)
            else:
                wall = run_lmms_eval(python, launcher, tasks, checkpoint, out, args.batch, args.threads)
            walls[tool].append(wall)
            last[tool] = out
            print(f"run {repeat + 1}/{args.repeats} {tool}: {wall:.1f} s", flush=True)

    ours, theirs = vlmbench_answers(last["vlmbench"]), lmms_answers(last["lmms-eval"], parquet)
    same = sum(ours[key].strip() == theirs.get(key, "").strip() for key in ours)
    medians = {tool: statistics.median(values) for tool, values in walls.items()}
    result = {
        "samples": args.samples,
        "batch": args.batch,
        "threads": args.threads,
        "lmms_eval": LMMS_EVAL_VERSION,
        "walls_s": walls,
        "medians_s": medians,
        "ratio": medians["vlmbench"] / medians["lmms-eval"],
        "identical_answers": same,
        "compared": len(ours),
        "differing_examples": [
            {"id": key, "vlmbench": ours[key], "lmms_eval": theirs.get(key)}
            for key in sorted(ours)
            if ours[key].strip() != theirs.get(key, "").strip()
        ][:5],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
