"""The interface every model wrapper implements."""

from __future__ import annotations

import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from model_interface.timing import Stopwatch, peak_memory_bytes
from model_interface.types import GenerationConfig, GenerationRequest, GenerationResult


class ModelUnavailableError(RuntimeError):
    """The model cannot run here (weights or dependencies missing); the message says how to fix it."""


@dataclass
class PreparedBatch:
    """A batch whose device-free work is done (images decoded, prompts rendered, inputs encoded), so a
    caller can prepare the next batch while this one generates. `payload` is the model's own."""

    requests: list[GenerationRequest]
    payload: Any = None
    seconds: float = 0.0  # the time the preparation took (part of each request's latency)


class VisionLanguageModel(ABC):
    """A document model. Weights load lazily on first use and are kept for reuse.

    Subclasses implement `_load` and `_generate_batch`; `stream` has a non-streaming fallback. A model whose
    batches have device-free work worth overlapping implements `_prepare_batch` and `_generate_prepared`.
    """

    def __init__(self, model_id: str, package_version: str, params: BaseModel | None = None) -> None:
        self.model_id = model_id
        self.package_version = package_version
        self.params = params
        self._loaded = False
        self._load_lock = threading.Lock()
        self.load_seconds: float | None = None  # how long loading took (imports and weights), once loaded

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        with self._load_lock:
            if not self._loaded:
                started = time.perf_counter()
                self._load()
                self.load_seconds = time.perf_counter() - started
                self._loaded = True

    def prepare(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig | None = None
    ) -> PreparedBatch:
        """Does the batch's device-free work now (thread-safe with a `generate` of another batch)."""
        config = config or GenerationConfig()
        self.load()
        started = time.perf_counter()
        payload = self._prepare_batch(list(requests), config)
        return PreparedBatch(list(requests), payload, time.perf_counter() - started)

    def _prepare_batch(self, requests: list[GenerationRequest], config: GenerationConfig) -> Any:
        """The model's preprocessed batch; None (the default) when there is nothing to do ahead."""
        return None

    def _generate_prepared(self, batch: PreparedBatch, config: GenerationConfig) -> list[GenerationResult]:
        raise NotImplementedError  # only called when _prepare_batch returned a payload

    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def _generate_batch(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]: ...

    def generate(
        self, requests: Sequence[GenerationRequest] | PreparedBatch, config: GenerationConfig | None = None
    ) -> list[GenerationResult]:
        """Answers a batch (requests, or a batch `prepare` made). If the batch fails as a whole, each request
        is retried alone, so one bad request (a corrupt image, say) becomes one failed result instead of a
        lost batch."""
        config = config or GenerationConfig()
        prepared = requests if isinstance(requests, PreparedBatch) else None
        requests = prepared.requests if prepared is not None else list(requests)
        if not requests:
            return []
        self.load()
        try:
            if prepared is not None and prepared.payload is not None:
                return self._generate_prepared(prepared, config)
            return self._generate_batch(list(requests), config)
        except Exception:
            if len(requests) == 1:
                return [self.failed_result(requests[0], traceback.format_exc(limit=3))]
        results = []
        for request in requests:
            try:
                results.extend(self._generate_batch([request], config))
            except Exception:
                results.append(self.failed_result(request, traceback.format_exc(limit=3)))
        return results

    def stream(self, request: GenerationRequest, config: GenerationConfig | None = None) -> Iterator[str]:
        """Yields text pieces as they are produced. Default: one piece, the whole answer."""
        result = self.generate([request], config)[0]
        if result.error:
            raise RuntimeError(result.error)
        yield result.text

    def failed_result(self, request: GenerationRequest, error: str) -> GenerationResult:
        return GenerationResult(
            text="",
            model_id=self.model_id,
            package_version=self.package_version,
            request_id=request.request_id,
            error=error.strip()[-2000:],
        )

    def make_result(
        self,
        request: GenerationRequest,
        text: str,
        *,
        prompt_tokens: int,
        output_tokens: int,
        stopwatch: Stopwatch,
        **extra: Any,
    ) -> GenerationResult:
        """Builds a result with consistent timing fields from a stopped stopwatch."""
        return GenerationResult(
            text=text,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            latency_s=stopwatch.latency_s,
            ttft_s=min(stopwatch.ttft_s, stopwatch.latency_s),
            tpot_s=stopwatch.tpot_s(output_tokens),
            peak_memory_bytes=peak_memory_bytes(),
            model_id=self.model_id,
            package_version=self.package_version,
            request_id=request.request_id,
            **extra,
        )
