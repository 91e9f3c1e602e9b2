"""The chat's logic, without Gradio: retrieval over the assistant's knowledge bases, the prompt from the
template, history windowing, streaming through the model registry's wrappers, citations and timing.

Every call takes the acting user and goes through the `Store`, which enforces who may see what.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm_pipelines.chat import STOP
from vlm_pipelines.chat.store import DEFAULT_TEMPLATE, NEW_TITLE, Assistant, Message, Store, StoreError
from vlm_pipelines.knowledge.index import Hit, KnowledgeIndex

HISTORY_CHARS = 1200  # history kept in the prompt; older turns are dropped (and the message says so)
CONTEXT_CHARS = 160  # of each retrieved passage in the prompt: its lines closest to the question
CITATION = re.compile(r"\[(\d{1,2})\]")
_WORD = re.compile(r"\w{3,}", re.UNICODE)
_STOP = frozenset(
    "the and for are with that this from what which how does you your can not has have was its".split()
)


def chat_threads() -> int:
    """torch threads for the chat process: `VLMBENCH_CHAT_THREADS`, default every core. One interactive
    answer at a time prefills faster on both cores here (TTFT 0.6 s against 0.86 s on one, measured); batch
    evaluation keeps its own setting (one thread is faster for batches of 8)."""
    return int(os.environ.get("VLMBENCH_CHAT_THREADS") or os.cpu_count() or 1)


@dataclass
class Reply:
    """What a streamed answer has produced so far, then its stored message."""

    text: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    ttft_s: float | None = None
    processing_s: float | None = None
    message: Message | None = None
    done: bool = False


def focus(text: str, question: str, limit: int = CONTEXT_CHARS) -> str:
    """The lines (or sentences) of a passage sharing the most words with the question, in their order, up to
    `limit` characters: a small model answers better, and sooner, from a short passage."""
    if len(text) <= limit:
        return text
    pieces = [piece.strip() for piece in re.split(r"\n+|(?<=[.!?])\s+", text) if piece.strip()]
    wanted = _words(question)
    ranked = sorted(range(len(pieces)), key=lambda i: (-len(_words(pieces[i]) & wanted), i))
    chosen, used = set(), 0
    for index in ranked:
        piece = pieces[index][:limit]
        if used + len(piece) > limit and chosen:
            continue
        chosen.add(index)
        used += len(piece) + 1
    return "\n".join(pieces[i][:limit] for i in sorted(chosen))


def source_rows(hits: list[Hit], question: str = "") -> list[dict[str, Any]]:
    return [
        {
            "n": number,
            "document": hit.document,
            "page": hit.page,
            "heading_path": hit.heading_path,
            "snippet": hit.snippet,
            "text": focus(hit.text, question),
            "score": round(hit.score, 5),
        }
        for number, hit in enumerate(hits, start=1)
    ]


def format_context(sources: list[dict[str, Any]]) -> str:
    parts = []
    for source in sources:
        where = source["document"] + (f", page {source['page']}" if source["page"] is not None else "")
        parts.append(f"[{source['n']}] {where}\n{source['text']}")
    return "\n\n".join(parts) or "(no sources)"


def window_history(turns: list[tuple[str, str]], budget: int = HISTORY_CHARS) -> tuple[str, dict[str, Any]]:
    """The most recent (question, answer) turns that fit `budget` characters, and a note of what was kept."""
    kept: list[str] = []
    used = 0
    for question, answer in reversed(turns):
        text = f"User: {question}\nAssistant: {CITATION.sub('', answer).strip()}\n"
        if used + len(text) > budget:
            break
        kept.insert(0, text)
        used += len(text)
    note = {"history_turns": len(turns), "history_kept": len(kept)}
    if len(kept) < len(turns):
        note["history"] = f"windowed: kept the last {len(kept)} of {len(turns)} turns ({budget} characters)"
    return ("Conversation so far:\n" + "".join(kept) + "\n") if kept else "", note


def render_prompt(template: str, context: str, question: str, history: str) -> str:
    return template.format(context=context, question=question, history=history)


def _words(text: str) -> set[str]:
    return {word for word in (w.casefold() for w in _WORD.findall(text)) if word not in _STOP}


def attribute_citations(answer: str, sources: list[dict[str, Any]]) -> tuple[str, list[int], bool]:
    """The answer with `[n]` markers, the numbers cited, and whether they were added here. A model that
    cites valid numbers keeps them; otherwise the source sharing the most words with the answer (at least
    two) is cited after generation, and the message notes it."""
    valid = {source["n"] for source in sources}
    cited = sorted({int(n) for n in CITATION.findall(answer)} & valid)
    if cited or not sources or not answer.strip():
        return answer, cited, False
    answer_words = _words(answer)
    overlap = {source["n"]: len(answer_words & _words(source["text"])) for source in sources}
    best = max(overlap, key=lambda n: (overlap[n], -n))
    if overlap[best] < 2:
        return answer, [], False
    return f"{answer.rstrip()} [{best}]", [best], True


def prompt_hash(system_prompt: str, prompt: str) -> str:
    return hashlib.sha256(json.dumps([system_prompt, prompt], ensure_ascii=False).encode()).hexdigest()


class ChatEngine:
    """Answers questions for assistants; models come from the model registry (`registry/models`)."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = Path(data_dir)
        self._locks: dict[str, threading.Lock] = {}
        self._indexes: dict[str, KnowledgeIndex] = {}

    # ---- models ----------------------------------------------------------------------------------

    def model_entry(self, name: str):
        from vlm_pipelines.model_registry import load_model_registry

        return load_model_registry().require(name)

    def is_vision(self, name: str) -> bool:
        from model_interface import get_spec

        return get_spec(self.model_entry(name).model).modality == "vision"

    def model(self, name: str):
        from model_interface import shared_model

        entry = self.model_entry(name)
        return entry, shared_model(entry.model, entry.params)

    def warm_up(self, name: str) -> None:
        self.model(name)[1].load()

    # ---- retrieval -------------------------------------------------------------------------------

    def index(self, name: str) -> KnowledgeIndex:
        if name not in self._indexes:
            self._indexes[name] = KnowledgeIndex(name, self.data_dir)
        return self._indexes[name]

    def forget_index(self, name: str) -> None:
        self._indexes.pop(name, None)

    def retrieve(self, assistant: Assistant, question: str) -> list[Hit]:
        if not assistant.search_enabled or not assistant.knowledge_bases:
            return []
        hits = []
        for record in assistant.knowledge_bases:
            hits += self.index(record.name).search(question, assistant.search_limit)
        hits.sort(key=lambda hit: -hit.score)
        return hits[: assistant.search_limit]

    # ---- answering -------------------------------------------------------------------------------

    def ask(
        self,
        username: str,
        conversation_id: int,
        question: str,
        *,
        image: str | None = None,
        template_id: int | None = None,
        model_name: str | None = None,
        compare_group: str | None = None,
        record_question: bool = True,
    ) -> Iterator[Reply]:
        """Streams the answer (each `Reply` holds the text so far) and stores both messages at the end."""
        from model_interface import GenerationConfig, GenerationRequest

        if not question.strip() and not image:
            raise StoreError("type a question")
        conversation = self.store.conversation(username, conversation_id)
        assistant = self.store.assistant(username, conversation.assistant_id)
        template = self.store.template(username, template_id) if template_id else assistant.template
        template_text = template.text if template is not None else DEFAULT_TEMPLATE
        model_name = model_name or assistant.model
        entry, model = self.model(model_name)
        reply = Reply()
        started = time.perf_counter()
        turns = _turns(conversation.messages)
        history, reply.notes = window_history(turns)
        images: list[str] = []
        ocr_context = prefix = ""
        if image:
            if self.is_vision(model_name):
                images = [image]
                reply.notes["image"] = "sent to the model (a vision-language model)"
            else:
                ocr_context, engine = _ocr(image)
                reply.notes["image"] = f"read with OCR ({engine}) first: {model_name} is a text model"
                prefix = f"(I read the image with OCR, {engine}, because {model_name} is a text model.) "
        reply.sources = source_rows(self.retrieve(assistant, question or "image"), question)
        context = format_context(reply.sources)
        if ocr_context:
            context = f"Text read from the uploaded image by OCR:\n{ocr_context}\n\n{context}"
        prompt = render_prompt(template_text, context, question or "Describe the image.", history)
        system_prompt = assistant.system_prompt or ""
        config = GenerationConfig(
            max_new_tokens=int(assistant.max_tokens), temperature=float(assistant.temperature), stop=STOP
        )
        request = GenerationRequest(prompt=prompt, system_prompt=system_prompt or None, images=images)
        if record_question:
            self.store.add_message(
                username, conversation_id, "user", question, notes={"image": image} if image else {}
            )
            if (
                not conversation.messages and conversation.title == NEW_TITLE
            ):  # named after its first question
                self.store.rename_conversation(
                    username, conversation_id, " ".join(question.split())[:60] or NEW_TITLE
                )
        lock = self._locks.setdefault(model_name, threading.Lock())
        with lock:  # one generation per model at a time: the wrappers' models are not re-entrant
            reply.text = prefix
            for piece in model.stream(request, config):
                if reply.ttft_s is None and piece:
                    reply.ttft_s = time.perf_counter() - started
                reply.text += piece
                yield reply
        answer, cited, added = attribute_citations(reply.text.strip(), reply.sources)
        reply.text = answer
        reply.notes["cited"] = cited
        if added:
            reply.notes["citations"] = (
                "added after generation: the source sharing the most words with the answer"
            )
        reply.processing_s = time.perf_counter() - started
        reply.message = self.store.add_message(
            username,
            conversation_id,
            "assistant",
            reply.text,
            sources=reply.sources,
            request={
                "model": model_name,
                "model_id": entry.model,
                "version": model.package_version,
                "params": dict(entry.params or {}),
                "generation": config.model_dump(mode="json"),
                "torch_threads": _torch_threads(),
                "prompt_hash": prompt_hash(system_prompt, prompt),
                "prompt": prompt,
                "context": context,
                "template_id": template.id if template is not None else None,
            },
            processing_s=reply.processing_s,
            ttft_s=reply.ttft_s,
            notes=reply.notes,
            compare_group=compare_group,
        )
        if template is not None:
            self.store.count_template_use(template.id)
        reply.done = True
        yield reply


def _torch_threads() -> int | None:
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _turns(messages: list[Message]) -> list[tuple[str, str]]:
    turns, question = [], None
    for message in messages:
        if message.role == "user":
            question = message.content
        elif message.role == "assistant" and question is not None and message.compare_group is None:
            turns.append((question, message.content))
            question = None
    return turns


def _ocr(image: str) -> tuple[str, str]:
    from model_interface import load_pages

    from vlm_pipelines.knowledge.documents import ocr_engine_name, ocr_text

    return "\n\n".join(ocr_text(page) for page in load_pages(image)), ocr_engine_name()
