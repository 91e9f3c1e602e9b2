"""A stand-in for vLLM's CUDA-bound engine, for tests on machines without a GPU (here and in the model
service's tests). Only the engine is replaced: the adapter's loop, request handling, cancellation and
timing run for real.

`StandInEngine` answers each conversation with "echo: <its question>", one word per token, and records
what it was asked: the requests it started, those still running, those aborted. `stand_in_vllm()` is a
`vllm` module holding it (for `sys.modules`), with recording `SamplingParams` and `AsyncEngineArgs`.
"""

from __future__ import annotations

import asyncio
import threading
import time
import types
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar


def question_of(conversation: list[dict[str, Any]]) -> str:
    content = conversation[-1]["content"]
    return content if isinstance(content, str) else content[-1]["text"]


def namespace_output(
    request_id: str, text: str, token_ids: list[int], prompt_tokens: int, finished: bool
) -> Any:
    """A `vllm.outputs.RequestOutput` look-alike (the attributes the adapter reads)."""
    return SimpleNamespace(
        request_id=request_id,
        prompt_token_ids=list(range(prompt_tokens)),
        outputs=[SimpleNamespace(text=text, token_ids=token_ids)],
        finished=finished,
    )


class StandInRenderer:
    """Hands the conversation through as the engine input (vLLM's real renderer is tested on its own)."""

    class _TokenizeParams:
        def with_kwargs(self, **kwargs: Any) -> dict[str, Any]:
            return kwargs

    default_chat_tok_params = _TokenizeParams()

    async def render_chat_async(self, conversations: list, chat_params: Any, tok_params: Any) -> tuple:
        return conversations, [
            {"conversation": conversation, "chat_params": chat_params, "tokenize": tok_params}
            for conversation in conversations
        ]


@dataclass
class StandInEngine:
    args: Any
    renderer: StandInRenderer = field(default_factory=StandInRenderer)
    started: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    aborted: list[str] = field(default_factory=list)
    most_running: int = 0
    shut_down: bool = False
    first_token: threading.Event = field(default_factory=threading.Event)
    abort_seen: threading.Event = field(default_factory=threading.Event)

    instances: ClassVar[list[StandInEngine]] = []
    # Set by a test: seconds between tokens; requests held back until this many run at once (None: none).
    token_interval_s: ClassVar[float] = 0.0
    hold_until_running: ClassVar[int | None] = None
    hold_deadline_s: ClassVar[float] = 60.0
    make_output: ClassVar[Callable[..., Any]] = staticmethod(namespace_output)

    @classmethod
    def from_engine_args(cls, args: Any) -> StandInEngine:
        engine = cls(args)
        cls.instances.append(engine)
        return engine

    async def generate(
        self, prompt: dict[str, Any], sampling_params: Any, request_id: str
    ) -> AsyncIterator[Any]:
        """Cumulative outputs (vLLM's default output kind), one word more each time."""
        if request_id in self.running:
            raise ValueError(f"request id {request_id} is already running")
        self.started.append(request_id)
        self.running.add(request_id)
        self.most_running = max(self.most_running, len(self.running))
        try:
            await self._hold()
            words = f"echo: {question_of(prompt['conversation'])}".split(" ")
            max_tokens = sampling_params.max_tokens
            if self.token_interval_s:
                words = (words * max_tokens)[:max_tokens]  # a long answer, paced: time to leave
            words = words[:max_tokens]
            prompt_tokens = len(prompt["conversation"])
            for count in range(1, len(words) + 1):
                await asyncio.sleep(self.token_interval_s)
                self.first_token.set()
                yield self.make_output(
                    request_id,
                    " ".join(words[:count]),
                    list(range(count)),
                    prompt_tokens,
                    count == len(words),
                )
        finally:
            self.running.discard(request_id)

    async def _hold(self) -> None:
        if self.hold_until_running is None:
            return
        deadline = time.monotonic() + self.hold_deadline_s
        while self.most_running < self.hold_until_running:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.most_running} requests ever ran at once")
            await asyncio.sleep(0.01)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
        self.abort_seen.set()

    def shutdown(self) -> None:
        self.shut_down = True


class RecordedArgs:
    """Stands in for `SamplingParams` and `AsyncEngineArgs`: keeps its keyword arguments (also as attributes)."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.__dict__.update(kwargs)


def stand_in_vllm() -> dict[str, types.ModuleType]:
    """`vllm` and `vllm.renderers` modules for `sys.modules`, with `StandInEngine` as the engine."""
    vllm = types.ModuleType("vllm")
    vllm.AsyncLLMEngine = StandInEngine
    vllm.AsyncEngineArgs = RecordedArgs
    vllm.SamplingParams = RecordedArgs
    renderers = types.ModuleType("vllm.renderers")
    renderers.ChatParams = RecordedArgs
    vllm.renderers = renderers
    return {"vllm": vllm, "vllm.renderers": renderers}
