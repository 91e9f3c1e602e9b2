"""Resumable batched inference: finished batches are persisted (grouped when small) before the next ones start.

A prediction is reused only when its sample id, model id, package version, model params hash,
prompt hash and generation-config hash all match, so a crash (even `kill -9`) loses at most the group
of batches in flight (small, fast batches are written together: at least `GROUP_MIN_S` of work or
`GROUP_MAX_SAMPLES` samples per file), and a re-run recomputes exactly what changed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from model_interface import GenerationConfig, GenerationRequest, VisionLanguageModel

from vlm_pipelines.evaluation.identity import KEY_COLUMNS, PredictionKey
from vlm_pipelines.evaluation.records import per_second
from vlm_pipelines.schemas import PREDICTION_POLARS_SCHEMA

# A file (and a progress event) holds the batches finished since the last one once they took this long or
# hold this many samples: a slow batch is still written alone, 200 fast batch-1 answers are not 200 files.
GROUP_MIN_S = 1.0
GROUP_MAX_SAMPLES = 256


class PredictionStore:
    """One parquet file per finished group of batches in `folder`; written to a temp name, then renamed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load(self, key: PredictionKey | None = None) -> pl.DataFrame:
        files = sorted(self.folder.glob("batch-*.parquet"))
        if not files:
            return pl.DataFrame(schema=PREDICTION_POLARS_SCHEMA)
        frame = pl.concat([pl.read_parquet(path) for path in files], how="vertical_relaxed")
        if key is not None:
            frame = frame.filter(pl.all_horizontal(pl.col(k) == v for k, v in key.as_dict().items()))
        # Files sort by write time: a retried sample's newest answer replaces its earlier failure.
        return frame.unique(subset=["sample_id", *KEY_COLUMNS], keep="last", maintain_order=True)

    def write_batch(self, frame: pl.DataFrame) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        batch_id = frame["batch_id"][0]
        final = self.folder / f"batch-{time.time_ns():020d}-{batch_id}.parquet"
        partial = final.with_suffix(".tmp")
        try:
            frame.write_parquet(partial)
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, final)
        except BaseException:  # a full disk, a kill signal: leave no partial file behind
            partial.unlink(missing_ok=True)
            raise
        return final

    def remove_partial_files(self) -> list[Path]:
        """Deletes `batch-*.tmp` files a crashed run left (a batch is only kept once renamed)."""
        leftovers = sorted(self.folder.glob("batch-*.tmp")) if self.folder.is_dir() else []
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float
    new_done: int

    @property
    def samples_per_s(self) -> float:
        return per_second(self.new_done, self.elapsed_s)

    @property
    def eta_s(self) -> float | None:
        rate = self.samples_per_s
        return (self.total - self.done) / rate if rate > 0 else None

    def describe(self) -> str:
        eta = "?" if self.eta_s is None else f"{self.eta_s:.0f}s"
        return f"{self.done}/{self.total} samples, {self.samples_per_s:.2f} samples/s, ETA {eta}"


@dataclass(frozen=True)
class PredictionRun:
    """What one predictions run did. `generate_s` is the time inside `model.generate` (the model's
    throughput); `wall_s` adds the store reads and writes."""

    predictions: pl.DataFrame
    reused: int
    computed: int
    wall_s: float
    generate_s: float = 0.0


def request_hints(
    row: dict[str, Any], answer_type: str, choices: tuple[list[str], dict[str, str]]
) -> dict[str, str]:
    """What a pipeline model (e.g. OCR label rules) may use besides the prompt: the field name, the doc
    type, the printed field label, the task's answer type, its labels or options, and for JSON extraction
    the keys with their printed labels. VLMs ignore hints; the prompt says the same in words."""
    metadata = json.loads(row.get("metadata") or "{}")
    hints = {"field_name": row["field_name"], "doc_type": row["doc_type"], "answer_type": answer_type}
    if metadata.get("field_label"):
        hints["field_label"] = str(metadata["field_label"])
    labels, options = choices
    if labels:
        hints["labels"] = json.dumps(labels, ensure_ascii=False)
    if options:
        hints["options"] = json.dumps(options, ensure_ascii=False)
    fields = metadata.get("field_labels") or {key: key for key in metadata.get("schema") or []}
    if answer_type == "json" and fields:
        hints["fields"] = json.dumps(fields, ensure_ascii=False)
    return hints


def _requests(rows: list[dict[str, Any]]) -> Iterator[GenerationRequest]:
    for row in rows:
        yield GenerationRequest(
            prompt=row["prompt"],
            system_prompt=row.get("system_prompt") or None,
            images=list(row["image_paths"]),
            request_id=row["sample_id"],
            hints=json.loads(row["hints"]),
        )


def _prepared(model: VisionLanguageModel, rows: list[dict[str, Any]], config: GenerationConfig):
    """The batch as `model.prepare` makes it; the plain requests when preparing fails (`generate` then
    prepares them itself and isolates the request that fails)."""
    requests = list(_requests(rows))
    try:
        return model.prepare(requests, config)
    except Exception:  # noqa: BLE001 - generate() below reports the failure per request
        return requests


def _generate_threads() -> int:
    """The CPU threads a `generate` keeps busy: torch's intra-op threads for a model on the CPU; one (the
    launching thread) once CUDA is in use, or without torch (OCR, remote APIs)."""
    torch = sys.modules.get("torch")
    if torch is None or torch.cuda.is_initialized():
        return 1
    return torch.get_num_threads()


def prefetch_workers() -> int:
    """Threads that prepare the next batch while this one generates: one when generate leaves a core free,
    none (prepared inline, before its generate) when a CPU model's threads already take every core, where
    a preparing thread would only compete with them."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 1 if cores > _generate_threads() else 0


class _Inline:
    """A batch prepared when its `result()` is asked for: right before its own generate."""

    def __init__(self, call: Callable, *args: Any) -> None:
        self._call, self._args = call, args

    def result(self) -> Any:
        return self._call(*self._args)


class _InlineExecutor:
    """The prefetch pool of `prefetch_workers() == 0`: nothing runs ahead."""

    def submit(self, call: Callable, *args: Any) -> _Inline:
        return _Inline(call, *args)

    def __enter__(self) -> _InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def run_predictions(
    model: VisionLanguageModel,
    prompted: pl.DataFrame,
    *,
    key: PredictionKey,
    config: GenerationConfig,
    batch_size: int,
    store: PredictionStore,
    on_progress: Callable[[Progress], None] | None = None,
) -> PredictionRun:
    """Answers every row of `prompted` (sample_id, image_paths, prompt, system_prompt, hints as JSON) that
    the store has no successful prediction for under `key`, one persisted group of batches at a time."""
    started = time.perf_counter()
    store.remove_partial_files()
    generating = 0.0
    wanted = set(prompted["sample_id"].to_list())
    # Failed predictions are retried: a failure may be transient, and a permanent one fails fast.
    done = store.load(key).filter(pl.col("sample_id").is_in(list(wanted)) & pl.col("error").is_null())
    reused = done.height
    pending = prompted.filter(~pl.col("sample_id").is_in(done["sample_id"].to_list()))
    # Questions about the same document sit together: OCR caches and image sizes line up in a batch.
    pending = pending.with_columns(pl.col("image_paths").list.first().alias("_first_image")).sort(
        ["_first_image", "sample_id"]
    )
    rows = pending.to_dicts()
    batches = [rows[start : start + batch_size] for start in range(0, len(rows), batch_size)]
    computed = 0
    group: list[dict[str, Any]] = []
    group_started = time.perf_counter()

    def write_group() -> None:
        nonlocal computed, group, group_started
        store.write_batch(pl.DataFrame(group, schema=PREDICTION_POLARS_SCHEMA))
        computed += len(group)
        group, group_started = [], time.perf_counter()
        if on_progress:
            on_progress(Progress(reused + computed, len(wanted), time.perf_counter() - started, computed))

    # While a batch generates, the next one is prepared (images decoded, prompts encoded) in a thread when
    # a core is free for it: on a GPU host that CPU work would otherwise leave the device idle between batches.
    workers = prefetch_workers()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="prefetch") if workers else _InlineExecutor()
    with pool as prefetch:
        try:
            upcoming = prefetch.submit(_prepared, model, batches[0], config) if batches else None
            for index, batch_rows in enumerate(batches):
                waited = time.perf_counter()
                prepared = upcoming.result()
                if index + 1 < len(batches):
                    upcoming = prefetch.submit(_prepared, model, batches[index + 1], config)
                results = model.generate(prepared, config)
                generating += time.perf_counter() - waited
                batch_id = uuid.uuid4().hex[:12]
                group.extend(
                    {
                        "sample_id": row["sample_id"],
                        **key.as_dict(),
                        "text": result.text,
                        "error": result.error,
                        "prompt_tokens": result.prompt_tokens,
                        "output_tokens": result.output_tokens,
                        "latency_s": result.latency_s,
                        "ttft_s": result.ttft_s,
                        "tpot_s": result.tpot_s,
                        "peak_memory_bytes": result.peak_memory_bytes,
                        "batch_id": batch_id,
                    }
                    for row, result in zip(batch_rows, results, strict=True)
                )
                last = index + 1 == len(batches)
                if (
                    last
                    or len(group) >= GROUP_MAX_SAMPLES
                    or time.perf_counter() - group_started >= GROUP_MIN_S
                ):
                    write_group()
        finally:  # an interrupt or a failed batch keeps the finished batches of the open group
            if group:
                write_group()
    predictions = store.load(key).filter(pl.col("sample_id").is_in(list(wanted))).sort("sample_id")
    return PredictionRun(predictions, reused, computed, time.perf_counter() - started, generating)


def speed_summary(predictions: pl.DataFrame) -> dict[str, float]:
    """Latency percentiles, TTFT, TPOT, tokens, memory and failures of successful predictions."""
    ok = predictions.filter(pl.col("error").is_null())
    failures = predictions.height - ok.height

    def pct(column: str, q: float) -> float:
        values = ok[column].to_numpy()
        return float(np.percentile(values, q)) if values.size else 0.0

    return {
        "samples": float(predictions.height),
        "failures": float(failures),
        "latency_p50_s": pct("latency_s", 50),
        "latency_p95_s": pct("latency_s", 95),
        "ttft_p50_s": pct("ttft_s", 50),
        "tpot_p50_s": pct("tpot_s", 50),
        "output_tokens_total": float(ok["output_tokens"].sum() or 0),
        "prompt_tokens_total": float(ok["prompt_tokens"].sum() or 0),
        "peak_memory_mb": float((ok["peak_memory_bytes"].max() or 0) / 2**20),
    }
