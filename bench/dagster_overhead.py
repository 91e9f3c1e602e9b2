"""Overhead of materializing `predictions` through Dagster against a raw loop over the model adapter.

Both sides answer the same N samples with the same warm model, the same batches and the same
generation config; they alternate, and the medians are compared.

    uv run python bench/dagster_overhead.py --model tiny-qwen2.5-vl --samples 64 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
import polars as pl
from model_interface import GenerationRequest, shared_model

from vlm_pipelines import settings
from vlm_pipelines.definitions import build_definitions
from vlm_pipelines.defs.partitions import evaluation_partition_key
from vlm_pipelines.defs.resources import EvaluationSettings
from vlm_pipelines.evaluation import EvaluationPaths, prepare_dataset, select
from vlm_pipelines.inference import request_hints
from vlm_pipelines.model_registry import load_model_registry
from vlm_pipelines.prompts import build_prompts
from vlm_pipelines.tasks import load_task_registry


def raw_loop(model, rows: list[dict], entry) -> float:
    started = time.perf_counter()
    for start in range(0, len(rows), entry.batch_size):
        batch = rows[start : start + entry.batch_size]
        requests = [
            GenerationRequest(
                prompt=row["prompt"],
                images=list(row["image_paths"]),
                request_id=row["sample_id"],
                hints=request_hints(row),
            )
            for row in batch
        ]
        results = model.generate(requests, entry.generation)
        assert all(result.ok for result in results)
    return time.perf_counter() - started


def through_dagster(entry, task, samples: int, cache: Path) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        paths = EvaluationPaths(Path(data_dir))
        paths.cache.parent.mkdir(parents=True, exist_ok=True)
        paths.cache.symlink_to(cache)  # the synthetic documents are generated once
        prepare_dataset(task, paths)
        defs = build_definitions(
            {entry.name: entry}, {task.name: task}, EvaluationSettings(data_dir=data_dir, max_samples=samples)
        )
        assets = [defs.resolve_assets_def(key) for key in ("predictions",)]
        started = time.perf_counter()
        result = dg.materialize(
            assets,
            partition_key=evaluation_partition_key(entry.name, task.name),
            instance=dg.DagsterInstance.ephemeral(),
        )
        elapsed = time.perf_counter() - started
        assert result.success
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny-qwen2.5-vl")
    parser.add_argument("--task", default="synth_vqa_en")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    entry = load_model_registry()[args.model]
    task = load_task_registry()[args.task]
    with tempfile.TemporaryDirectory() as cache_root:
        cache = Path(cache_root) / "cache"
        paths = EvaluationPaths(Path(cache_root))
        prepare_dataset(task, paths)
        samples = select(task, paths, args.samples)[1]
        prompts = build_prompts(task, samples, settings.REPO_ROOT).prompts
        # The batch order the pipeline uses: questions about the same document together.
        rows = (
            samples.join(prompts, on="sample_id")
            .with_columns(pl.col("image_paths").list.first().alias("first_image"))
            .sort(["first_image", "sample_id"])
            .to_dicts()
        )
        model = shared_model(entry.model, entry.params)
        # Load weights and import everything both paths use, outside the timing.
        raw_loop(model, rows[: entry.batch_size], entry)
        through_dagster(entry, task, entry.batch_size, cache)

        raw, dagster = [], []
        for _ in range(args.repeats):
            raw.append(raw_loop(model, rows, entry))
            dagster.append(through_dagster(entry, task, args.samples, cache))
        raw_median, dagster_median = statistics.median(raw), statistics.median(dagster)
        print(f"model={args.model} task={args.task} samples={len(rows)} batch={entry.batch_size}")
        print(f"raw loop   s: {', '.join(f'{t:.2f}' for t in raw)}  median {raw_median:.2f}")
        print(f"dagster    s: {', '.join(f'{t:.2f}' for t in dagster)}  median {dagster_median:.2f}")
        print(f"ratio dagster/raw: {dagster_median / raw_median:.3f}")


if __name__ == "__main__":
    main()
