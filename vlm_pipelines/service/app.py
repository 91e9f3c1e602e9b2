"""The FastAPI app of `vlmbench serve`: OpenAI-compatible chat completions over the model wrappers.

    POST /v1/chat/completions   (SSE with "stream": true)   GET /v1/models   GET /health
    GET /version                GET /metrics (Prometheus)

Non-streamed requests go through the model's `Batcher`; a streamed request runs alone (the wrappers'
`stream` answers one request), between batches. One model answers one call at a time.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from model_interface import GenerationConfig, GenerationRequest, GenerationResult, package_version

from vlm_pipelines.service.batching import Batcher
from vlm_pipelines.service.manager import ModelManager
from vlm_pipelines.service.metrics import ServiceMetrics
from vlm_pipelines.service.protocol import (
    ChatCompletionRequest,
    RequestError,
    chunk,
    completion_response,
    error_body,
    finish_reason,
    generation_inputs,
)

ENDPOINT = "/v1/chat/completions"


class ServiceError(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


class ModelService:
    """The state behind the routes: the manager, a batcher and a call lock per model, the metrics."""

    def __init__(self, manager: ModelManager, *, max_batch_size: int, max_wait_s: float) -> None:
        self.manager = manager
        self.metrics = ServiceMetrics()
        manager.on_evict = lambda name: (self.metrics.evictions.labels(name).inc(), self._count_loaded())
        self.locks = {name: threading.Lock() for name in manager.names}
        self.batchers = {
            name: Batcher(
                lambda requests, config, name=name: self.generate(name, requests, config),
                max_batch_size=max_batch_size,
                max_wait_s=max_wait_s,
                on_queue_change=self.metrics.queue_depth.labels(name).set,
                on_batch=self.metrics.batch_size.labels(name).observe,
            )
            for name in manager.names
        }
        self.started = int(time.time())

    def _count_loaded(self) -> None:
        self.metrics.models_loaded.set(len(self.manager.loaded()))

    def generate(
        self, name: str, requests: list[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        with self.locks[name], self.manager.use(name) as model:
            self._count_loaded()
            return model.generate(requests, config)

    def require(self, name: str) -> None:
        if name not in self.batchers:
            served = ", ".join(self.manager.names)
            raise ServiceError(404, f"model {name!r} is not served here; served: {served}", "model_not_found")

    def record(self, name: str, status: str, started: float, result: GenerationResult | None = None) -> None:
        self.metrics.requests.labels(name, ENDPOINT, status).inc()
        self.metrics.latency.labels(name).observe(time.perf_counter() - started)
        if result is not None:
            self.metrics.tokens.labels(name, "prompt").inc(result.prompt_tokens)
            self.metrics.tokens.labels(name, "completion").inc(result.output_tokens)

    async def complete(self, name: str, request: GenerationRequest, config: GenerationConfig) -> dict:
        started = time.perf_counter()
        result = await self.batchers[name].submit(request, config)
        if result.error:
            self.metrics.errors.labels(name, "model_error").inc()
            self.record(name, "500", started)
            raise ServiceError(500, f"{name} failed on this request: {result.error}", "model_error")
        self.metrics.ttft.labels(name).observe(result.ttft_s)
        self.record(name, "200", started, result)
        return completion_response(name, result, config)

    async def stream(
        self, name: str, request: GenerationRequest, config: GenerationConfig
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        stop = threading.Event()

        def put(kind: str, value: str) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, (kind, value))
            except RuntimeError:  # the event loop has closed (server shutting down)
                pass

        def produce() -> None:
            try:
                with self.locks[name], self.manager.use(name) as model:
                    pieces = model.stream(request, config)
                    try:
                        for piece in pieces:
                            put("piece", piece)
                            if stop.is_set():
                                break
                    finally:
                        pieces.close()  # a client that left stops the generation
                put("end", "")
            except Exception as error:  # noqa: BLE001 - reported in the stream
                put("error", f"{type(error).__name__}: {error}")

        started = time.perf_counter()
        loop.run_in_executor(None, produce)
        request_id = request.request_id or ""
        pieces = 0
        try:
            yield _sse(chunk(request_id, name, {"role": "assistant", "content": ""}))
            while True:
                kind, value = await events.get()
                if kind == "piece":
                    if pieces == 0:
                        self.metrics.ttft.labels(name).observe(time.perf_counter() - started)
                    pieces += 1
                    yield _sse(chunk(request_id, name, {"content": value}))
                elif kind == "end":
                    yield _sse(chunk(request_id, name, {}, finish_reason(pieces, config)))
                    self.metrics.tokens.labels(name, "completion").inc(pieces)
                    self.record(name, "200", started)
                    break
                else:
                    self.metrics.errors.labels(name, "model_error").inc()
                    self.record(name, "500", started)
                    yield _sse(error_body(f"{name} failed on this request: {value}", "model_error", 500))
                    break
            yield "data: [DONE]\n\n"
        finally:
            stop.set()


def create_app(manager: ModelManager, *, max_batch_size: int = 8, max_wait_s: float = 0.02) -> FastAPI:
    service = ModelService(manager, max_batch_size=max_batch_size, max_wait_s=max_wait_s)
    app = FastAPI(title="vlmbench model service", version=package_version("vlm-pipelines"))
    app.state.service = service

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(error.message, error.kind, error.status), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'][1:])}: {item['msg']}" for item in error.errors()
        )
        return JSONResponse(error_body(problems, "invalid_request_error", 400), status_code=400)

    @app.post(ENDPOINT, response_model=None)
    async def chat_completions(body: ChatCompletionRequest) -> Mapping[str, Any] | StreamingResponse:
        service.require(body.model)
        try:
            request, config = generation_inputs(body)
        except RequestError as error:
            service.metrics.errors.labels(body.model, "bad_request").inc()
            service.metrics.requests.labels(body.model, ENDPOINT, "400").inc()
            raise ServiceError(400, str(error), "invalid_request_error") from None
        if body.stream:
            return StreamingResponse(
                service.stream(body.model, request, config), media_type="text/event-stream"
            )
        return await service.complete(body.model, request, config)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        identities = await asyncio.to_thread(lambda: {name: manager.identity(name) for name in manager.names})
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": service.started, "owned_by": "vlmbench",
                 "vlmbench": identities[name]}
                for name in manager.names
            ],
        }  # fmt: skip

    @app.get("/health")
    async def health() -> dict[str, Any]:
        loaded = set(manager.loaded())
        return {"status": "ok", "models": {name: {"loaded": name in loaded} for name in manager.names}}

    @app.get("/version")
    async def version() -> dict[str, str]:
        return {"version": f"vlmbench {package_version('vlm-pipelines')}"}

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def serve(entries: Mapping, host: str, port: int, **options: Any) -> None:
    """Runs the service until interrupted (`vlmbench serve`)."""
    import uvicorn

    manager_options = {key: options.pop(key) for key in ("max_loaded", "min_free_bytes") if key in options}
    app = create_app(ModelManager(entries, **manager_options), **options)
    uvicorn.run(app, host=host, port=port, log_level="warning")
