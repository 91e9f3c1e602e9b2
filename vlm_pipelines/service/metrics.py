"""Prometheus metrics of the model service (one registry per app, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "vlmbench_service_requests", "HTTP requests answered", ["model", "endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "vlmbench_service_request_latency_seconds", "Completion latency (queue wait included)",
            ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "vlmbench_service_ttft_seconds",
            "Time to first token",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "vlmbench_service_tokens", "Tokens processed", ["model", "kind"], registry=r
        )  # kind: prompt or completion
        self.errors = Counter(
            "vlmbench_service_errors", "Failed completions", ["model", "kind"], registry=r
        )  # kind: bad_request, model_error
        self.queue_depth = Gauge(
            "vlmbench_service_queue_depth", "Requests waiting for their model", ["model"], registry=r
        )
        self.batch_size = Histogram(
            "vlmbench_service_batch_size", "Requests per generate() call", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r,
        )  # fmt: skip
        self.models_loaded = Gauge("vlmbench_service_models_loaded", "Models held in memory", registry=r)
        self.evictions = Counter(
            "vlmbench_service_model_evictions", "Models evicted to make room", ["model"], registry=r
        )
