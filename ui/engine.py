"""The chat's logic, without Gradio: retrieval over the assistant's knowledge bases, the prompt from the
template, history windowing, streaming through the model registry's wrappers, citations and timing.

Every call takes the acting user and goes through the `Store`, which enforces who may see what.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm_pipelines.chat import ABOUT_IMAGE, MODEL_SPAN, NOT_FOUND, NOT_IN_SOURCES, QUOTED, STOP
from vlm_pipelines.chat.store import DEFAULT_TEMPLATE, NEW_TITLE, Assistant, Message, Store, StoreError
from vlm_pipelines.knowledge.index import Hit, KnowledgeIndex

HISTORY_CHARS = 1200  # earlier questions considered for a follow-up; older turns are dropped (and noted)
CONTEXT_CHARS = 160  # of a passage with no chosen sentence: its lines closest to the question
MIN_COVERAGE = 0.15  # share of the question's term weight the best sentence must hold to answer from it
SPAN_RATIO = 90  # rapidfuzz partial_ratio of the model's answer to the sentence: at least this, a span of it
CITATION = re.compile(r"\[(\d{1,2})\]")
MARKERS = re.compile(r"(?:\s*\[(?:\d{1,2}|[nN])\])+")  # a marker, or a run of them (`[n]` included)
TYPE_INSTRUCTIONS = {  # the system prompt of an assistant that has none, by its type
    "support": "You are a support assistant. Answer politely, in one sentence, from the source.",
    "qa": "Answer the question in a few words, with the words of the source.",
    "analyzer": "State the facts and figures of the source that answer the question.",
    "custom": "",
}
_WORD = re.compile(r"\w{3,}", re.UNICODE)
_TOKEN = re.compile(r"\w+(?:[.:/\-]\w+)*", re.UNICODE)  # keeps 0.32.0, demo:demo, Q4_1, MIDV-2020 whole
_QUESTION_WORDS = frozenset("which what who whom whose when where why how does did much many".split())
_FOLLOW_UP = frozenset("it its that this they them those these there he she his her".split())
_STOP = frozenset(
    "the and for are with that this from what which how does you your can not has have was its "
    "is a an of to in on at by be as or it".split()
)
_BLOCK_START = re.compile(r"\s*(?:[-*+]\s|\d+\.\s|\||#|```|\$ |uv |[A-Z_]+=)")


def chat_threads() -> int:
    """torch threads for the chat process: `VLMBENCH_CHAT_THREADS`, default every core. One interactive
    answer at a time prefills faster on both cores here (TTFT 0.6 s against 0.86 s on one, measured); batch
    evaluation keeps its own setting (one thread is faster for batches of 8)."""
    return int(os.environ.get("VLMBENCH_CHAT_THREADS") or os.cpu_count() or 1)


def keep_no_decoded_pages_unless_asked() -> None:
    """The chat server lives long and decodes each upload once, so, unless `VLMBENCH_DECODED_PAGES_MB` says
    otherwise, it keeps none of the decoded pages an evaluation keeps (model_interface.images)."""
    if "VLMBENCH_DECODED_PAGES_MB" not in os.environ:
        from model_interface import images

        images.DECODED_PAGES.budget = 0
        images.DECODED_PAGES.clear()


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


def sentences(text: str) -> list[str]:
    """A Markdown passage as sentences: wrapped lines of a paragraph joined, list items, table rows and
    code lines kept apart, headings and fences dropped, Markdown marks removed."""
    units: list[str] = []
    joinable = False
    for line in text.splitlines():
        if not line.strip():
            joinable = False
            continue
        starts_block = bool(_BLOCK_START.match(line)) or " | " in line  # a table row stands alone
        if joinable and not starts_block and not units[-1].rstrip().endswith((".", ":", "!", "?")):
            units[-1] += " " + line.strip()
        else:
            units.append(line.strip())
        joinable = not (line.lstrip().startswith(("|", "#", "```", "$ ", "uv ")) or " | " in line)
    found = []
    for unit in units:
        if unit.startswith(("#", "```")) or set(unit) <= set("|-: "):
            continue
        unit = re.sub(r"\*\*|`|^[-*+]\s+", "", unit).strip(" |")
        unit = re.sub(r"\s*\|\s*", " | ", unit)
        found += [piece.strip() for piece in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", unit) if piece.strip()]
    return found


def terms(question: str) -> list[str]:
    """The question's content tokens, case-folded, in order: no stop words or question words; numbers kept."""
    found: list[str] = []
    for token in _TOKEN.findall(question):
        token = token.casefold()
        if token in _STOP or token in _QUESTION_WORDS or (len(token) < 3 and not token.isdigit()):
            continue
        if token not in found:
            found.append(token)
    return found


def _holds(term: str, words: set[str], text: str) -> bool:
    """A code-like term (0.32.0, demo:demo) must occur as is; a word matches any word sharing its stem
    (its first letters: take/takes, corrupt/corrupted)."""
    if re.search(r"\W", term):
        return term in text
    stem = term[: max(4, len(term) - 2)]
    return any(word.startswith(stem) for word in words)


def _is_code(term: str, question: str) -> bool:
    """A token such as VLMBENCH_RERANKER, demo_mini, 0.32.0 or MLflow: rarer than words, so weighted more."""
    if re.search(r"[\d_.:/\-]", term):
        return True
    return any(t.casefold() == term and any(c.isupper() for c in t[1:]) for t in _TOKEN.findall(question))


@dataclass
class Evidence:
    """The sentence of the retrieved passages that best matches the question: `passage` indexes the hits;
    `coverage` is the share of the question's term weight it holds (0..1)."""

    passage: int
    sentence: str
    coverage: float


def best_sentence(passages: list[str], question: str) -> Evidence | None:
    """The sentence (`sentences`) of the passages holding the most question-term weight: each term weighs
    its IDF over these sentences (BM25's), doubled for a code-like term; ties go to the earlier passage."""
    located = [(i, sentence) for i, text in enumerate(passages) for sentence in sentences(text)]
    wanted = terms(question)
    if not located or not wanted:
        return None
    texts = [sentence.casefold() for _, sentence in located]
    words = [set(re.findall(r"\w+", text)) | set(_TOKEN.findall(text)) for text in texts]
    count = len(located)
    weights, held = {}, {}
    for term in wanted:
        held[term] = [_holds(term, words[k], texts[k]) for k in range(count)]
        idf = math.log((count - sum(held[term]) + 0.5) / (sum(held[term]) + 0.5) + 1)
        weights[term] = idf * (2 if _is_code(term, question) else 1)
    scores = [sum(weights[t] for t in wanted if held[t][k]) for k in range(count)]
    best = max(range(count), key=lambda k: (scores[k], -k))
    passage, sentence = located[best]
    return Evidence(passage, sentence, scores[best] / sum(weights.values()))


def source_rows(hits: list[Hit], evidence: Evidence | None, question: str = "") -> list[dict[str, Any]]:
    """The retrieved passages as numbered sources; `text` is what the prompt shows of each (the best
    sentence of the one holding it; nothing of the others), `in_prompt` whether it is shown."""
    chosen = evidence.passage if evidence else None
    return [
        {
            "n": number,
            "document": hit.document,
            "page": hit.page,
            "heading_path": hit.heading_path,
            "snippet": hit.snippet,
            "text": evidence.sentence if index == chosen else focus(hit.text, question),
            "in_prompt": index == chosen,
            "score": round(hit.score, 5),
        }
        for index, (number, hit) in enumerate(zip(range(1, len(hits) + 1), hits, strict=True))
    ]


def format_context(sources: list[dict[str, Any]]) -> str:
    """The shown text of the sources in the prompt, one per line, without numbers or names: a 135M model
    copies those (and loops on them); the engine cites the supporting source itself."""
    parts = [source["text"] for source in sources if source.get("in_prompt", True)]
    return "\n".join(parts) or "(no sources)"


def window_history(
    turns: list[tuple[str, str]], budget: int = HISTORY_CHARS
) -> tuple[list[str], dict[str, Any]]:
    """The most recent questions (never answers) of the (question, answer) turns that fit `budget`
    characters, oldest first, and a note of what was kept. Answers never reach the prompt, so a wrong
    answer cannot spoil a later one."""
    kept: list[str] = []
    used = 0
    for question, _answer in reversed(turns):
        if used + len(question) + 1 > budget:
            break
        kept.insert(0, question)
        used += len(question) + 1
    note = {"history_turns": len(turns), "history_kept": len(kept)}
    if len(kept) < len(turns):
        note["history"] = (
            f"windowed: kept the last {len(kept)} of {len(turns)} questions ({budget} characters)"
        )
    return kept, note


def is_follow_up(question: str) -> bool:
    """A question that leans on an earlier one: it has a pronoun (it, that, ...) or under two content words."""
    words = [word.casefold() for word in re.findall(r"\w+", question)]
    return any(word in _FOLLOW_UP for word in words) or len(_words(question)) < 2


def resolve(question: str, earlier: list[str]) -> tuple[str, str]:
    """(retrieval query, the template's `{history}`): a follow-up is searched with the question before it,
    and the prompt names that question; any other question is searched and asked alone."""
    if not earlier or not is_follow_up(question):
        return question, ""
    return f"{earlier[-1]} {question}", f"Earlier question: {earlier[-1]}\n"


def render_prompt(template: str, context: str, question: str, history: str, response_format: str = "") -> str:
    """The template filled in, then the template's response format as the expected form of the answer."""
    prompt = template.format(context=context, question=question, history=history)
    return f"{prompt}\nAnswer format: {response_format.strip()}" if response_format.strip() else prompt


def system_prompt_for(assistant: Assistant) -> str:
    """The assistant's system prompt, or the default instruction of its type when it has none."""
    return assistant.system_prompt or TYPE_INSTRUCTIONS.get(assistant.type, "")


def _words(text: str) -> set[str]:
    return {word for word in (w.casefold() for w in _WORD.findall(text)) if word not in _STOP}


def clean_answer(text: str) -> str:
    """The model's text without citation markers (runs of them included) and repeated sentences."""
    text = re.sub(r"\s*\[\w{0,2}$", "", MARKERS.sub("", text))  # a marker cut by a stop string too
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        if sentence and sentence.casefold() not in {s.casefold() for s in kept}:
            kept.append(sentence)
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(kept)).strip()


def grounded_span(answer: str, sentence: str, question: str) -> str | None:
    """The model's answer (markers and a final period dropped) when it is a span of the sentence, as is
    or nearly (no longer than it, every number in it, rapidfuzz partial_ratio >= SPAN_RATIO on the
    normalized texts), and says something the question does not: a content word of its own. Else None."""
    from rapidfuzz import fuzz

    text = re.sub(r"^(?:source|answer)\s*:\s*", "", clean_answer(answer), flags=re.I).rstrip(".").strip()
    said, source = _normalized(text), _normalized(sentence)
    new = {t.casefold() for t in _TOKEN.findall(text)} - {t.casefold() for t in _TOKEN.findall(question)}
    if not said or not any(t not in _STOP and (len(t) > 2 or t.isdigit()) for t in new):
        return None
    if f" {said} " in f" {source} ":
        return text
    codes = {t for t in said.split() if re.search(r"\d", t)}  # a near match must keep every number as is
    near = len(said) <= len(source) and codes <= set(source.split())
    if near and fuzz.partial_ratio(said, source) >= SPAN_RATIO:
        return text
    return None


def grounded_answer(
    answer: str, question: str, sources: list[dict[str, Any]], evidence: Evidence | None
) -> tuple[str, list[int], dict[str, Any]]:
    """(the stored answer, the source numbers it cites, notes on how it was made). The best sentence
    `evidence` decides: too little of the question in it, NOT_IN_SOURCES; the model's answer a span of
    it, that answer citing its source; otherwise the sentence itself, labelled as a quote of its source."""
    notes: dict[str, Any] = {"model_text": answer}
    if evidence is None or evidence.coverage < MIN_COVERAGE:
        notes["answer"] = NOT_FOUND
        return NOT_IN_SOURCES, [], notes
    source = next(row for row in sources if row["in_prompt"])
    span = grounded_span(answer, evidence.sentence, question)
    if span is not None:
        notes["answer"], notes["answer_text"] = MODEL_SPAN, span
        return f"{span} [{source['n']}]", [source["n"]], notes
    notes["answer"], notes["answer_text"] = QUOTED, evidence.sentence
    return f'From {source["document"]}: "{evidence.sentence}" [{source["n"]}]', [source["n"]], notes


def _normalized(text: str) -> str:
    return " ".join(re.sub(r"[^\w]|_", " ", text.casefold()).split())


def prompt_hash(system_prompt: str, prompt: str) -> str:
    return hashlib.sha256(json.dumps([system_prompt, prompt], ensure_ascii=False).encode()).hexdigest()


class ChatEngine:
    """Answers questions for assistants; models come from the model registry (`registry/models`)."""

    retrieval_mode = "hybrid"  # KnowledgeIndex.search's mode: hybrid, keyword (BM25) or vector

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = Path(data_dir)
        from ui.generation import ChatStreams

        self.streams = ChatStreams()  # concurrent chats decode together (ui/generation.py)
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
            hits += self.index(record.name).search(question, assistant.search_limit, mode=self.retrieval_mode)
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
        # A template chosen for this chat must be visible to the user; the assistant's own was checked when
        # its owner saved it (`Store.save_assistant`).
        template = self.store.template(username, template_id) if template_id else assistant.template
        template_text = template.text if template is not None else DEFAULT_TEMPLATE
        response_format = template.response_format if template is not None else ""
        model_name = model_name or assistant.model
        entry, model = self.model(model_name)
        reply = Reply()
        started = time.perf_counter()
        earlier, reply.notes = window_history(_turns(conversation.messages))
        query, history = resolve(question, earlier) if question.strip() else (question, "")
        if history:
            reply.notes["follow_up"] = f"searched with the earlier question: {earlier[-1]}"
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
        hits = self.retrieve(assistant, query or "image")
        evidence = best_sentence([hit.text for hit in hits], query) if query.strip() else None
        reply.sources = source_rows(hits, evidence, query)
        context = format_context(reply.sources)
        if ocr_context:
            context = f"Text read from the uploaded image by OCR:\n{ocr_context}\n\n{context}"
        prompt = render_prompt(
            template_text, context, question or "Describe the image.", history, response_format
        )
        system_prompt = system_prompt_for(assistant)
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
        reply.text = prefix
        for piece in self.streams.stream(model, request, config):  # leaving early stops this generation
            if reply.ttft_s is None and piece:
                reply.ttft_s = time.perf_counter() - started
            reply.text += piece
            yield reply
        generated = reply.text[len(prefix) :].strip()
        from_image = grounded_span(generated, ocr_context, question) if ocr_context else None
        if from_image is not None:  # the image's text holds the answer: it stands, without a citation
            answer, cited = from_image, []
            notes = {"model_text": generated, "answer": "found in the image's text"}
        elif images or ocr_context:  # a question about the image: the model's reading stands, uncited
            answer, cited = clean_answer(generated), []
            notes = {"model_text": generated, "answer": ABOUT_IMAGE}
        elif not hits:  # nothing was searched or found: the model's answer, citing nothing
            answer, cited = clean_answer(generated), []
            notes = {"model_text": generated, "answer": "no sources"}
        else:
            answer, cited, notes = grounded_answer(generated, question, reply.sources, evidence)
        reply.text = prefix + answer
        notes.setdefault("answer_text", answer)  # what the user was given, without a citation marker
        reply.notes.update(notes, cited=cited)
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
                "system_prompt": system_prompt,
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
