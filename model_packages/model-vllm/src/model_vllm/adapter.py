"""`VLLMModel`: a vision-language model served by vLLM's async engine (`vllm.AsyncLLMEngine`), behind the
`VisionLanguageModel` contract.

- vllm is imported in `_load` only: importing this module is cheap. The engine (weights plus a
  preallocated KV-cache pool, in engine processes of its own) starts on the first use and is kept until
  `close()`. It needs a CUDA GPU; without one, loading fails with one line saying so.
- The engine lives on an event loop of its own, in a daemon thread. Every request goes to it at once, so
  requests share vLLM's continuous batching whoever sends them: `generate` (a batch, from any thread),
  `stream`, and `agenerate` / `astream` (from any event loop: the model service).
- Cancelling `agenerate`, closing `astream` or `stream` early aborts the engine's request.
- A request whose images cannot be opened (or that has too many) fails alone before vLLM sees it; so does
  one vLLM refuses (a prompt over max_model_len, say).
- Timing per request: TTFT is when its first token arrives, latency when its last does, both from the
  moment the request was handed to the adapter (image loading and prompt rendering included).
- Memory: vLLM preallocates `gpu_memory_utilization` of each GPU in its worker processes, so this
  process's `torch.cuda.max_memory_allocated` says nothing. `peak_memory_bytes` is the memory in use on
  the engine's GPUs after the request (`torch.cuda.mem_get_info`, every process on those devices).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from model_interface import (
    GenerationConfig,
    GenerationRequest,
    GenerationResult,
    ModelUnavailableError,
    Stopwatch,
    VisionLanguageModel,
)

from model_vllm.checkpoints import checkpoint_location, hidden_mistral_common_problem
from model_vllm.inputs import conversation_for, sampling_kwargs
from model_vllm.params import VLLMParams, engine_kwargs
from model_vllm.rendering import engine_input

PACKAGE = "model-vllm"
INSTALL_HINT = "install the vllm extra: uv sync --extra vllm"
T = TypeVar("T")
_END = object()


def gpu_memory_in_use_bytes(device_count: int) -> int | None:
    """Bytes in use on CUDA devices 0..device_count-1 (all processes), or None without CUDA."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    in_use = 0
    for device in range(min(device_count, torch.cuda.device_count())):
        free, total = torch.cuda.mem_get_info(device)
        in_use += total - free
    return in_use


def cuda_device_count() -> int:
    """CUDA devices this process may use, from NVML (`nvidia-ml-py`) or `nvidia-smi -L`, within
    CUDA_VISIBLE_DEVICES. No torch import: the availability check runs where definitions load."""
    found = 0
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            found = pynvml.nvmlDeviceGetCount()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML library or no driver: ask nvidia-smi
        smi = shutil.which("nvidia-smi")
        if smi is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
                if listed.returncode == 0:
                    found = sum(line.startswith("GPU ") for line in listed.stdout.splitlines())
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        found = min(found, len([device for device in visible.split(",") if device.strip()]))
    return found


def gpu_problem(tensor_parallel_size: int) -> str | None:
    """Why vLLM cannot start here for lack of CUDA GPUs (None when it can)."""
    devices = cuda_device_count()
    if devices == 0:
        return "vLLM needs a CUDA GPU; none was found"
    if devices < tensor_parallel_size:
        return f"needs {tensor_parallel_size} CUDA GPUs (tensor_parallel_size), found {devices}"
    return None


class VLLMModel(VisionLanguageModel):
    params: VLLMParams

    def __init__(self, model_id: str, package_version: str, params: VLLMParams) -> None:
        super().__init__(model_id, package_version, params)
        self._engine: Any = None
        self._sampling_params_type: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # The engine and its loop

    def _load(self) -> None:
        try:
            import vllm
        except ImportError as error:
            raise ModelUnavailableError(f"{self.model_id}: vllm is not installed; {INSTALL_HINT}") from error
        location = checkpoint_location(self.params.model_path)
        problem = gpu_problem(self.params.tensor_parallel_size) or hidden_mistral_common_problem(location)
        if problem:
            raise ModelUnavailableError(f"{self.model_id}: {problem}")
        self._sampling_params_type = vllm.SamplingParams
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=f"vllm-{self.model_id}", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        # A cached Hub checkpoint is passed as its folder, so an offline machine never waits on the Hub.
        args = vllm.AsyncEngineArgs(**engine_kwargs(self.params, model=location))

        async def start() -> Any:  # on the engine's loop, where its output handler will run
            return vllm.AsyncLLMEngine.from_engine_args(args)

        try:
            self._engine = self._on_engine_loop(start()).result()
        except BaseException:
            self._stop_loop()
            raise

    def close(self) -> None:
        """Shuts the engine down (its processes and GPU memory) and stops its loop; a later use loads again."""
        with self._load_lock:
            if self._engine is not None:
                engine, self._engine = self._engine, None

                async def shut_down() -> None:
                    engine.shutdown()

                self._on_engine_loop(shut_down()).result()
            self._stop_loop()
            self._loaded = False

    def _stop_loop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
        self._loop = self._thread = None

    def _on_engine_loop(self, coroutine: Coroutine[Any, Any, T]) -> Any:
        """Runs `coroutine` on the engine's loop; a `concurrent.futures.Future` whose cancel cancels it."""
        assert self._loop is not None, "load() first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    # One request, on the engine's loop

    async def _answer(
        self,
        request: GenerationRequest,
        config: GenerationConfig,
        on_piece: Callable[[str], None] | None = None,
    ) -> GenerationResult:
        stopwatch = Stopwatch()
        try:
            conversation = await asyncio.to_thread(conversation_for, request, self.params.limit_images)
            prompt = await engine_input(self._engine.renderer, conversation)
        except Exception as error:  # a bad image, or a prompt vLLM refuses: this request fails alone
            return self.failed_result(request, f"{type(error).__name__}: {error}")
        request_id = f"{request.request_id or 'request'}-{uuid.uuid4().hex[:12]}"  # unique in the engine
        sampling_params = self._sampling_params_type(**sampling_kwargs(config))
        text, token_count, prompt_tokens = "", 0, 0
        try:
            # Each output holds the whole completion so far (vLLM's default, CUMULATIVE).
            async for output in self._engine.generate(prompt, sampling_params, request_id):
                completion = output.outputs[0]
                if len(completion.token_ids) > token_count:
                    stopwatch.mark_first_token()
                    token_count = len(completion.token_ids)
                new_text, text = completion.text[len(text) :], completion.text
                if new_text and on_piece is not None:
                    on_piece(new_text)
                prompt_tokens = len(output.prompt_token_ids or ())
        except asyncio.CancelledError:
            await self._engine.abort(request_id)  # the caller left: free the engine's slot now
            raise
        except Exception as error:
            return self.failed_result(request, f"{type(error).__name__}: {error}")
        stopwatch.stop()
        result = self.make_result(
            request, text, prompt_tokens=prompt_tokens, output_tokens=token_count, stopwatch=stopwatch
        )
        memory_in_use = gpu_memory_in_use_bytes(self.params.tensor_parallel_size)
        if memory_in_use is not None:
            result = result.model_copy(update={"peak_memory_bytes": memory_in_use})
        return result

    async def _answer_all(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        return list(await asyncio.gather(*(self._answer(request, config) for request in requests)))

    # The contract (any thread)

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        """Every request goes to the engine at once; results come back in request order."""
        return self._on_engine_loop(self._answer_all(requests, config)).result()

    def stream(self, request: GenerationRequest, config: GenerationConfig | None = None) -> Iterator[str]:
        """Text pieces as the engine produces them; stopping the iteration early aborts the request."""
        config = config or GenerationConfig()
        self.load()
        pieces: queue.Queue[Any] = queue.Queue()
        answer = self._streamed(request, config, pieces.put)
        try:
            while (piece := pieces.get()) is not _END:
                yield piece
            _raise_failed(answer.result())
        finally:
            answer.cancel()

    # From another event loop (the model service)

    async def agenerate(self, request: GenerationRequest, config: GenerationConfig) -> GenerationResult:
        """One request's result; cancelling the awaiting task aborts it in the engine."""
        await asyncio.to_thread(self.load)
        return await asyncio.wrap_future(self._on_engine_loop(self._answer(request, config)))

    async def astream(self, request: GenerationRequest, config: GenerationConfig) -> AsyncIterator[str]:
        """Text pieces as the engine produces them; closing the iterator early aborts the request."""
        await asyncio.to_thread(self.load)
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[Any] = asyncio.Queue()

        def put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the consumer's loop has closed
                loop.call_soon_threadsafe(pieces.put_nowait, item)

        answer = self._streamed(request, config, put)
        try:
            while (piece := await pieces.get()) is not _END:
                yield piece
            _raise_failed(answer.result())
        finally:
            answer.cancel()

    def _streamed(self, request: GenerationRequest, config: GenerationConfig, put: Callable[[Any], None]):
        """The request on the engine's loop, each text piece handed to `put`, then `_END` once it ends."""
        answer = self._on_engine_loop(self._answer(request, config, on_piece=put))
        answer.add_done_callback(lambda _: put(_END))
        return answer


def _raise_failed(result: GenerationResult) -> None:
    """A streamed request that failed raises its error once its pieces are out."""
    if result.error:
        raise RuntimeError(result.error)
