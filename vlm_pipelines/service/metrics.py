"""Prometheus metrics of the model service (one registry per app, so tests can run several), and the
middleware that counts every HTTP request once, whatever became of it.

`vlmbench_service_requests_total{model, endpoint, status}`: `status` is the HTTP status sent, or 499 when
the client left before its answer was complete (nginx's "client closed request"); `model` is the served
model the request named ("" for other routes and unknown models); `endpoint` is the route ("other" for
paths the service does not have).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
CLIENT_CLOSED = "499"
# Keys of the ASGI scope's "state" (Starlette's `request.state`) the routes fill in for the count.
MODEL_KEY = "vlmbench_model"
STATUS_KEY = "vlmbench_status"


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "vlmbench_service_requests",
            "HTTP requests, by outcome",
            ["model", "endpoint", "status"],
            registry=r,
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
        )  # kind: prompt or completion (generations stopped early included)
        self.errors = Counter(
            "vlmbench_service_errors", "Failed completions", ["model", "kind"], registry=r
        )  # kind: bad_request, model_error, model_unavailable
        self.cancelled = Counter(
            "vlmbench_service_cancelled", "Completions stopped because their client left", ["model", "stage"],
            registry=r,
        )  # fmt: skip
        # stage: queued (dropped before generating), generating (a generation stopped), streaming
        self.in_progress = Gauge(
            "vlmbench_service_completions_in_progress", "Completions being answered", ["model"], registry=r
        )
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


class CountRequests:
    """ASGI middleware (outermost but for Starlette's own): counts each HTTP request when it ends."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, endpoints: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = {"status": "500", "started": False}  # an exception before any answer: Starlette's 500

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"], sent["started"] = str(message["status"]), True
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        except ClientDisconnect:
            sent["status"] = CLIENT_CLOSED
        except OSError:
            if not sent["started"]:
                raise
            sent["status"] = CLIENT_CLOSED  # the client left while its answer was being sent
        finally:
            state = scope.get("state", {})
            endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
            status = state.get(STATUS_KEY) or sent["status"]
            self.metrics.requests.labels(state.get(MODEL_KEY, ""), endpoint, status).inc()
