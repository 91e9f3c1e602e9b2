"""HTTP to an OpenAI-compatible endpoint: one chat completion, streamed (SSE) or not, with timeouts and
retries with exponential backoff. `httpx.Client` is thread-safe, so one client serves every worker."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from model_openai.params import OpenAIClientParams

# A server that is overloaded, restarting or timing out may answer later; anything else will not change.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class EndpointError(RuntimeError):
    """A request failed for good (after its retries, or with a non-retryable answer)."""


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    output_tokens: int
    ttft_s: float  # to the first content piece (streaming); the whole latency otherwise
    latency_s: float  # of the attempt that succeeded
    attempts: int


def retry_delay(
    attempt: int,
    params: OpenAIClientParams,
    retry_after: str | None,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds before retry `attempt` (0-based): the server's `Retry-After` (seconds) when it gives one,
    else `backoff_s * 2**attempt` capped at `backoff_max_s`, scaled by a jitter in [0.5, 1)."""
    if retry_after is not None:
        try:
            return min(max(float(retry_after), 0.0), params.backoff_max_s)
        except ValueError:
            pass  # an HTTP date: fall back to our own backoff
    return min(params.backoff_s * 2**attempt, params.backoff_max_s) * (0.5 + jitter() / 2)


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    return str(error)[:500]


class Endpoint:
    def __init__(self, params: OpenAIClientParams, client: httpx.Client | None = None) -> None:
        self.params = params
        limits = httpx.Limits(
            max_connections=params.max_concurrency, max_keepalive_connections=params.max_concurrency
        )
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(params.timeout_s, connect=params.connect_timeout_s), limits=limits
        )

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    @property
    def headers(self) -> dict[str, str]:
        key = os.environ.get(self.params.api_key_env, "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, url: str, timeout_s: float | None = None) -> httpx.Response:
        return self.client.get(url, headers=self.headers, timeout=timeout_s or self.params.connect_timeout_s)

    def complete(self, body: dict[str, Any]) -> Completion:
        pieces = self.pieces(body)
        while True:
            try:
                next(pieces)
            except StopIteration as done:
                return done.value

    def pieces(self, body: dict[str, Any]) -> Generator[str, None, Completion]:
        """Yields the answer's text pieces as they arrive; returns the Completion. An attempt that fails
        with a retryable error is retried, unless it already yielded text (a consumer cannot take it back)."""
        url = f"{self.params.base_url}/chat/completions"
        attempt = 0
        while True:
            yielded = 0
            try:
                attempt_pieces = self._attempt(url, body)
                while True:
                    try:
                        piece = next(attempt_pieces)
                    except StopIteration as done:
                        text, prompt_tokens, output_tokens, ttft_s, latency_s = done.value
                        return Completion(text, prompt_tokens, output_tokens, ttft_s, latency_s, attempt + 1)
                    yielded += 1
                    yield piece
            except _RetryableError as error:
                if yielded or attempt >= self.params.max_retries:
                    tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
                    raise EndpointError(f"{url}: {error} ({tries})") from None
                time.sleep(retry_delay(attempt, self.params, error.retry_after))
                attempt += 1

    def _attempt(self, url: str, body: dict[str, Any]) -> Generator[str, None, tuple]:
        started = time.perf_counter()
        try:
            with self.client.stream("POST", url, json=body, headers=self.headers) as response:
                if response.status_code != 200:
                    response.read()
                    message = f"HTTP {response.status_code}: {_error_message(response)}"
                    if response.status_code in RETRYABLE_STATUS:
                        raise _RetryableError(message, response.headers.get("retry-after"))
                    raise EndpointError(f"{url}: {message}")
                if not body.get("stream"):
                    response.read()
                    return _parse_completion(response.json(), started)
                return (yield from _read_events(response, started))
        except httpx.TransportError as error:  # connect/read timeouts, refused or dropped connections
            raise _RetryableError(f"{type(error).__name__}: {error}") from None


def _parse_completion(payload: dict[str, Any], started: float) -> tuple:
    latency_s = time.perf_counter() - started
    choice = payload["choices"][0]
    text = choice["message"].get("content") or ""
    usage = payload.get("usage") or {}
    return (
        text,
        int(usage.get("prompt_tokens", 0)),
        int(usage.get("completion_tokens", 0)),
        latency_s,
        latency_s,
    )


def _read_events(response: httpx.Response, started: float) -> Generator[str, None, tuple]:
    """Server-sent events: `data: {chunk}` lines up to `data: [DONE]`; usage in the last chunk."""
    text_pieces: list[str] = []
    first_piece_at: float | None = None
    usage: dict[str, Any] = {}
    chunks_with_text = 0
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, `:` keep-alive comments, `event:` lines
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise EndpointError(f"{response.url}: the stream reported an error: {message}")
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                if first_piece_at is None:
                    first_piece_at = time.perf_counter()
                chunks_with_text += 1
                text_pieces.append(piece)
                yield piece
    finished = time.perf_counter()
    ttft_s = (first_piece_at or finished) - started
    # Without usage (a server that ignores include_usage), each content chunk is one token, as vLLM sends them.
    output_tokens = int(usage.get("completion_tokens", chunks_with_text))
    return "".join(text_pieces), int(usage.get("prompt_tokens", 0)), output_tokens, ttft_s, finished - started
