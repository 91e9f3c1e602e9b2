"""`HFModel`: any Hugging Face transformers model behind the `VisionLanguageModel` contract.

Two families, one class:
- vision models (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, InternVL -hf, Idefics3, SmolVLM, Llama-3.2-Vision,
  PaliGemma: anything `AutoModelForImageTextToText` loads), driven through `AutoProcessor`; each family's
  image settings are `HFParams` fields (see `images_kwargs`), and PaliGemma's prompt without a chat template
  is `prompt_format: plain` with a task `prompt_prefix`;
- text-only causal LMs (`AutoModelForCausalLM` + tokenizer), GGUF checkpoints included
  (`gguf_file`; converted once into a plain cached checkpoint, see `gguf_cache`). A text-only model given
  an image fails that request, not the batch.

torch and transformers are imported inside methods: importing this module is cheap, weights load on the
first `generate`/`stream` and are kept.

Timing in a batch: every request of a batch shares the batch's wall time as its latency and the time the
batch's first new token appeared as its TTFT (a batch decodes in lock-step, so no request is faster).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from model_interface import (
    GenerationConfig,
    GenerationRequest,
    GenerationResult,
    ModelUnavailableError,
    PreparedBatch,
    Stopwatch,
    VisionLanguageModel,
    package_version,
)
from model_interface.images import ImageSource, PageCache, load_pages
from model_interface.timing import reset_peak_memory
from pydantic import BaseModel, ConfigDict, Field

from model_hf.hardware import resolve_attn_implementation, resolve_device, resolve_dtype
from model_hf.optional_imports import import_transformers

PACKAGE = "model-hf"
# Pages decoded and resized for the model are kept by image file, up to this many bytes of pixels, so the
# questions that share a page (several per document in most document sets) prepare it once.
PREPARED_PAGES_BYTES = 256 * 2**20


class HFParams(BaseModel):
    """Per-model settings, from the model registry YAML or `--model-param key=value`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_path: str | None = Field(default=None, description="Local checkpoint folder.")
    gguf_file: str | None = Field(default=None, description="GGUF file name inside model_path (text LMs).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    repo_id: str | None = Field(
        default=None,
        description="Hugging Face repo whose cached snapshot loads when model_path is not given.",
    )
    min_pixels: int | None = Field(default=None, gt=0, description="Qwen-VL image resize floor, in pixels.")
    max_pixels: int | None = Field(default=None, gt=0, description="Qwen-VL image resize cap, in pixels.")
    longest_edge: int | None = Field(
        default=None, gt=0, description="Idefics3/SmolVLM resize cap: the image's longest edge, in pixels."
    )
    image_splitting: bool | None = Field(
        default=None, description="Idefics3/SmolVLM: split a large image into tiles plus a global view."
    )
    max_tiles: int | None = Field(
        default=None,
        ge=1,
        description="Most image tiles: InternVL's dynamic tiles (max_patches), Llama-3.2-Vision's max_image_tiles.",
    )
    max_images: int | None = Field(
        default=None, ge=1, description="Most images one request may carry (Llama-3.2-Vision: 1)."
    )
    prompt_format: Literal["chat", "plain"] = Field(
        default="chat",
        description="chat: the processor's chat template; plain: prefix + prompt, for models without one "
        "(PaliGemma).",
    )
    prompt_prefix: str = Field(
        default="", description="Text put before each prompt (PaliGemma's task prefix, e.g. 'answer en ')."
    )
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"
    num_threads: int | None = Field(default=None, ge=1, description="torch.set_num_threads on load.")


def build_messages(request: GenerationRequest, image_count: int, multimodal: bool) -> list[dict[str, Any]]:
    """Chat messages for `apply_chat_template`: system prompt, history, then the user turn.

    Processors (multimodal) take content as a list of parts, images first as `{"type": "image"}`;
    plain tokenizers' templates take content as a string.
    """

    def content(text: str, images: int = 0) -> Any:
        if not multimodal:
            return text
        return [{"type": "image"}] * images + [{"type": "text", "text": text}]

    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": content(request.system_prompt)})
    messages.extend({"role": turn.role, "content": content(turn.content)} for turn in request.history)
    messages.append({"role": "user", "content": content(request.prompt, image_count)})
    return messages


def first_stop_index(text: str, stop: Sequence[str]) -> int | None:
    """Where the earliest stop string starts in `text`, or None."""
    found = [index for index in (text.find(s) for s in stop if s) if index >= 0]
    return min(found) if found else None


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = first_stop_index(text, stop)
    return text if cut is None else text[:cut]


def stop_prefix_length(text: str, stop: Sequence[str]) -> int:
    """How many characters at the end of `text` could be the start of a stop string (held back)."""
    longest = 0
    for candidate in stop:
        for length in range(min(len(candidate) - 1, len(text)), longest, -1):
            if text.endswith(candidate[:length]):
                longest = length
                break
    return longest


def stream_until_stop(pieces: Iterable[str], stop: Sequence[str]) -> Iterator[str]:
    """Re-yields text pieces, ending before the first stop string; holds back only the text at the end
    that could be the start of a stop string split across pieces."""
    buffer = ""
    for piece in pieces:
        buffer += piece
        cut = first_stop_index(buffer, stop)
        if cut is not None:
            if cut:
                yield buffer[:cut]
            return
        ready = len(buffer) - stop_prefix_length(buffer, stop)
        if ready > 0:
            yield buffer[:ready]
            buffer = buffer[ready:]
    if buffer:
        yield buffer


def count_output_tokens(row: Sequence[int], eos_ids: set[int], pad_id: int | None) -> int:
    """Generated tokens of one row: up to and including the first eos, or up to the first pad
    (rows that finished early are padded). When pad == eos, a row stopped by a stop string counts
    its first pad as an eos (one token over)."""
    for index, token in enumerate(row):
        if token in eos_ids:
            return index + 1
        if token == pad_id:
            return index
    return len(row)


class HFModel(VisionLanguageModel):
    """A transformers model: a vision model through `AutoProcessor`, or a text LM through a tokenizer.

    `locate` returns the checkpoint folder when `params.model_path` is not given (it may build it, or
    raise `ModelUnavailableError` saying how to provide the weights).
    """

    def __init__(
        self,
        model_id: str,
        params: HFParams | None = None,
        *,
        locate: Callable[[], Path] | None = None,
    ) -> None:
        super().__init__(model_id, package_version(PACKAGE), params or HFParams())
        self.params: HFParams
        self._locate = locate
        self._model: Any = None
        self._processor: Any = None  # vision models only
        self._tokenizer: Any = None
        self._device = "cpu"
        self._images_kwargs: dict[str, Any] = {}
        self._qwen_vl_sizes: tuple[int, int, int] | None = None  # see resize_as_qwen_vl_utils
        self._tokenizer_lock = threading.RLock()
        self._prepared_pages = PreparedPages(PREPARED_PAGES_BYTES)

    @property
    def is_multimodal(self) -> bool:
        """Whether the loaded model reads images (known after loading)."""
        return self._processor is not None

    def checkpoint_folder(self) -> Path:
        if self.params.model_path:
            folder = Path(self.params.model_path).expanduser()
            if not folder.is_dir():
                raise ModelUnavailableError(f"{self.model_id}: model_path {str(folder)!r} is not a folder")
            return folder
        if self._locate is not None:
            return self._locate()
        raise ModelUnavailableError(
            f"{self.model_id}: no model_path given; pass `params: {{model_path: DIR}}` in the model registry YAML "
            "or `--model-param model_path=DIR`"
        )

    def tokenizer(self) -> Any:
        """The model's tokenizer, loaded alone when the weights are not (to count tokens, for one)."""
        if self._tokenizer is None:
            folder = self._plain_checkpoint()
            import_transformers(folder)
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(folder)
        return self._tokenizer

    def _plain_checkpoint(self) -> Path:
        """The checkpoint folder; for a GGUF file, its cached plain conversion (made on first use)."""
        folder = self.checkpoint_folder()
        if not self.params.gguf_file:
            return folder
        if not (folder / self.params.gguf_file).is_file():
            raise ModelUnavailableError(
                f"{self.model_id}: no GGUF file {self.params.gguf_file!r} in {folder}"
            )
        from model_hf.gguf_cache import ensure_converted

        return ensure_converted(folder, self.params.gguf_file)

    # Loading

    def _load(self) -> None:
        params = self.params
        # Missing files fail fast, before torch loads.
        folder = self._plain_checkpoint()
        import torch

        import_transformers(folder)
        from transformers import AutoConfig

        if params.num_threads:
            torch.set_num_threads(params.num_threads)  # process-wide
        self._device = resolve_device(params.device)
        load_kwargs = {
            "dtype": getattr(torch, resolve_dtype(params.dtype, self._device)),
            "attn_implementation": resolve_attn_implementation(params.attn_implementation, self._device),
            "device_map": self._device,
        }
        # GGUF checkpoints here are text LMs; otherwise the config's model type decides.
        multimodal = not params.gguf_file and _is_image_text_to_text(AutoConfig.from_pretrained(folder))
        vision_only = vision_settings(params)
        if vision_only and not multimodal:
            raise ValueError(f"{self.model_id}: {', '.join(vision_only)} apply to vision models only")
        if multimodal:
            self._load_vision_model(folder, load_kwargs)
        else:
            self._load_text_model(folder, load_kwargs)
        self._model.eval()
        if self._tokenizer.pad_token_id is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token

    def _load_text_model(self, folder: Path, load_kwargs: dict[str, Any]) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(folder)
        self._tokenizer.padding_side = "left"
        if not self._tokenizer.chat_template:
            raise ModelUnavailableError(f"{self.model_id}: the tokenizer in {folder} has no chat template")
        self._model = AutoModelForCausalLM.from_pretrained(folder, **load_kwargs)

    def _load_vision_model(self, folder: Path, load_kwargs: dict[str, Any]) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self._processor = AutoProcessor.from_pretrained(folder, padding_side="left")
        self._tokenizer = self._processor.tokenizer
        self._tokenizer.padding_side = "left"
        self._images_kwargs = self._resize_kwargs()
        self._model = AutoModelForImageTextToText.from_pretrained(folder, **load_kwargs)
        self._qwen_vl_sizes = qwen_vl_sizes(
            self._model.config, self._processor.image_processor, self._images_kwargs
        )

    def _resize_kwargs(self) -> dict[str, Any]:
        try:
            return images_kwargs(self.params, self._processor.image_processor)
        except ValueError as error:
            raise ValueError(f"{self.model_id}: {error}") from None

    # Generation

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        started = time.perf_counter()
        payload = self._prepare_batch(list(requests), config)
        return self._generate_prepared(
            PreparedBatch(list(requests), payload, time.perf_counter() - started), config
        )

    def _prepare_batch(self, requests: list[GenerationRequest], config: GenerationConfig) -> _EncodedBatch:
        """Images loaded, chat templates rendered and the batch encoded (left-padded): the CPU work a caller
        may do for the next batch while this one generates. A request that fails here fails alone."""
        failures: dict[int, GenerationResult] = {}
        prepared: list[tuple[int, str, list[Any]]] = []
        for index, request in enumerate(requests):
            try:
                prepared.append((index, *self._prepare(request)))
            except Exception as error:  # a bad image or an image for a text model fails this request only
                failures[index] = self.failed_result(request, f"{type(error).__name__}: {error}")
        inputs = None
        if prepared:
            inputs = self._encode([text for _, text, _ in prepared], [images for _, _, images in prepared])
        return _EncodedBatch(failures, [index for index, _, _ in prepared], inputs)

    def _generate_prepared(self, batch: PreparedBatch, config: GenerationConfig) -> list[GenerationResult]:
        from model_interface.cancellation import cancel_event

        from model_hf.streamers import CancelOnEvent, FirstTokenTimer

        encoded: _EncodedBatch = batch.payload
        requests = batch.requests
        reset_peak_memory()
        stopwatch = Stopwatch(started=time.perf_counter() - batch.seconds)  # latency includes preparing
        results: list[GenerationResult | None] = [encoded.failures.get(i) for i in range(len(requests))]
        if encoded.rows:
            inputs = encoded.inputs
            # With stop strings generate() reads the tokenizer, which another thread may be encoding with.
            with self._tokenizer_lock if config.stop else contextlib.nullcontext():
                stop = cancel_event()  # set when every caller of this batch has gone (the model service)
                output = self._run_generate(
                    inputs,
                    config,
                    streamer=FirstTokenTimer(stopwatch),
                    cancel=CancelOnEvent(stop) if stop is not None else None,
                )
            prompt_length = inputs["input_ids"].shape[1]
            new_tokens = output[:, prompt_length:].tolist()
            prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
            texts_and_counts = [self._decode(row, config) for row in new_tokens]
            stopwatch.stop()
            for row, index in enumerate(encoded.rows):
                text, output_tokens = texts_and_counts[row]
                results[index] = self.make_result(
                    requests[index],
                    text,
                    prompt_tokens=int(prompt_tokens[row]),
                    output_tokens=output_tokens,
                    stopwatch=stopwatch,
                )
        return [result for result in results if result is not None]

    def stream(self, request: GenerationRequest, config: GenerationConfig | None = None) -> Iterator[str]:
        """Yields text pieces as they are decoded; `generate` runs in a background thread.

        Stopping the iteration early stops generation. The concatenated pieces equal `generate`'s text.
        """
        from model_hf.streamers import CancelOnEvent, token_text_streamer

        config = config or GenerationConfig()
        self.load()
        text, images = self._prepare(request)
        inputs = self._encode([text], [images])
        streamer = token_text_streamer(self._tokenizer)
        cancel = threading.Event()
        errors: list[BaseException] = []

        def generate_in_background() -> None:
            try:
                # Stop strings are applied to the text below (and cancel generation); HF's own stop-string
                # criteria would cost about a second of set-up per call (measured), delaying the first token.
                unstopped = config.model_copy(update={"stop": ()})
                self._run_generate(inputs, unstopped, streamer=streamer, cancel=CancelOnEvent(cancel))
            except BaseException as error:
                errors.append(error)
                streamer.end()  # unblocks the reader

        thread = threading.Thread(target=generate_in_background, name=f"stream-{self.model_id}", daemon=True)
        thread.start()
        try:
            yield from stream_until_stop(streamer, config.stop)
        finally:
            cancel.set()
            thread.join()
        if errors:
            raise errors[0]

    def _prepare(self, request: GenerationRequest) -> tuple[str, list[Any]]:
        """Loads the request's images and renders its chat template: (prompt text, images)."""
        images = [
            page
            for source in request.images
            for page in self._prepared_pages.get(source, self._qwen_vl_sizes, self._prepare_pages)
        ]
        if images and not self.is_multimodal:
            raise ValueError(
                f"{self.model_id} is a text-only model and cannot read images; "
                f"this request has {len(images)} image(s)"
            )
        limit = self.params.max_images
        if limit is not None and len(images) > limit:
            raise ValueError(
                f"{self.model_id} reads at most {limit} image(s); this request has {len(images)}"
            )
        prompt = self.params.prompt_prefix + request.prompt
        if self.params.prompt_format == "plain":
            if request.system_prompt or request.history:
                raise ValueError(
                    f"{self.model_id} takes a plain prompt (no chat template): "
                    "it cannot take a system prompt or earlier turns"
                )
            return prompt, images
        if self.params.prompt_prefix:
            request = request.model_copy(update={"prompt": prompt})
        messages = build_messages(request, len(images), multimodal=self.is_multimodal)
        template_owner = self._processor if self.is_multimodal else self._tokenizer
        text = template_owner.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text, images

    def _prepare_pages(self, source: ImageSource) -> list[Any]:
        """One image's pages as the model reads them: 8-bit RGB, upright (`load_pages`), and for Qwen-VL
        resized as qwen_vl_utils resizes them. The pages are shared (`PreparedPages`), never changed."""
        pages = load_pages(source, copy=False)
        if self._qwen_vl_sizes is not None:
            pages = [resize_as_qwen_vl_utils(page, *self._qwen_vl_sizes) for page in pages]
        return pages

    def _encode(self, texts: list[str], images: list[list[Any]]) -> Any:
        """Tokenizes a batch, left-padded; images go to the processor, nested per request."""
        with (
            self._tokenizer_lock
        ):  # a fast tokenizer used from two threads at once fails ("Already borrowed")
            return self._encode_unlocked(texts, images)

    def _encode_unlocked(self, texts: list[str], images: list[list[Any]]) -> Any:
        if self.is_multimodal:
            batch_images = images if any(images) else None
            inputs = self._processor(
                text=texts, images=batch_images, padding=True, return_tensors="pt", **self._images_kwargs
            )
        else:
            # The chat template already wrote the special tokens.
            inputs = self._tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        return inputs.to(self._model.device)

    def _run_generate(
        self, inputs: Any, config: GenerationConfig, *, streamer: Any, cancel: Any = None
    ) -> Any:
        import torch
        from transformers import StoppingCriteriaList

        generation_config = copy.deepcopy(self._model.generation_config)
        generation_config.max_new_tokens = config.max_new_tokens
        generation_config.num_beams = 1
        generation_config.pad_token_id = self._pad_token_id()
        if config.greedy:
            generation_config.do_sample = False
            generation_config.temperature = None
            generation_config.top_p = None
            generation_config.top_k = None
        else:
            generation_config.do_sample = True
            generation_config.temperature = config.temperature
            generation_config.top_p = config.top_p
            generation_config.top_k = 0  # our config has no top-k: sample from the whole (top-p) distribution
            torch.manual_seed(config.seed)
        extra: dict[str, Any] = {}
        if config.stop:
            # Lets generation stop early; the decoded text is truncated at the stop string as well.
            generation_config.stop_strings = list(config.stop)
            extra["tokenizer"] = self._tokenizer
        if cancel is not None:
            extra["stopping_criteria"] = StoppingCriteriaList([cancel])
        with torch.inference_mode():
            return self._model.generate(
                **inputs, generation_config=generation_config, streamer=streamer, **extra
            )

    def _pad_token_id(self) -> int | None:
        """The id generate() pads finished rows with."""
        pad = self._model.generation_config.pad_token_id
        return pad if pad is not None else self._tokenizer.pad_token_id

    def _decode(self, row: list[int], config: GenerationConfig) -> tuple[str, int]:
        """(text truncated at the first stop string, generated-token count) of one output row."""
        generation_config = self._model.generation_config
        eos = generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        eos_ids.add(self._tokenizer.eos_token_id)
        count = count_output_tokens(row, eos_ids, self._pad_token_id())
        with self._tokenizer_lock:
            text = self._tokenizer.decode(row[:count], skip_special_tokens=True)
        return truncate_at_stop(text, config.stop), count


@dataclass
class _EncodedBatch:
    """A prepared batch: the requests that already failed, by index, and the encoded inputs of the rest."""

    failures: dict[int, GenerationResult]
    rows: list[int]  # the index of the request behind each row of `inputs`
    inputs: Any


def _is_image_text_to_text(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


# The Qwen-VL families whose reference wrappers (lmms-eval's qwen2_vl, qwen2_5_vl and qwen3_vl; VLMEvalKit's
# Qwen2-VL) pass each image through qwen_vl_utils.fetch_image: resized with Pillow to the processor's own target
# size before the processor sees it. The processor's resize of the original gives other pixels (measured: a
# mean absolute difference of 0.2 in normalised pixel values on a 1000x1400 page).
QWEN_VL_MODEL_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe"})


def qwen_vl_sizes(config: Any, image_processor: Any, kwargs: dict[str, Any]) -> tuple[int, int, int] | None:
    """(factor, min_pixels, max_pixels) of the reference resize for a Qwen-VL model, else None."""
    if config.model_type not in QWEN_VL_MODEL_TYPES:
        return None
    size = kwargs.get("size") or image_processor.size
    limit = size.get if isinstance(size, dict) else lambda name: getattr(size, name, None)
    factor = image_processor.patch_size * image_processor.merge_size
    return factor, limit("shortest_edge"), limit("longest_edge")


class PreparedPages(PageCache):
    """A file's prepared pages, by the file (resolved path, modification time, size) and the resize
    settings, least recently used out first once their pixels pass `budget` bytes. Pages given as bytes or
    open images are prepared every time. The pages are shared: callers must not change them in place."""

    def get(
        self, source: ImageSource, settings: Any, prepare: Callable[[ImageSource], list[Any]]
    ) -> list[Any]:
        if not isinstance(source, (str, Path)):
            return prepare(source)
        try:
            stat = Path(source).stat()
        except OSError:
            return prepare(source)  # load_pages names the missing file
        key = (str(Path(source).resolve()), stat.st_mtime_ns, stat.st_size, settings)
        kept = self.find(key)
        if kept is not None:
            return kept
        pages = prepare(source)
        self.keep(key, pages)
        return pages


def resize_as_qwen_vl_utils(image: Any, factor: int, min_pixels: int, max_pixels: int) -> Any:
    """`qwen_vl_utils.fetch_image`'s resize: to the smart-resize size, with Pillow's default (bicubic)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    height, width = smart_resize(
        image.height, image.width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
    )
    return image.resize((width, height))


def vision_settings(params: HFParams) -> list[str]:
    """The image settings `params` sets (they need a vision model)."""
    names = ("min_pixels", "max_pixels", "longest_edge", "image_splitting", "max_tiles", "max_images")
    return [name for name in names if getattr(params, name) is not None]


def images_kwargs(params: HFParams, image_processor: Any) -> dict[str, Any]:
    """The image settings as keyword arguments of the processor call, checked against the image processor so
    that a setting its family does not have fails instead of being silently ignored."""

    def has(attribute: str) -> bool:
        return getattr(image_processor, attribute, None) is not None

    kind = type(image_processor).__name__
    size = getattr(image_processor, "size", None)
    kwargs: dict[str, Any] = {}
    if params.min_pixels or params.max_pixels:
        if size is None or getattr(size, "shortest_edge", None) is None:
            raise ValueError(f"min_pixels/max_pixels need a Qwen-VL style image processor, got {kind}")
        # The Qwen-VL image processor's `size` holds the pixel limits as shortest/longest edge.
        kwargs["size"] = {
            "shortest_edge": params.min_pixels or size.shortest_edge,
            "longest_edge": params.max_pixels or size.longest_edge,
        }
    if params.longest_edge is not None or params.image_splitting is not None:
        if not has("do_image_splitting"):
            raise ValueError(
                f"longest_edge/image_splitting need an Idefics3/SmolVLM image processor, got {kind}"
            )
        if params.longest_edge is not None:
            kwargs["size"] = {"longest_edge": params.longest_edge}
        if params.image_splitting is not None:
            kwargs["do_image_splitting"] = params.image_splitting
    if params.max_tiles is not None:
        if has("max_patches"):  # InternVL (GotOcr2 image processor): dynamic tiling
            kwargs.update(crop_to_patches=True, max_patches=params.max_tiles)
        elif has("max_image_tiles"):  # Llama-3.2-Vision (Mllama)
            kwargs["max_image_tiles"] = params.max_tiles
        else:
            raise ValueError(f"max_tiles needs an InternVL or Llama-3.2-Vision image processor, got {kind}")
    return kwargs
