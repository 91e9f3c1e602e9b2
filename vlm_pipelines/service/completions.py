"""How the service answers a completion, and stops answering one whose client has gone.

- A wrapper with `agenerate`/`astream` (`AsyncAnswering`: model-vllm's engine) gets every request at once:
  its engine batches them continuously. Cancelling the awaiting task aborts the engine's request.
- Any other wrapper answers one call at a time: non-streamed requests through the model's `Batcher`, a
  streamed request alone, in a worker thread. A batch whose clients have all gone is told to stop
  (`model_interface.cancellation`); a stream stops when its consumer stops reading.

The model is held (never evicted) from the moment a request arrives until it is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar, runtime_checkable

from model_interface import GenerationConfig, GenerationRequest, GenerationResult, ModelUnavailableError
from model_interface.cancellation import cancel_on

from vlm_pipelines.service.batching import Batcher
from vlm_pipelines.service.manager import ModelManager
from vlm_pipelines.service.metrics import ServiceMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")

DISCONNECT_POLL_S = 0.1


class ServiceError(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


@runtime_checkable
class AsyncAnswering(Protocol):
    """A wrapper whose engine takes concurrent requests itself (model-vllm)."""

    async def agenerate(self, request: GenerationRequest, config: GenerationConfig) -> GenerationResult: ...

    def astream(self, request: GenerationRequest, config: GenerationConfig) -> AsyncIterator[str]: ...


class ClientLeft(Exception):
    """The client disconnected before its answer was ready."""


async def unless_client_leaves(work: Awaitable[T], disconnected: Callable[[], Awaitable[bool]]) -> T:
    """`work`'s result; `work` is cancelled (and `ClientLeft` raised) once `disconnected()` says so."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await disconnected():
                raise ClientLeft
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class ModelService:
    """The state behind the routes: the manager, a batcher and a call lock per model, the metrics."""

    def __init__(self, manager: ModelManager, *, max_batch_size: int, max_wait_s: float) -> None:
        self.manager = manager
        self.metrics = ServiceMetrics()
        manager.on_evict = self._evicted
        self.locks = {name: threading.Lock() for name in manager.names}
        self.batchers = {
            name: Batcher(
                lambda requests, config, stop, name=name: self._run_batch(name, requests, config, stop),
                max_batch_size=max_batch_size,
                max_wait_s=max_wait_s,
                on_queue_change=self.metrics.queue_depth.labels(name).set,
                on_batch=self.metrics.batch_size.labels(name).observe,
                on_dropped=self.metrics.cancelled.labels(name, "queued").inc,
            )
            for name in manager.names
        }
        self.started = int(time.time())

    def _evicted(self, name: str) -> None:
        self.metrics.evictions.labels(name).inc()
        self._count_loaded()

    def _count_loaded(self) -> None:
        self.metrics.models_loaded.set(len(self.manager.loaded()))

    def require(self, name: str) -> None:
        if name not in self.batchers:
            served = ", ".join(self.manager.names)
            raise ServiceError(404, f"model {name!r} is not served here; served: {served}", "model_not_found")

    @contextlib.asynccontextmanager
    async def _held(self, name: str):
        """The loaded model, held until the block ends. Loading runs in a thread; a client that leaves
        while it loads releases the model once it has loaded."""
        acquiring = asyncio.ensure_future(asyncio.to_thread(self.manager.acquire, name))
        try:
            model = await asyncio.shield(acquiring)
        except asyncio.CancelledError:
            acquiring.add_done_callback(
                lambda done: done.cancelled() or done.exception() or self.manager.release(name)
            )
            raise
        except ModelUnavailableError as error:
            self.metrics.errors.labels(name, "model_unavailable").inc()
            raise ServiceError(503, f"{name} cannot run here: {error}", "model_unavailable") from None
        self._count_loaded()
        try:
            yield model
        finally:
            self.manager.release(name)

    def _run_batch(
        self, name: str, requests: list[GenerationRequest], config: GenerationConfig, stop: threading.Event
    ) -> list[GenerationResult]:
        """One `generate` call in a worker thread, the model's only call; stops early once `stop` is set."""
        with self.locks[name], self.manager.use(name) as model, cancel_on(stop):
            results = model.generate(requests, config)
        self._count_tokens(name, results)
        if stop.is_set():
            generated = sum(result.output_tokens for result in results)
            self.metrics.cancelled.labels(name, "generating").inc(len(requests))
            log.warning(
                "%s: every client of a batch of %d left; its generation ended after %d tokens (max %d each)",
                name, len(requests), generated, config.max_new_tokens,
            )  # fmt: skip
        return results

    def _count_tokens(self, name: str, results: list[GenerationResult]) -> None:
        self.metrics.tokens.labels(name, "prompt").inc(sum(result.prompt_tokens for result in results))
        self.metrics.tokens.labels(name, "completion").inc(sum(result.output_tokens for result in results))

    async def complete(
        self, name: str, request: GenerationRequest, config: GenerationConfig
    ) -> GenerationResult:
        """The answer to one non-streamed request; cancelling the caller stops its generation."""
        started = time.perf_counter()
        in_progress = self.metrics.in_progress.labels(name)
        in_progress.inc()
        try:
            async with self._held(name) as model:
                if isinstance(model, AsyncAnswering):
                    try:
                        result = await model.agenerate(request, config)
                    except asyncio.CancelledError:
                        self.metrics.cancelled.labels(name, "generating").inc()
                        raise
                    self._count_tokens(name, [result])
                else:
                    result = await self.batchers[name].submit(request, config)
        finally:
            in_progress.dec()
        self.metrics.latency.labels(name).observe(time.perf_counter() - started)
        if result.error:
            self.metrics.errors.labels(name, "model_error").inc()
            raise ServiceError(500, f"{name} failed on this request: {result.error}", "model_error")
        self.metrics.ttft.labels(name).observe(result.ttft_s)
        return result

    async def stream(
        self, name: str, request: GenerationRequest, config: GenerationConfig
    ) -> AsyncIterator[str]:
        """The answer's text pieces; closing the iterator (a client that left) stops the generation."""
        started = time.perf_counter()
        in_progress = self.metrics.in_progress.labels(name)
        in_progress.inc()
        pieces = 0
        try:
            async with self._held(name) as model:
                source = (
                    model.astream(request, config)
                    if isinstance(model, AsyncAnswering)
                    else self._stream_in_thread(name, request, config)
                )
                try:
                    async for piece in source:
                        if pieces == 0:
                            self.metrics.ttft.labels(name).observe(time.perf_counter() - started)
                        pieces += 1
                        yield piece
                finally:
                    await source.aclose()
        except (asyncio.CancelledError, GeneratorExit):
            self.metrics.cancelled.labels(name, "streaming").inc()
            raise
        finally:
            in_progress.dec()
            self.metrics.tokens.labels(name, "completion").inc(pieces)
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)

    async def _stream_in_thread(
        self, name: str, request: GenerationRequest, config: GenerationConfig
    ) -> AsyncIterator[str]:
        """A synchronous wrapper's `stream`, run in a worker thread holding the model's call lock."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        stop = threading.Event()

        def put(kind: str, value: object) -> None:
            with contextlib.suppress(RuntimeError):  # the event loop has closed (server shutting down)
                loop.call_soon_threadsafe(events.put_nowait, (kind, value))

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
                put("end", None)
            except Exception as error:  # noqa: BLE001 - raised in the consumer
                put("error", error)

        loop.run_in_executor(None, produce)
        try:
            while True:
                kind, value = await events.get()
                if kind == "piece":
                    yield str(value)
                elif kind == "end":
                    return
                else:
                    raise value  # type: ignore[misc]
        finally:
            stop.set()
