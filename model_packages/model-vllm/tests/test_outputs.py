"""vLLM RequestOutput -> text, token counts and per-request timing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from model_vllm.outputs import CompletedRequest, RequestTiming, completed_request, request_timing


def metrics(arrival_time: float, first_token_latency: float, first_token_ts: float, last_token_ts: float):
    """The four `RequestStateStats` fields the conversion reads."""
    return SimpleNamespace(
        arrival_time=arrival_time,
        first_token_latency=first_token_latency,
        first_token_ts=first_token_ts,
        last_token_ts=last_token_ts,
    )


def test_timing_runs_from_batch_submission_to_first_and_last_token() -> None:
    # Arrived 0.25 s after submission, first token 0.5 s later, then 1.0 s of decoding.
    timing = request_timing(
        metrics(arrival_time=1000.25, first_token_latency=0.5, first_token_ts=50.0, last_token_ts=51.0),
        submitted_at=1000.0,
        batch_latency_s=3.0,
    )
    assert timing == RequestTiming(ttft_s=0.75, latency_s=1.75)


def test_timing_is_capped_at_the_batch_wall_time() -> None:
    timing = request_timing(
        metrics(arrival_time=1000.0, first_token_latency=2.5, first_token_ts=50.0, last_token_ts=52.0),
        submitted_at=1000.0,
        batch_latency_s=3.0,
    )
    assert timing == RequestTiming(ttft_s=2.5, latency_s=3.0)


@pytest.mark.parametrize(
    "missing",
    [None, metrics(arrival_time=1000.0, first_token_latency=0.0, first_token_ts=0.0, last_token_ts=0.0)],
    ids=["no-metrics", "metrics-never-updated"],
)
def test_timing_without_metrics_falls_back_to_the_batch_latency(missing) -> None:
    assert request_timing(missing, submitted_at=1000.0, batch_latency_s=2.0) == RequestTiming(2.0, 2.0)


def test_completed_request_reads_text_and_token_counts() -> None:
    output = SimpleNamespace(
        prompt_token_ids=[1, 2, 3, 4, 5],
        outputs=[SimpleNamespace(text="42", token_ids=[7, 8])],
        metrics=None,
    )
    assert completed_request(output, submitted_at=0.0, batch_latency_s=1.5) == CompletedRequest(
        text="42", prompt_tokens=5, output_tokens=2, timing=RequestTiming(1.5, 1.5)
    )


@pytest.mark.requires("vllm")
def test_completed_request_from_real_vllm_output_classes() -> None:
    from vllm.outputs import CompletionOutput, RequestOutput
    from vllm.v1.metrics.stats import RequestStateStats

    stats = RequestStateStats(
        arrival_time=1000.5, first_token_latency=0.25, first_token_ts=10.0, last_token_ts=10.5
    )
    completion = CompletionOutput(
        index=0,
        text="Total: 42",
        token_ids=[11, 12, 13],
        cumulative_logprob=None,
        logprobs=None,
        finish_reason="stop",
    )
    output = RequestOutput(
        request_id="0",
        prompt=None,
        prompt_token_ids=list(range(68)),
        prompt_logprobs=None,
        outputs=[completion],
        finished=True,
        metrics=stats,
    )
    assert completed_request(output, submitted_at=1000.0, batch_latency_s=5.0) == CompletedRequest(
        text="Total: 42", prompt_tokens=68, output_tokens=3, timing=RequestTiming(ttft_s=0.75, latency_s=1.25)
    )
