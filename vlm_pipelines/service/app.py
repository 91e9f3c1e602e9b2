"""The FastAPI app of `vlmbench serve`: OpenAI-compatible chat completions over the model wrappers.

    POST /v1/chat/completions   (SSE with "stream": true)   GET /v1/models   GET /health
    GET /version                GET /metrics (Prometheus)

With an API key (`access`), every route but /health needs `Authorization: Bearer <key>`. Errors are JSON in
OpenAI's shape, 500s included. A client that disconnects stops its generation (`completions`). Every
request is counted in /metrics (`metrics.CountRequests`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from model_interface import GenerationConfig, GenerationRequest, package_version
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from vlm_pipelines.service.access import OPEN_PATHS, authorized
from vlm_pipelines.service.completions import ClientLeft, ModelService, ServiceError, unless_client_leaves
from vlm_pipelines.service.manager import ModelManager
from vlm_pipelines.service.metrics import CLIENT_CLOSED, MODEL_KEY, STATUS_KEY, CountRequests
from vlm_pipelines.service.protocol import (
    MAX_IMAGE_PIXELS,
    ChatCompletionRequest,
    RequestError,
    chunk,
    completion_response,
    error_body,
    finish_reason,
    generation_inputs,
)

ENDPOINT = "/v1/chat/completions"
ENDPOINTS = frozenset({ENDPOINT, "/v1/models", "/health", "/version", "/metrics"})


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _error(status: int, message: str, kind: str, **headers: str) -> JSONResponse:
    return JSONResponse(error_body(message, kind, status), status_code=status, headers=headers or None)


class RequireApiKey:
    """ASGI middleware: 401 for a request without the key (routes in `access.OPEN_PATHS` stay open)."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app, self.key = app, key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            if not authorized(Headers(scope=scope).get("authorization"), self.key):
                message = "missing or wrong API key; send the header 'Authorization: Bearer <key>'"
                response = _error(401, message, "invalid_request_error", **{"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    manager: ModelManager,
    *,
    max_batch_size: int = 8,
    max_wait_s: float = 0.02,
    api_key: str | None = None,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> FastAPI:
    service = ModelService(manager, max_batch_size=max_batch_size, max_wait_s=max_wait_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(manager.close)  # a vLLM engine's processes end with the service

    app = FastAPI(title="vlmbench model service", version=package_version("vlm-pipelines"), lifespan=lifespan)
    app.state.service = service
    if api_key:
        app.add_middleware(RequireApiKey, key=api_key)
    app.add_middleware(CountRequests, metrics=service.metrics, endpoints=ENDPOINTS)  # outermost: counts 401s

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return _error(error.status, error.message, error.kind)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'][1:])}: {item['msg']}" for item in error.errors()
        )
        return _error(400, problems, "invalid_request_error")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        # Starlette re-raises the error after this answer, so the server logs its traceback.
        message = " ".join(f"{type(error).__name__}: {error}".split())[:500]
        return _error(500, f"internal error: {message}", "server_error")

    @app.post(ENDPOINT, response_model=None)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        service.require(body.model)
        setattr(request.state, MODEL_KEY, body.model)
        try:
            inputs = await asyncio.to_thread(generation_inputs, body, max_image_pixels)
        except RequestError as error:
            service.metrics.errors.labels(body.model, "bad_request").inc()
            raise ServiceError(400, str(error), "invalid_request_error") from None
        if body.stream:
            return StreamingResponse(_events(request, body.model, *inputs), media_type="text/event-stream")
        try:
            result = await unless_client_leaves(
                service.complete(body.model, *inputs), request.is_disconnected
            )
        except ClientLeft:
            return _error(int(CLIENT_CLOSED), "the client closed the request", "client_closed_request")
        return JSONResponse(completion_response(body.model, result, inputs[1]))

    async def _events(
        request: Request, name: str, generation: GenerationRequest, config: GenerationConfig
    ) -> AsyncIterator[str]:
        request_id = generation.request_id or ""
        pieces = 0
        finished = False
        try:
            yield _sse(chunk(request_id, name, {"role": "assistant", "content": ""}))
            try:
                async for piece in service.stream(name, generation, config):
                    pieces += 1
                    yield _sse(chunk(request_id, name, {"content": piece}))
                yield _sse(chunk(request_id, name, {}, finish_reason(pieces, config)))
            except ServiceError as error:
                yield _sse(error_body(error.message, error.kind, error.status))
            except Exception as error:  # noqa: BLE001 - reported in the stream (its status is already sent)
                service.metrics.errors.labels(name, "model_error").inc()
                message = f"{name} failed on this request: {type(error).__name__}: {error}"
                yield _sse(error_body(message, "model_error", 500))
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            if not finished:
                setattr(request.state, STATUS_KEY, CLIENT_CLOSED)

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
    """Runs the service until interrupted (`vlmbench serve`). Refuses, before listening, a model that
    cannot run here (a vLLM model without a CUDA GPU, say), with the reason in one line."""
    import uvicorn

    from vlm_pipelines.model_registry import ensure_runnable

    for entry in entries.values():
        ensure_runnable(entry)
    manager_options = {key: options.pop(key) for key in ("max_loaded", "min_free_bytes") if key in options}
    manager = ModelManager(entries, **manager_options)
    for name in manager.names:
        # Resolved before listening (torch's device probe, package versions: seconds on a busy machine), so
        # `/v1/models`, which clients probe with a short timeout, answers at once from the first request.
        manager.identity(name)
    app = create_app(manager, **options)
    uvicorn.run(app, host=host, port=port, log_level="warning")
