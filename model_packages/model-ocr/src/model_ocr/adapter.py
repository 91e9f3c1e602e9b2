"""OCR pipeline models: OCR each distinct page once, then answer with label rules or with SmolLM2.

- `ocr-rules` (`mode="rules"`): the value next to the label the question names (`label_rules`).
- `ocr-smollm2` (`mode="reader"`): SmolLM2-135M-Instruct (`smollm2-135m`, from model-hf) reads the OCR text
  and answers, greedy and short.

The request's `answer_type` hint (the task's answer type) picks the kind of answer:
- `text`: the field value (rules), or SmolLM2's answer;
- `label`: the document type from the OCR evidence (`document_rules.classify`, rules), or SmolLM2's answer
  (the pipeline then reads the label it names);
- `json`: every key of the `fields` hint answered on its own, by the label rules or by one short SmolLM2
  question per key, assembled into one JSON object (keys with no value are left out);
- `order`: the page order from the cues printed on the pages (`document_rules.order_pages`, rules), or
  SmolLM2's answer given each image's text under an `[image N]` heading.

Readings are cached by image content and OCR settings, shared by every instance with the same engine and
settings (a document is asked many field questions, and `ocr-rules` and `ocr-smollm2` read the same pages);
a batch OCRs each distinct uncached page once, Tesseract pages in parallel (one process per page).

Cost fields (there is no tokenizer in an OCR pipeline, so "tokens" are whitespace-separated words):
- `prompt_tokens`: words of the question plus words of the OCR text used (for `ocr-smollm2`, the text as
  truncated into the prompt);
- `output_tokens`: words of the answer (0 for an empty answer);
- `latency_s`: this request's image loading, the OCR of the pages it was first to need in its batch
  (a cached page costs nothing), and its answer (for `ocr-smollm2`, the wall time of the SmolLM2 batch it
  was part of); `ttft_s` equals `latency_s` (nothing is streamed); `tpot_s` as `model_interface` computes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from model_interface import (
    ChatTurn,
    GenerationConfig,
    GenerationRequest,
    GenerationResult,
    ModelUnavailableError,
    Stopwatch,
    VisionLanguageModel,
    load_pages,
    shared_model,
    to_rgb,
)
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from model_ocr.document_rules import classify, order_pages
from model_ocr.engines import OCREngine, OCRLine, make_engine, reading_order, scale_lines
from model_ocr.label_rules import find_value, label_candidates, label_context

PACKAGE = "model-ocr"
READER_MODEL_ID = "smollm2-135m"
# OCR text put into the SmolLM2 prompt, cut at a line boundary: ~1,000-1,500 tokens, well inside its
# 8k context and quick to prefill on a CPU.
MAX_OCR_CHARS = 3000
MAX_CACHED_PAGES = 512  # readings kept per OCR configuration (a few kB each)
READER_SYSTEM_PROMPT = "Answer with the exact value copied from the document. No sentence."
READER_PROMPT = "Document:\n{text}\n\nQuestion: {question}"
FIELD_QUESTION = "What is the {label}?"
READER_STOP = ("\n",)
MAX_FIELD_TOKENS = 64  # one field's value (a JSON key or a field question): short, whatever the task allows
# Per-key questions are short (the rows around the key's label): 16 to a SmolLM2 batch halves the decode
# loops of batches of 8 at about 1.5x the cost of a step.
FIELD_BATCH = 16
# Two worked examples as earlier chat turns: a 135M model copies the answer format from them
# (5 of 12 form fields exact, against 0 of 12 with an instruction alone).
EXAMPLE_DOCUMENT = "SALES RECEIPT\nStore: Green Market\nDate: 05/19/2024\nTotal: 12.40"
READER_EXAMPLES = [
    ChatTurn(role="user", content=READER_PROMPT.format(text=EXAMPLE_DOCUMENT, question="What is the Date?")),
    ChatTurn(role="assistant", content="05/19/2024"),
    ChatTurn(role="user", content=READER_PROMPT.format(text=EXAMPLE_DOCUMENT, question="What is the Store?")),
    ChatTurn(role="assistant", content="Green Market"),
]


# (engine, languages, max_image_side) -> content key -> OCR lines: what one configuration read, for every
# instance that reads with it.
_READINGS: dict[tuple[str, str, int], dict[str, list[OCRLine]]] = {}
_READINGS_LOCK = threading.Lock()
# (path, mtime, size) -> the content keys of its pages, for every instance: a file read before is not decoded
# again to find its keys.
_FILE_KEYS: dict[tuple[str, int, int], tuple[str, ...]] = {}
MAX_FILE_KEYS = 65536


class OCRParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: Literal["auto", "tesseract", "rapidocr"] = Field(
        default="auto",
        description="auto: Tesseract when its binary is installed (reads Russian), else RapidOCR",
    )
    languages: str = Field(default="rus+eng", description="Tesseract language string")
    label_score_cutoff: float = Field(
        default=70.0, ge=0, le=100, description="rapidfuzz ratio (0-100) a label must reach to count"
    )
    max_image_side: int = Field(
        default=2500, ge=256, description="pages with a longer side are downscaled to it before OCR (speed)"
    )


def page_text(lines: list[OCRLine]) -> str:
    """A page's OCR text in reading order, one OCR line per text line. (Joining the boxes of a row into
    one text line was tried: SmolLM2 then got 4 of the 12 test-form fields instead of 5.)"""
    return "\n".join(line.text for line in reading_order(lines))


def fit_text(pages: list[list[OCRLine]], max_chars: int = MAX_OCR_CHARS) -> str:
    """The pages' text cut after the last whole line that fits in `max_chars`; with several pages, each
    under an `[image N]` heading (N as the request numbers its images)."""
    kept: list[str] = []
    used = 0
    for index, lines in enumerate(pages):
        heading = [f"[image {index}]"] if len(pages) > 1 else []
        for line in heading + page_text(lines).splitlines() + [""]:  # a blank line between pages
            if used + len(line) + 1 > max_chars:
                return "\n".join(kept).strip()
            kept.append(line)
            used += len(line) + 1
    return "\n".join(kept).strip()


def word_count(text: str) -> int:
    return len(text.split())


@dataclass
class _Prepared:
    """One request with its pages' OCR lines, or the error that failed it."""

    request: GenerationRequest
    keys: list[str] = field(default_factory=list)
    pages: list[list[OCRLine] | None] = field(default_factory=list)  # None until its page is read
    seconds: float = 0.0  # image loading plus the OCR this request paid for
    error: str | None = None


class OCRPipelineModel(VisionLanguageModel):
    """`mode="rules"`: the value next to the label the question names. `mode="reader"`: SmolLM2 reads the
    OCR text and answers."""

    def __init__(
        self, model_id: str, package_version: str, params: OCRParams, mode: Literal["rules", "reader"]
    ) -> None:
        super().__init__(model_id, package_version, params)
        self.params: OCRParams = params
        self.mode = mode
        self._engine: OCREngine | None = None
        self._pages: dict[str, list[OCRLine]] = {}  # content key -> OCR lines (in original pixels)
        self._cache_lock = _READINGS_LOCK

    @property
    def engine_name(self) -> str:
        """The engine in use once loaded ('tesseract' or 'rapidocr'), else the configured choice."""
        return self._engine.name if self._engine is not None else self.params.engine

    def _load(self) -> None:
        try:
            self._engine = make_engine(self.params.engine, self.params.languages)
        except RuntimeError as error:
            raise ModelUnavailableError(str(error)) from error
        setting = (self._engine.name, self.params.languages, self.params.max_image_side)
        with _READINGS_LOCK:
            self._pages = _READINGS.setdefault(setting, {})
        if self.mode == "reader":
            shared_model(READER_MODEL_ID).load()

    # OCR with a per-instance cache

    def _page_keys(self, image: Image.Image | str | Path) -> list[tuple[str, Image.Image | None]]:
        """(content key, the decoded page) for each page of an image (a multi-page file has several); the
        page is None when a file's keys are known and it need not be decoded."""
        file_id = None
        if not isinstance(image, Image.Image):
            stat = Path(image).stat()
            file_id = (str(Path(image).resolve()), stat.st_mtime_ns, stat.st_size)
            with self._cache_lock:
                known = _FILE_KEYS.get(file_id)
                if known is not None and all(key in self._pages for key in known):
                    return [(key, None) for key in known]
            pages = load_pages(image)
        else:
            pages = [to_rgb(image)]
        keys = [hashlib.sha256(page.tobytes()).hexdigest() + f"-{page.width}x{page.height}" for page in pages]
        if file_id is not None:
            with self._cache_lock:
                _FILE_KEYS[file_id] = tuple(keys)
                while len(_FILE_KEYS) > MAX_FILE_KEYS:  # oldest first
                    _FILE_KEYS.pop(next(iter(_FILE_KEYS)))
        return list(zip(keys, pages, strict=True))

    def _ocr(self, image: Image.Image) -> tuple[list[OCRLine], float]:
        """(lines in the page's own pixels, seconds)."""
        started = time.perf_counter()
        scale = min(1.0, self.params.max_image_side / max(image.size))
        page = image
        if scale < 1.0:
            page = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        assert self._engine is not None
        lines = scale_lines(self._engine.read(page), 1 / scale)
        return lines, time.perf_counter() - started

    def _prepare(self, requests: Sequence[GenerationRequest]) -> list[_Prepared]:
        """Loads every request's images and OCRs each distinct uncached page once. A request whose image
        cannot be read gets an error here; the others go on."""
        prepared: list[_Prepared] = []
        to_read: dict[str, tuple[Image.Image, _Prepared]] = {}  # key -> page, first request that needs it
        for request in requests:
            item = _Prepared(request)
            started = time.perf_counter()
            try:
                for image in request.images:
                    for number, (key, page) in enumerate(self._page_keys(image)):
                        with self._cache_lock:
                            lines = self._pages.get(key)
                        if lines is None and key not in to_read:
                            if page is None:  # its reading was evicted meanwhile
                                page = load_pages(image)[number]
                            to_read[key] = (page, item)
                        item.keys.append(key)
                        item.pages.append(lines)
            except Exception as error:
                item.error = f"cannot read image: {type(error).__name__}: {error}"
            item.seconds = time.perf_counter() - started
            prepared.append(item)

        pages = list(to_read.items())
        # Tesseract runs as a subprocess per page, so pages read in parallel; RapidOCR runs in-process.
        workers = min(len(pages), os.cpu_count() or 1) if self.engine_name == "tesseract" else 1
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                readings = list(pool.map(lambda entry: self._ocr(entry[1][0]), pages))
        else:
            readings = [self._ocr(page) for _, (page, _) in pages]
        read: dict[str, list[OCRLine]] = {}
        for (key, (_, first)), (lines, seconds) in zip(pages, readings, strict=True):
            read[key] = lines
            first.seconds += seconds
            with self._cache_lock:
                self._pages[key] = lines
                while len(self._pages) > MAX_CACHED_PAGES:  # oldest first
                    self._pages.pop(next(iter(self._pages)))
        for item in prepared:
            item.pages = [
                lines if lines is not None else read[key]
                for key, lines in zip(item.keys, item.pages, strict=True)
            ]
        return prepared

    def _lines(self, item: _Prepared) -> list[list[OCRLine]]:
        return [lines for lines in item.pages if lines is not None]

    # Answering

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        prepared = self._prepare(requests)
        if self.mode == "rules":
            return [self._answer_by_rules(item) for item in prepared]
        json_items = [item for item in prepared if _answer_type(item.request) == "json"]
        results = dict(zip(map(id, json_items), self._json_by_reader(json_items, config), strict=True))
        # A field question (the dataset names its field) reads the rows around its label, as a JSON key does;
        # free questions (DocVQA and the like), labels and orders read the whole text.
        fields = [item for item in prepared if id(item) not in results and _is_field_question(item.request)]
        others = [
            item for item in prepared if id(item) not in results and id(item) not in set(map(id, fields))
        ]
        narrowed = [self._around_label(item) for item in fields]
        results |= dict(
            zip(map(id, fields), self._answer_by_reader(narrowed, _field_config(config)), strict=True)
        )
        results |= dict(zip(map(id, others), self._answer_by_reader(others, config), strict=True))
        return [results[id(item)] for item in prepared]

    def _result(
        self, item: _Prepared, text: str, prompt_words: int, answer_seconds: float
    ) -> GenerationResult:
        # A stopwatch spanning what this request cost: its images, the OCR it paid for, its answer.
        watch = Stopwatch(started=time.perf_counter() - item.seconds - answer_seconds)
        watch.stop()
        return self.make_result(
            item.request, text, prompt_tokens=prompt_words, output_tokens=word_count(text), stopwatch=watch
        )

    def _answer_by_rules(self, item: _Prepared) -> GenerationResult:
        if item.error:
            return self.failed_result(item.request, item.error)
        started = time.perf_counter()
        request = item.request
        pages = self._lines(item)
        lines = [line for page in pages for line in page]
        try:
            answer = self._rules_answer(request, pages, lines)
        except Exception:
            return self.failed_result(request, traceback.format_exc(limit=3))
        prompt_words = word_count(request.prompt) + sum(word_count(line.text) for line in lines)
        return self._result(item, answer, prompt_words, time.perf_counter() - started)

    def _rules_answer(
        self, request: GenerationRequest, pages: list[list[OCRLine]], lines: list[OCRLine]
    ) -> str:
        kind = _answer_type(request)
        if kind == "label":
            return classify(pages, _hint_list(request, "labels"))
        if kind == "order":
            return json.dumps(order_pages(pages))
        if kind == "json":
            values = {
                key: find_value(lines, label_candidates("", key, label), self.params.label_score_cutoff)
                for key, label in _hint_fields(request).items()
            }
            return json.dumps({key: value for key, value in values.items() if value}, ensure_ascii=False)
        labels = label_candidates(
            request.prompt, request.hints.get("field_name"), request.hints.get("field_label")
        )
        return find_value(lines, labels, self.params.label_score_cutoff)

    def _around_label(self, item: _Prepared) -> _Prepared:
        """A field question over the OCR rows around the label it names, when that label is found."""
        if item.error:
            return item
        request = item.request
        labels = label_candidates(
            request.prompt, request.hints.get("field_name"), request.hints.get("field_label")
        )
        return replace(item, pages=self._near_labels(item, labels))

    def _field_pages(self, item: _Prepared, key: str, label: str) -> list[list[OCRLine] | None]:
        """The OCR lines a per-key question is asked over: the rows around the key's label when it is
        found (a short prompt), else every page."""
        return self._near_labels(item, label_candidates("", key, label))

    def _near_labels(self, item: _Prepared, labels: list[str]) -> list[list[OCRLine] | None]:
        lines = [line for page in self._lines(item) for line in page]
        near = label_context(lines, labels, self.params.label_score_cutoff)
        return [near] if near else item.pages

    def _json_by_reader(self, prepared: list[_Prepared], config: GenerationConfig) -> list[GenerationResult]:
        """One short SmolLM2 question per key of each request's `fields` hint, over the OCR rows around that
        key's label, in batches of FIELD_BATCH; the answers assembled into a JSON object per request."""
        field_config = _field_config(config)
        questions: list[tuple[_Prepared, str, str]] = []
        for item in prepared:
            if not item.error:
                questions += [(item, key, label) for key, label in _hint_fields(item.request).items()]
        sub_items = [
            _Prepared(
                GenerationRequest(
                    prompt=FIELD_QUESTION.format(label=label), request_id=item.request.request_id
                ),
                [],
                self._field_pages(item, key, label),
                0.0,
            )
            for item, key, label in questions
        ]
        answers = [
            answer
            for start in range(0, len(sub_items), FIELD_BATCH)
            for answer in self._answer_by_reader(sub_items[start : start + FIELD_BATCH], field_config)
        ]
        values: dict[int, dict[str, str]] = {}
        costs: dict[int, tuple[int, float]] = {}
        for (item, key, _), answer in zip(questions, answers, strict=True):
            if answer.error:
                continue
            if answer.text:
                values.setdefault(id(item), {})[key] = answer.text
            words, seconds = costs.get(id(item), (0, 0.0))
            costs[id(item)] = (words + answer.prompt_tokens, max(seconds, answer.latency_s))
        results = []
        for item in prepared:
            if item.error:
                results.append(self.failed_result(item.request, item.error))
                continue
            text = json.dumps(values.get(id(item), {}), ensure_ascii=False)
            words, seconds = costs.get(id(item), (0, 0.0))
            results.append(self._result(item, text, words, seconds))
        return results

    def _answer_by_reader(
        self, prepared: list[_Prepared], config: GenerationConfig
    ) -> list[GenerationResult]:
        readable = [item for item in prepared if not item.error]
        texts = {id(item): fit_text(self._lines(item)) for item in readable}
        reader_requests = [
            GenerationRequest(
                prompt=READER_PROMPT.format(text=texts[id(item)], question=item.request.prompt),
                system_prompt=item.request.system_prompt or READER_SYSTEM_PROMPT,
                history=[*READER_EXAMPLES, *item.request.history],
                request_id=item.request.request_id,
            )
            for item in readable
        ]
        # Only the first line of an answer is kept, so SmolLM2 stops at the end of it.
        reader_config = config.model_copy(update={"stop": tuple(dict.fromkeys((*config.stop, *READER_STOP)))})
        reader = shared_model(READER_MODEL_ID)
        answers = reader.generate(reader_requests, reader_config) if reader_requests else []
        by_item = {id(item): answer for item, answer in zip(readable, answers, strict=True)}
        results = []
        for item in prepared:
            if item.error:
                results.append(self.failed_result(item.request, item.error))
                continue
            answer = by_item[id(item)]
            if answer.error:
                results.append(self.failed_result(item.request, f"{READER_MODEL_ID}: {answer.error}"))
                continue
            text = answer.text.strip().splitlines()[0].strip() if answer.text.strip() else ""
            prompt_words = word_count(item.request.prompt) + word_count(texts[id(item)])
            results.append(self._result(item, text, prompt_words, answer.latency_s))
        return results


def _field_config(config: GenerationConfig) -> GenerationConfig:
    """One field's value is short: at most MAX_FIELD_TOKENS, whatever the task allows."""
    return config.model_copy(update={"max_new_tokens": min(config.max_new_tokens, MAX_FIELD_TOKENS)})


def _is_field_question(request: GenerationRequest) -> bool:
    hints = request.hints
    return _answer_type(request) == "text" and bool(hints.get("field_label") or hints.get("field_name"))


def _answer_type(request: GenerationRequest) -> str:
    return request.hints.get("answer_type", "text")


def _hint_list(request: GenerationRequest, name: str) -> list[str]:
    value = json.loads(request.hints.get(name) or "[]")
    return [str(item) for item in value] if isinstance(value, list) else []


def _hint_fields(request: GenerationRequest) -> dict[str, str]:
    """The `fields` hint: JSON key -> printed label (the key itself when no label is known)."""
    value = json.loads(request.hints.get("fields") or "{}")
    if isinstance(value, list):
        return {str(key): str(key) for key in value}
    return {str(key): str(label or key) for key, label in value.items()} if isinstance(value, dict) else {}
