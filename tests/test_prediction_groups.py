"""Fast batches are written together (issue 21: 200 batch-1 answers made 200 fsynced files and 200 Dagster
events), and a crash still loses at most the group in flight; preparing inline or ahead answers the same."""

from __future__ import annotations

import os
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

from tests.test_inference import KEY, prompted
from vlm_pipelines import inference
from vlm_pipelines.inference import PredictionStore, run_predictions


class Echo(VisionLanguageModel):
    """Answers with the prompt; raises KeyboardInterrupt (a Ctrl-C, a kill) at the prompt `stop_at`."""

    def __init__(self, stop_at: str | None = None) -> None:
        super().__init__("echo", "1.0")
        self.stop_at = stop_at
        self.answered: list[str] = []

    def _load(self) -> None:
        pass

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        if any(request.prompt == self.stop_at for request in requests):
            raise KeyboardInterrupt
        self.answered.extend(request.prompt for request in requests)
        return [
            self.make_result(
                request, request.prompt.upper(), prompt_tokens=1, output_tokens=1, stopwatch=Stopwatch()
            )
            for request in requests
        ]


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob("batch-*.parquet"))


def answer(folder: Path, model: Echo, count: int, batch_size: int = 1) -> pl.DataFrame:
    store = PredictionStore(folder)
    run = run_predictions(
        model, prompted(count), key=KEY, config=GenerationConfig(), batch_size=batch_size, store=store
    )
    return run.predictions


def test_groups_hold_several_batches_and_every_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inference, "GROUP_MIN_S", 3600.0)  # groups close by size only: a fixed layout
    monkeypatch.setattr(inference, "GROUP_MAX_SAMPLES", 4)
    predictions = answer(tmp_path, Echo(), 10)
    assert [pl.read_parquet(path).height for path in files(tmp_path)] == [4, 4, 2]
    assert predictions["text"].to_list() == [f"Q{i}" for i in range(10)]
    assert predictions["error"].null_count() == 10
    assert predictions["batch_id"].n_unique() == 10  # each batch keeps its own id inside a group


def test_a_slow_batch_is_written_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "GROUP_MIN_S", 0.0)  # every batch took "long enough"
    answer(tmp_path, Echo(), 6, batch_size=2)
    assert [pl.read_parquet(path).height for path in files(tmp_path)] == [2, 2, 2]


def test_an_interrupt_loses_only_the_batch_in_flight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or a failing batch) writes the finished batches of the open group first; a kill -9 can lose
    that group (tests/pipeline/test_resume.py)."""
    monkeypatch.setattr(inference, "GROUP_MIN_S", 3600.0)
    monkeypatch.setattr(inference, "GROUP_MAX_SAMPLES", 3)
    with pytest.raises(KeyboardInterrupt):
        answer(tmp_path, Echo(stop_at="q7"), 10)
    kept = sorted(
        sample for path in files(tmp_path) for sample in pl.read_parquet(path)["sample_id"].to_list()
    )
    assert kept == [f"{i:016x}" for i in range(7)]  # q6's group was not full, and is kept all the same

    resumed = Echo()
    predictions = answer(tmp_path, resumed, 10)
    assert resumed.answered == [f"q{i}" for i in range(7, 10)]
    assert predictions["text"].to_list() == [f"Q{i}" for i in range(10)]


def test_preparing_inline_or_ahead_gives_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {}
    for workers in (0, 1):
        monkeypatch.setattr(inference, "prefetch_workers", lambda workers=workers: workers)
        answers[workers] = answer(tmp_path / str(workers), Echo(), 5, batch_size=2).select(
            "sample_id", "text"
        )
    assert answers[0].equals(answers[1])


def test_a_cpu_model_using_every_core_prepares_inline() -> None:
    torch = pytest.importorskip("torch")
    cores = len(os.sched_getaffinity(0))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(cores)
        assert inference.prefetch_workers() == 0
        if cores > 1:
            torch.set_num_threads(cores - 1)
            assert inference.prefetch_workers() == 1
    finally:
        torch.set_num_threads(threads)
