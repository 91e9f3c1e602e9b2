"""vlmbench against lmms-eval on the same model, the same samples and the same settings, in alternating pairs.

    uv run python bench/peer_lmms_eval.py                                  # 200 and 1000 samples, batch 8 and 1
    uv run python bench/peer_lmms_eval.py --workloads 200x8 --repeats 3 --strict
    uv run python bench/peer_lmms_eval.py --workloads 8x1,16x1 --repeats 2  # a smoke run

What is compared: the wall time of the whole command a user runs (interpreter start, imports, model
loading, inference, scoring, writing results), on the tiny random Qwen2.5-VL (`tiny-qwen2.5-vl`, built
offline by model-hf), float32 on the CPU, greedy, `max_new_tokens` 16, 2 threads:

- A: `vlmbench run --model tiny-qwen2.5-vl --dataset <parquet> --batch-size B --model-param num_threads=2`
- B: `lmms-eval --model qwen2_5_vl --tasks vlmbench_peer --batch_size B` through a launcher that forces
  float32 (lmms-eval 0.7.3 hard-codes bfloat16 for Qwen2.5-VL), with OMP_NUM_THREADS=2. lmms-eval 0.7.3 hands
  qwen_vl_utils a JPEG (quality 85) copy of each image; `--lmms-images png` gives it the file's own pixels, as
  vlmbench does, to tell that difference from any other when answers differ.

The samples are the synthetic English field questions (`synth_vqa_en` documents), written once per sample
count as one Hugging Face parquet file that both tools read (every set is the first rows of one pool of at
least 1000 questions, so 200 samples are the same 200, on 110 distinct pages, in every run). lmms-eval is
installed into its own uv environment (`--venv`, default `.bench/lmms-eval-venv`), pinned to the torch,
torchvision and transformers versions of this project's lock, with `filelock<4` and `decord`.

Honest figures on a shared machine:
- The 1-minute load average is recorded before and after each pair; the bench waits up to `--settle-s` for
  it to fall to `--max-load` (1.5) before a pair, flags a pair with either figure above it (another job
  started during it), and with `--strict` refuses to start a pair above it.
- Pairs alternate which tool goes first (A B, then B A, ...).
- Every run starts from fresh folders: vlmbench's data folder and DAGSTER_HOME; lmms-eval's output folder
  and its caches (HF_HOME, HF_DATASETS_CACHE, XDG_CACHE_HOME), so no run reuses another's converted data.
- The answers of both tools are compared sample by sample in every pair.
- Medians per workload; per batch size with two sample counts, the per-sample and fixed costs of each tool
  from a straight line through the two medians. Results go to stdout (Markdown tables) and `--json`.
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
POOL_SAMPLES = 1000  # the sets are the first rows of this many questions (or of the largest set, if larger)
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
# lmms-eval 0.7.3 loads Qwen2.5-VL in bfloat16 whatever the device; vlmbench runs float32 on a CPU. It also
# re-encodes every image as a JPEG of quality 85 (`Qwen2_5_VL._encode_image_data_url`) before qwen_vl_utils
# reads it back; vlmbench gives the model the file's own pixels. `--lmms-images png` makes lmms-eval do so too.
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
if sys.argv.pop(1) == "png":  # --lmms-images png: the document's own pixels instead of a JPEG (quality 85) copy
    from lmms_eval.models.model_utils.media_encoder import encode_image_to_data_url
    from lmms_eval.models.simple.qwen2_5_vl import Qwen2_5_VL

    Qwen2_5_VL._encode_image_data_url = lambda self, image: encode_image_to_data_url(
        image, image_format="PNG", convert_rgb=True
    )

from lmms_eval.__main__ import cli_evaluate

cli_evaluate()
"""


def write_samples(out: Path, counts: list[int]) -> dict[int, Path]:
    """For each count, that many synthetic English field questions as Hugging Face parquet (image structs,
    and the feature metadata `datasets` reads to decode them), with vlmbench's sample ids in `id`. Every set
    is the first rows of one pool of at least POOL_SAMPLES questions, so a count names the same samples
    (and the same distinct pages) whichever workloads a run chooses."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vlm_pipelines.readers import read_dataset
    from vlm_pipelines.synthetic import generate_task_dataset

    largest = max(*counts, POOL_SAMPLES)
    n_documents = max(1, largest // 7 + 2)  # about 7.5 questions per document
    folder = generate_task_dataset(
        variant="field_vqa", language="en", n_documents=n_documents, seed=0, out_dir=out / "synthetic"
    )
    samples = read_dataset(folder).samples.sort("sample_id").head(largest)
    if samples.height < largest:
        raise SystemExit(f"only {samples.height} samples from {n_documents} documents")
    rows = samples.select("sample_id", "image_paths", "question", "answers").to_dicts()
    features = {
        "id": {"dtype": "string", "_type": "Value"},
        "image": {"_type": "Image"},
        "question": {"dtype": "string", "_type": "Value"},
        "answer": {"dtype": "string", "_type": "Value"},
    }
    paths = {}
    for count in counts:
        chosen = rows[:count]
        table = pa.table(
            {
                "id": [row["sample_id"] for row in chosen],
                "image": [
                    {"bytes": Path(row["image_paths"][0]).read_bytes(), "path": None} for row in chosen
                ],
                "question": [row["question"] for row in chosen],
                "answer": [row["answers"][0] for row in chosen],
            }
        )
        table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
        paths[count] = out / f"samples-{count}.parquet"
        pq.write_table(table, paths[count])
    return paths


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


def run_quietly(tool: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
    """Runs a timed command with its output kept aside (progress bars, warnings); shown if it fails."""
    done = subprocess.run(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{tool} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def run_vlmbench(parquet: Path, out: Path, batch: int, threads: int) -> float:
    env = environment(threads) | {"VLMBENCH_DATA_DIR": str(out / "data"), "DAGSTER_HOME": str(out / "home")}
    command = [
        sys.executable, "-m", "vlm_pipelines.cli", "run", "--model", "tiny-qwen2.5-vl", "--dataset", str(parquet),
        "--batch-size", str(batch), "--model-param", f"num_threads={threads}", "--gen",
        f"max_new_tokens={MAX_NEW_TOKENS}", "--quiet", "--metric", "exact_match",
    ]  # fmt: skip
    started = time.perf_counter()
    run_quietly("vlmbench", command, env, REPO)
    return time.perf_counter() - started


def run_lmms_eval(
    python: Path,
    launcher: Path,
    tasks: Path,
    checkpoint: Path,
    out: Path,
    batch: int,
    threads: int,
    images: str,
) -> float:
    model_args = (
        f"pretrained={checkpoint},device=cpu,device_map=cpu,attn_implementation=sdpa,"
        f"min_pixels={MIN_PIXELS},max_pixels={MAX_PIXELS}"
    )
    command = [
        str(python), str(launcher), str(threads), images, "--model", "qwen2_5_vl", "--model_args", model_args, "--tasks",
        TASK_NAME, "--include_path", str(tasks), "--batch_size", str(batch), "--log_samples", "--output_path",
        str(out / "lmms"),
    ]  # fmt: skip
    started = time.perf_counter()
    env = environment(threads) | isolated_caches(out)
    run_quietly("lmms-eval", command, env, out)
    wall = time.perf_counter() - started
    if not list((out / "lmms").rglob(f"*samples_{TASK_NAME}.jsonl")):  # lmms-eval exits 0 after some errors
        raise SystemExit(f"lmms-eval wrote no samples log under {out / 'lmms'}; see its output above")
    return wall


def vlmbench_answers(out: Path) -> dict[str, str]:
    """Answers by the parquet's `id` (the reader derives its own sample ids and keeps `id` in metadata)."""
    import polars as pl

    (path,) = (out / "data" / "results").rglob("sample_metrics.parquet")
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


def load_average() -> float:
    return os.getloadavg()[0]


def settled_load(max_load: float, settle_s: float) -> float:
    """The 1-minute load average, after waiting up to `settle_s` for it to fall to `max_load` (the previous
    pair's own runs raise it)."""
    deadline = time.monotonic() + settle_s
    while load_average() > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return load_average()


def isolated_caches(out: Path) -> dict[str, str]:
    """Cache folders of this run only: `datasets` converts the parquet again, as on a first run."""
    return {
        "HF_HOME": str(out / "hf"),
        "HF_DATASETS_CACHE": str(out / "hf" / "datasets"),
        "XDG_CACHE_HOME": str(out / "cache"),
    }


def compare(ours: dict[str, str], theirs: dict[str, str]) -> tuple[int, list[dict]]:
    """(identical answers, up to 5 differing ones); a sample only one tool answered differs."""
    keys = sorted(set(ours) | set(theirs))
    differing = [
        {"id": key, "vlmbench": ours.get(key), "lmms_eval": theirs.get(key)}
        for key in keys
        if key not in ours or key not in theirs or ours[key].strip() != theirs[key].strip()
    ]
    return len(keys) - len(differing), differing[:5]


def parse_workloads(text: str) -> list[tuple[int, int]]:
    """`200x8,1000x1` -> [(200, 8), (1000, 1)] (samples x batch size)."""
    try:
        pairs = [tuple(int(part) for part in item.split("x")) for item in text.split(",") if item.strip()]
    except ValueError:
        raise SystemExit(f"--workloads: expected SAMPLESxBATCH[,...], got {text!r}") from None
    if not pairs or any(len(pair) != 2 or min(pair) < 1 for pair in pairs):
        raise SystemExit(f"--workloads: expected SAMPLESxBATCH[,...], got {text!r}")
    return pairs


def linear_costs(medians: dict[tuple[int, int], dict[str, float]]) -> list[dict]:
    """Per batch size measured at two sample counts or more: ms per sample and fixed s of each tool, from
    the line through the smallest and the largest count's medians."""
    fits = []
    for batch in sorted({batch for _, batch in medians}):
        counts = sorted(samples for samples, b in medians if b == batch)
        if len(counts) < 2:
            continue
        low, high = counts[0], counts[-1]
        fit = {"batch": batch, "samples": [low, high]}
        for tool in TOOLS:
            per_sample = (medians[high, batch][tool] - medians[low, batch][tool]) / (high - low)
            fit[tool] = {
                "per_sample_ms": per_sample * 1000,
                "fixed_s": medians[low, batch][tool] - low * per_sample,
            }
        fits.append(fit)
    return fits


TOOLS = ("vlmbench", "lmms-eval")


def markdown(result: dict) -> str:
    lines = [
        "| workload | pair | load before, after | order | vlmbench s | lmms-eval s | ratio | identical answers |",
        "| :--- | ---: | ---: | :--- | ---: | ---: | ---: | :--- |",
    ]
    for workload in result["workloads"]:
        name = f"{workload['samples']} samples, batch {workload['batch']}"
        for index, pair in enumerate(workload["pairs"], 1):
            flag = " (above max)" if pair["loaded"] else ""
            lines.append(
                f"| {name} | {index} | {pair['load_before']:.2f}, {pair['load_after']:.2f}{flag} | {' then '.join(pair['order'])} | "
                f"{pair['walls_s']['vlmbench']:.2f} | {pair['walls_s']['lmms-eval']:.2f} | {pair['ratio']:.3f} | "
                f"{pair['identical_answers']} of {pair['compared']} |"
            )
    lines += ["", "| workload | vlmbench median s | lmms-eval median s | ratio of medians | pair ratios |",
              "| :--- | ---: | ---: | ---: | :--- |"]  # fmt: skip
    for workload in result["workloads"]:
        ratios = [pair["ratio"] for pair in workload["pairs"]]
        lines.append(
            f"| {workload['samples']} samples, batch {workload['batch']} | {workload['medians_s']['vlmbench']:.2f} | "
            f"{workload['medians_s']['lmms-eval']:.2f} | {workload['ratio']:.3f} | "
            f"{min(ratios):.3f}–{max(ratios):.3f} |"
        )
    for fit in result["linear_costs"]:
        low, high = fit["samples"]
        lines.append(
            f"\nBatch {fit['batch']}, from the {low}- and {high}-sample medians: "
            + "; ".join(f"{tool} {fit[tool]['per_sample_ms']:.1f} ms a sample plus {fit[tool]['fixed_s']:.1f} s fixed" for tool in TOOLS)
        )  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=parse_workloads, default="200x8,1000x8,200x1,1000x1",
                        help="SAMPLESxBATCH, comma-separated (default: 200x8,1000x8,200x1,1000x1)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="pairs per workload (the order alternates)")
    parser.add_argument("--max-load", type=float, default=1.5, help="a pair starting above this is flagged")
    parser.add_argument("--settle-s", type=float, default=120, help="wait up to this for the load to settle")
    parser.add_argument("--strict", action="store_true", help="refuse to run a pair above --max-load")
    parser.add_argument("--venv", type=Path, default=REPO / ".bench" / "lmms-eval-venv")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--lmms-images", choices=("jpeg", "png"), default="jpeg",
                        help="what lmms-eval hands qwen_vl_utils: a JPEG (quality 85) copy of each image, as "
                        "lmms-eval 0.7.3 does (default), or a lossless PNG of the file's own pixels")  # fmt: skip
    args = parser.parse_args()

    from model_hf.tiny_qwen import ensure_tiny_qwen

    checkpoint = ensure_tiny_qwen()
    python = ensure_lmms_eval(args.venv)
    work = Path(tempfile.mkdtemp(prefix="peer-lmms-"))
    print(f"work folder: {work}", flush=True)
    launcher = work / "launch_lmms_eval.py"
    launcher.write_text(LAUNCHER)
    parquets = write_samples(work, sorted({samples for samples, _ in args.workloads}))

    result: dict = {
        "threads": args.threads,
        "lmms_eval": LMMS_EVAL_VERSION,
        "lmms_images": args.lmms_images,
        "max_load": args.max_load,
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "workloads": [],
    }
    for samples, batch in args.workloads:
        parquet = parquets[samples]
        tasks = work / f"tasks-{samples}"
        if not tasks.exists():
            tasks.mkdir()
            (tasks / f"{TASK_NAME}.yaml").write_text(TASK_YAML.format(parquet=parquet))
            (tasks / "utils.py").write_text(TASK_UTILS)
        pairs = []
        for repeat in range(args.repeats):
            load = settled_load(args.max_load, args.settle_s)
            if load > args.max_load and args.strict:
                raise SystemExit(
                    f"load average {load:.2f} is above --max-load {args.max_load}; refusing (--strict)"
                )
            order = TOOLS if repeat % 2 == 0 else TOOLS[::-1]
            walls, folders = {}, {}
            for tool in order:
                out = work / f"{samples}x{batch}" / f"{repeat}-{tool}"
                out.mkdir(parents=True)
                if tool == "vlmbench":
                    walls[tool] = run_vlmbench(parquet, out, batch, args.threads)
                else:
                    walls[tool] = run_lmms_eval(
                        python, launcher, tasks, checkpoint, out, batch, args.threads, args.lmms_images
                    )
                folders[tool] = out
            same, differing = compare(
                vlmbench_answers(folders["vlmbench"]), lmms_answers(folders["lmms-eval"], parquet)
            )
            pair = {
                "load_before": load, "load_after": load_average(), "order": list(order), "walls_s": walls,
                "ratio": walls["vlmbench"] / walls["lmms-eval"], "identical_answers": same, "compared": samples,
                "differing_examples": differing,
            }  # fmt: skip
            pair["loaded"] = max(pair["load_before"], pair["load_after"]) > args.max_load
            pairs.append(pair)
            print(
                f"{samples}x{batch} pair {repeat + 1}/{args.repeats} (load {load:.2f} then {pair['load_after']:.2f}, {' first, '.join(order)} "
                f"second): vlmbench {walls['vlmbench']:.2f} s, lmms-eval {walls['lmms-eval']:.2f} s, "
                f"{same}/{samples} identical answers",
                flush=True,
            )
        medians = {tool: statistics.median(pair["walls_s"][tool] for pair in pairs) for tool in TOOLS}
        result["workloads"].append(
            {
                "samples": samples,
                "batch": batch,
                "pairs": pairs,
                "medians_s": medians,
                "ratio": medians["vlmbench"] / medians["lmms-eval"],
                "flagged_pairs": sum(pair["loaded"] for pair in pairs),
            }  # fmt: skip
        )
    medians = {(w["samples"], w["batch"]): w["medians_s"] for w in result["workloads"]}
    result["linear_costs"] = linear_costs(medians)
    print(json.dumps(result, indent=2))
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
