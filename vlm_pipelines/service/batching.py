"""Requests for one model that arrive together are answered by one `generate` call.

A batch opens with the first waiting request and closes after `max_wait_s` or at `max_batch_size`
requests, whichever comes first; its requests are grouped by generation config (one `generate` per
config, in arrival order). A model answers one batch (or one stream) at a time, in a worker thread.

A request whose client has gone (its `submit` was cancelled) leaves the queue: it is dropped before its
group starts. Once a group is generating, its `stop` event is set when every one of its clients has gone;
a wrapper that honours it (`model_interface.cancellation`) ends the generation at the next token.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from model_interface import GenerationConfig, GenerationRequest, GenerationResult

BatchFunction = Callable[[list[GenerationRequest], GenerationConfig, threading.Event], list[GenerationResult]]


@dataclass
class _Waiting:
    request: GenerationRequest
    config: GenerationConfig
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(
        self,
        run_batch: BatchFunction,
        *,
        max_batch_size: int = 8,
        max_wait_s: float = 0.02,
        on_queue_change: Callable[[int], None] = lambda depth: None,
        on_batch: Callable[[int], None] = lambda size: None,
        on_dropped: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.on_queue_change = on_queue_change
        self.on_batch = on_batch
        self.on_dropped = on_dropped  # requests whose clients left before their batch started
        self._queue: asyncio.Queue[_Waiting] | None = None
        self._worker: asyncio.Task | None = None

    async def submit(self, request: GenerationRequest, config: GenerationConfig) -> GenerationResult:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._work())
        waiting = _Waiting(request, config, asyncio.get_running_loop().create_future())
        await self._queue.put(waiting)
        self.on_queue_change(self._queue.qsize())
        return await waiting.future

    async def _collect(self) -> list[_Waiting]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        self.on_queue_change(self._queue.qsize())
        return batch

    async def _work(self) -> None:
        while True:
            batch = await self._collect()
            groups: dict[str, list[_Waiting]] = {}
            for waiting in batch:
                groups.setdefault(waiting.config.config_hash, []).append(waiting)
            for group in groups.values():
                await self._run_group(group)

    async def _run_group(self, group: list[_Waiting]) -> None:
        live = [waiting for waiting in group if not waiting.future.done()]
        if len(live) < len(group):
            self.on_dropped(len(group) - len(live))
        if not live:
            return
        stop = threading.Event()

        def client_left(_: asyncio.Future) -> None:
            if all(waiting.future.done() for waiting in live):
                stop.set()

        for waiting in live:
            waiting.future.add_done_callback(client_left)
        self.on_batch(len(live))
        try:
            results = await asyncio.to_thread(
                self.run_batch, [waiting.request for waiting in live], live[0].config, stop
            )
        except Exception as error:  # noqa: BLE001 - each waiting request gets the error
            for waiting in live:
                if not waiting.future.done():
                    waiting.future.set_exception(error)
            return
        for waiting, result in zip(live, results, strict=True):
            if not waiting.future.done():  # the client may have gone (cancelled)
                waiting.future.set_result(result)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
