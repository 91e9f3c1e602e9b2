"""Streams answers for chats that run at the same time: one model, one batch, each client its own stream.

`StreamingBatcher` owns one Hugging Face text model and one worker thread. Requests that arrive together are
prefilled and decoded as one left-padded batch; a request that arrives while a batch is decoding joins it:
the batch stops after the current token and restarts with every row's prompt plus the tokens it has so far
(re-prefilled), so a second user waits one prefill for a first token, not for the first user's whole answer.
Each row ends on its own (end of sequence, its token budget, a stop string, or its client leaving); when a
client leaves, its row stops at the next token.

Greedy answers equal single-user answers: a row holds its own token ids, left padding is masked, and the
text is decoded from the ids as `HFModel.stream` does. Only requests with the same decoding settings (all
but the token budget and stop strings) share a batch, and a request never overtakes an older waiting one with
other settings, so every stream starts under steady load. If the worker fails (say, a failing event hook),
every waiting and running stream raises that error and the next request starts a new worker. The worker runs
`generate` in one thread, so the chat's torch thread count (`ui.engine.chat_threads`) applies to the whole
batch.

`ChatStreams` picks the batcher for models it can batch (text-only Hugging Face models, requests without
images) and otherwise streams through `model.stream`, one generation per model at a time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count, takewhile
from typing import Any

from model_interface import GenerationConfig, GenerationRequest

EventHook = Callable[[str, int, int], None]  # (event, request number, tokens so far); events: queued,
# batch (a generate over this request starts), first_token, finished
_END = object()


@dataclass(eq=False)
class _Row:
    number: int
    prompt_ids: list[int]
    config: GenerationConfig
    pieces: queue.Queue = field(default_factory=queue.Queue)  # text pieces, then _END or an exception
    generated: list[int] = field(default_factory=list)
    sent_chars: int = 0
    left: bool = False  # the client stopped reading
    done: bool = False

    def finish(self, outcome: Any = _END) -> None:
        if not self.done:
            self.done = True
            self.pieces.put(outcome)


def _batch_key(config: GenerationConfig) -> str:
    """Requests may share a batch when their settings differ only in token budget and stop strings."""
    return config.model_copy(update={"max_new_tokens": 1, "stop": ()}).config_hash


class StreamingBatcher:
    """Concurrent streams for one `HFModel` text LM (see the module docstring)."""

    def __init__(self, model: Any, *, max_batch_size: int = 8, on_event: EventHook | None = None) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.on_event = on_event or (lambda event, number, tokens: None)
        self._numbers = count(1)
        self._waiting: list[_Row] = []
        self._active: list[_Row] = []
        self._condition = threading.Condition()
        self._worker: threading.Thread | None = None

    def stream(self, request: GenerationRequest, config: GenerationConfig | None = None) -> Iterator[str]:
        """Yields text pieces as they are decoded; their concatenation equals `model.stream`'s for greedy
        decoding. Closing the iterator early stops this request's generation."""
        from model_hf.adapter import stream_until_stop

        config = config or GenerationConfig()
        self.model.load()
        text, images = self.model._prepare(request)
        prompt_ids = self.model._encode([text], [images])["input_ids"][0].tolist()
        row = _Row(next(self._numbers), prompt_ids, config)
        with self._condition:
            self._waiting.append(row)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="chat-batcher", daemon=True)
                self._worker.start()
            self._condition.notify()
        self.on_event("queued", row.number, 0)
        try:
            yield from stream_until_stop(self._pieces(row), config.stop)
        finally:
            row.left = True

    @staticmethod
    def _pieces(row: _Row) -> Iterator[str]:
        while (item := row.pieces.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def _joiners(self) -> list[_Row]:
        """Waiting rows that may join the active batch now (called holding the condition)."""
        room = self.max_batch_size - len(self._active)
        if not self._waiting or room <= 0:
            return []
        key = _batch_key((self._active or self._waiting)[0].config)
        # FIFO: a waiting row with other settings is not overtaken by later rows that could join
        return list(takewhile(lambda row: _batch_key(row.config) == key, self._waiting))[:room]

    def _work(self) -> None:
        try:
            self._serve()
        except BaseException as error:  # noqa: BLE001 - e.g. a failing on_event hook
            self._fail_all(error)

    def _fail_all(self, error: BaseException) -> None:
        """Ends every waiting and active row with `error` (their streams raise it); the next request
        starts a new worker. No events: the hook may be what failed."""
        with self._condition:
            rows = self._active + self._waiting
            self._active, self._waiting = [], []
            self._worker = None
        for row in rows:
            row.finish(error)

    def _serve(self) -> None:
        while True:
            with self._condition:
                while not self._active and not self._waiting:
                    self._condition.wait()
                for row in self._joiners():
                    self._waiting.remove(row)
                    self._active.append(row)
            for row in self._active:
                if row.left:
                    self._finish(row)
            self._active = [row for row in self._active if not row.done]
            if not self._active:
                continue
            try:
                self._generate(self._active)
            except BaseException as error:  # noqa: BLE001 - every client of the batch gets the error
                for row in self._active:
                    self._finish(row, error)
            self._active = [row for row in self._active if not row.done]

    def _generate(self, rows: list[_Row]) -> None:
        """One `generate` over `rows` until every row ends or a waiting request can join."""
        import torch

        model = self.model
        sequences = [row.prompt_ids + row.generated for row in rows]
        width = max(len(sequence) for sequence in sequences)
        pad = model._pad_token_id()
        pad = pad if pad is not None else 0
        input_ids = [[pad] * (width - len(sequence)) + sequence for sequence in sequences]
        mask = [[0] * (width - len(sequence)) + [1] * len(sequence) for sequence in sequences]
        inputs = {
            "input_ids": torch.tensor(input_ids, device=model._model.device),
            "attention_mask": torch.tensor(mask, device=model._model.device),
        }
        budget = max(row.config.max_new_tokens - len(row.generated) for row in rows)
        config = rows[0].config.model_copy(update={"max_new_tokens": budget, "stop": ()})
        for row in rows:
            self.on_event("batch", row.number, len(row.generated))
        step = _step_criteria(self, rows)
        model._run_generate(inputs, config, streamer=None, cancel=step)
        if not step.restart:  # generate ended: every row has its answer
            for row in rows:
                self._finish(row)

    def _finish(self, row: _Row, outcome: Any = _END) -> None:
        if not row.done:
            row.finish(outcome)
            self.on_event("finished", row.number, len(row.generated))

    def _has_joiners(self) -> bool:
        with self._condition:
            return bool(self._joiners())


def _step_criteria(batcher: StreamingBatcher, rows: list[_Row]) -> Any:
    from transformers import StoppingCriteria

    class Step(StoppingCriteria):
        """Runs after each decoding step (the new tokens are `input_ids[:, -1]`): hands each row its text,
        ends rows, and ends the whole batch when a waiting request can join it."""

        def __init__(self) -> None:
            self.restart = False
            model = batcher.model
            eos = model._model.generation_config.eos_token_id
            self.eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
            self.eos.add(model._tokenizer.eos_token_id)

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            for row, token in zip(rows, input_ids[:, -1].tolist(), strict=True):
                if row.done:
                    continue
                if row.left or token in self.eos:
                    batcher._finish(row)
                    continue
                row.generated.append(token)
                self._send(row)
                if len(row.generated) == 1:
                    batcher.on_event("first_token", row.number, 1)
                if len(row.generated) >= row.config.max_new_tokens:
                    batcher._finish(row)
            self.restart = any(not row.done for row in rows) and batcher._has_joiners()
            return torch.tensor(
                [self.restart or row.done for row in rows], dtype=torch.bool, device=input_ids.device
            )

        def _send(self, row: _Row) -> None:
            from model_hf.adapter import first_stop_index

            with batcher.model._tokenizer_lock:
                text = batcher.model._tokenizer.decode(row.generated, skip_special_tokens=True)
            if text.endswith("\ufffd"):  # an incomplete UTF-8 character waits for the next token
                return
            if text[row.sent_chars :]:
                row.pieces.put(text[row.sent_chars :])
                row.sent_chars = len(text)
            if first_stop_index(text, row.config.stop) is not None:
                batcher._finish(row)

    return Step()


class ChatStreams:
    """The chat's generations: a `StreamingBatcher` per Hugging Face text model, and one generation at a
    time through `model.stream` for every other model (vision models, remote models) or a request with
    images."""

    def __init__(self, on_event: EventHook | None = None, *, batch: bool = True) -> None:
        self.on_event = on_event
        self.batch = batch  # False: one generation per model at a time (the old behaviour, for comparison)
        self._batchers: dict[int, StreamingBatcher] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def stream(self, model: Any, request: GenerationRequest, config: GenerationConfig) -> Iterator[str]:
        if self.batch and not request.images and _batchable(model):
            with self._guard:
                batcher = self._batchers.setdefault(
                    id(model), StreamingBatcher(model, on_event=self.on_event)
                )
            yield from batcher.stream(request, config)
            return
        with self._guard:
            lock = self._locks.setdefault(id(model), threading.Lock())
        with lock:  # these wrappers' models are not re-entrant
            yield from model.stream(request, config)


def _batchable(model: Any) -> bool:
    try:
        from model_hf.adapter import HFModel
    except ImportError:
        return False
    if not isinstance(model, HFModel):
        return False
    model.load()
    return not model.is_multimodal
