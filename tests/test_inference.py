"""The prediction store and the batch loop: no partial file survives a failed write, leftovers are
removed on the next run, and the speed figures keep model loading out of the generation throughput."""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
from model_interface import (
    GenerationConfig,
    GenerationRequest,
    GenerationResult,
    Stopwatch,
    VisionLanguageModel,
)

from vlm_pipelines.evaluation.identity import PredictionKey, params_hash
from vlm_pipelines.inference import PredictionStore, run_predictions
from vlm_pipelines.schemas import PREDICTION_POLARS_SCHEMA

KEY = PredictionKey(model_id="m", package_version="1.0", params_hash="p", prompt_hash="q", config_hash="c")


class SlowLoadingEcho(VisionLanguageModel):
    """A test model with a known cost: loading takes `load_s`, each answer `answer_s`, and it answers
    with the prompt. It stands in for a real model only to check the timing arithmetic."""

    def __init__(self, load_s: float, answer_s: float) -> None:
        super().__init__("echo", "1.0")
        self.load_s, self.answer_s = load_s, answer_s

    def _load(self) -> None:
        time.sleep(self.load_s)

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        results = []
        for request in requests:
            watch = Stopwatch()
            time.sleep(self.answer_s)
            watch.stop()
            results.append(
                self.make_result(request, request.prompt, prompt_tokens=1, output_tokens=1, stopwatch=watch)
            )
        return results


def prompted(count: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sample_id": [f"{i:016x}" for i in range(count)],
            "image_paths": [[] for _ in range(count)],
            "prompt": [f"q{i}" for i in range(count)],
            "system_prompt": [""] * count,
            "hints": [json.dumps({"field_name": "f"})] * count,
        }
    )


def one_row() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "sample_id": "a",
                **KEY.as_dict(),
                "text": "x",
                "error": None,
                "prompt_tokens": 1,
                "output_tokens": 1,
                "latency_s": 0.1,
                "ttft_s": 0.1,
                "tpot_s": 0.0,
                "peak_memory_bytes": 1,
                "batch_id": "b1",
            }
        ],
        schema=PREDICTION_POLARS_SCHEMA,
    )


def test_a_failed_batch_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 7: a disk-full run left a 0-byte batch-*.tmp that was never cleaned up.
    store = PredictionStore(tmp_path)

    def disk_full(self: pl.DataFrame, path: Path, *args, **kwargs) -> None:
        Path(path).write_bytes(b"")  # what a full disk leaves: the file, empty
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.write_batch(one_row())
    assert list(tmp_path.iterdir()) == []


def test_leftover_partial_files_are_removed_on_the_next_run(tmp_path: Path) -> None:
    (tmp_path / "batch-00000000000000000001-dead.tmp").write_bytes(b"")  # a run killed mid-write
    store = PredictionStore(tmp_path)
    run = run_predictions(
        SlowLoadingEcho(0, 0), prompted(2), key=KEY, config=GenerationConfig(), batch_size=2, store=store
    )
    assert run.computed == 2
    assert not list(tmp_path.glob("*.tmp"))
    assert len(list(tmp_path.glob("batch-*.parquet"))) == 1


def test_generation_throughput_counts_generate_only_not_loading(tmp_path: Path) -> None:
    # Issue 7: samples/s included ~14 s of imports and model loading.
    model = SlowLoadingEcho(load_s=0.5, answer_s=0.05)
    store = PredictionStore(tmp_path)
    model.load()
    run = run_predictions(model, prompted(6), key=KEY, config=GenerationConfig(), batch_size=3, store=store)
    assert run.generate_s == pytest.approx(0.3, abs=0.15)
    assert run.computed == 6
    assert run.wall_s >= run.generate_s


def test_the_params_hash_covers_what_auto_resolved_to() -> None:
    # Issue 7: the prediction key did not include the OCR engine `auto` resolved to.
    params = {"engine": "auto"}
    assert params_hash(params, {"ocr_engine": "rapidocr"}) != params_hash(params, {"ocr_engine": "tesseract"})
    assert params_hash(params, {"ocr_engine": "tesseract"}) == params_hash(
        dict(params), {"ocr_engine": "tesseract"}
    )
