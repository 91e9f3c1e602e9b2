"""`OpenAIClientModel`: a model answered by an OpenAI-compatible endpoint, behind the model contract.

- A batch is sent as concurrent requests (at most `max_concurrency` in flight), never one after another.
- A request that fails (bad image, HTTP error, timeout after its retries) fails alone, with the reason.
- Timing is the client's: latency of the attempt that succeeded, TTFT to the first streamed piece.
  `peak_memory_bytes` is 0: the model's memory is the server's (its `/metrics` says more).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from model_interface import (
    GenerationConfig,
    GenerationRequest,
    GenerationResult,
    Stopwatch,
    VisionLanguageModel,
)

from model_openai.messages import chat_messages, completion_body
from model_openai.params import OpenAIClientParams
from model_openai.transport import Completion, Endpoint, EndpointError


class OpenAIClientModel(VisionLanguageModel):
    params: OpenAIClientParams

    def __init__(self, model_id: str, package_version: str, params: OpenAIClientParams) -> None:
        super().__init__(model_id, package_version, params)
        self._endpoint: Endpoint | None = None
        # The bound holds across batches and callers (a pipeline run and the chat sharing one model).
        self._in_flight = threading.BoundedSemaphore(params.max_concurrency)

    def _load(self) -> None:
        self._endpoint = Endpoint(self.params)

    @property
    def endpoint(self) -> Endpoint:
        self.load()
        assert self._endpoint is not None
        return self._endpoint

    def _body(self, request: GenerationRequest, config: GenerationConfig, stream: bool) -> dict:
        messages = chat_messages(request, request.load_images())
        return completion_body(self.params.served_model, messages, config, stream=stream)

    def _answer(self, request: GenerationRequest, config: GenerationConfig) -> GenerationResult:
        try:
            with self._in_flight:
                completion = self.endpoint.complete(self._body(request, config, self.params.stream))
        except EndpointError as error:
            return self.failed_result(request, str(error))
        except Exception as error:  # an unreadable image, a malformed answer: this request only
            return self.failed_result(request, f"{type(error).__name__}: {error}")
        return self._result(request, completion)

    def _result(self, request: GenerationRequest, completion: Completion) -> GenerationResult:
        result = self.make_result(
            request,
            completion.text,
            prompt_tokens=completion.prompt_tokens,
            output_tokens=completion.output_tokens,
            stopwatch=Stopwatch(
                started=0.0, first_token_at=completion.ttft_s, finished_at=completion.latency_s
            ),
        )
        return result.model_copy(update={"peak_memory_bytes": 0})

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        workers = min(self.params.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-client") as pool:
            return list(pool.map(lambda request: self._answer(request, config), requests))

    def stream(self, request: GenerationRequest, config: GenerationConfig | None = None) -> Iterator[str]:
        """The endpoint's pieces as they arrive (retried only before the first piece)."""
        config = config or GenerationConfig()
        try:
            yield from self.endpoint.pieces(self._body(request, config, stream=True))
        except EndpointError as error:
            raise RuntimeError(str(error)) from None
