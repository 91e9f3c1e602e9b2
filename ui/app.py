"""The Gradio app: assistant picker, chat, assistant editor, template editor and knowledge bases.

Every handler takes the logged-in user from `gr.Request` and goes through the `Store`, which refuses what
that user may not see, so the rules hold for API calls (`gradio_client`) exactly as for the page. Message
text is HTML-escaped before it is shown: nothing from a document or a model runs in the browser.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import inspect
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from ui.engine import ChatEngine, keep_no_decoded_pages_unless_asked
from ui.login import ClientAddress, PasswordLogin
from ui.rendering import ContentSecurityPolicy, safe_markdown
from ui.service import create_knowledge_base, delete_knowledge_base, ingest, seed_demo
from ui.uploads import MAX_UPLOAD_BYTES, UploadError, check_upload, is_image_type, save_upload
from vlm_pipelines.chat.store import ASSISTANT_TYPES, AccessError, Message, Store, StoreError
from vlm_pipelines.knowledge.bases import get_base, quality_rows, uploader
from vlm_pipelines.knowledge.index import KnowledgeBaseError, KnowledgeIndex

USER_ERRORS = (AccessError, StoreError, UploadError, KnowledgeBaseError)


def _user(request: gr.Request) -> str:
    if request is None or not request.username:
        raise gr.Error("log in first")
    return request.username


def _id(value: Any) -> int:
    """An id from a dropdown value ("12" or 12); a clear error otherwise."""
    try:
        return int(str(value).split(" ")[0].lstrip("#"))
    except (TypeError, ValueError):
        raise gr.Error("choose an item first") from None


def user_errors(function):
    """User errors (access, validation, uploads) become one-line messages in the page and the API. Works for
    plain handlers and for streaming (generator) ones; Gradio reads the signature (gr.Request) through
    `__wrapped__`."""
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def streaming(*args, **kwargs):
            try:
                yield from function(*args, **kwargs)
            except USER_ERRORS as error:
                raise gr.Error(str(error)) from None

        return streaming

    @functools.wraps(function)
    def plain(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except USER_ERRORS as error:
            raise gr.Error(str(error)) from None

    return plain


def _saved(choices: list[tuple[str, str]], record_id: int, what: str):
    """The editor's dropdown on the saved record, and the status line."""
    return gr.update(choices=choices, value=str(record_id)), f"saved {what} #{record_id}"


@functools.cache
def scratch() -> Path:
    """This process's own temp folder (mode 0700) for what the page shows: exports, image copies; removed
    when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="vlmbench-chat-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def shareable_copy(path: str) -> str:
    """A copy of a stored file in this process's temp folder, named by its content, for Gradio to show
    (Gradio serves it from its cache only; nothing under the data folder is served)."""
    data = Path(path).read_bytes()
    folder = scratch() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{hashlib.sha256(data).hexdigest()[:32]}{Path(path).suffix.lower()}"
    if not copy.exists():
        copy.write_bytes(data)
    return str(copy)


def escape(text: str) -> str:
    """Document or model text for the page: Markdown that loads and runs nothing (see `ui.rendering`)."""
    return safe_markdown(text)


def timing(message: Message) -> str:
    parts = []
    if message.processing_s is not None:
        parts.append(f"{message.processing_s:.1f} s")
    if message.ttft_s is not None:
        parts.append(f"first token {message.ttft_s:.2f} s")
    return ", ".join(parts)


def sources_markdown(sources: list[dict[str, Any]]) -> str:
    lines = []
    for source in sources:
        where = source["document"] + (f", page {source['page']}" if source.get("page") is not None else "")
        heading = f" — {source['heading_path']}" if source.get("heading_path") else ""
        lines.append(
            f"**[{source['n']}] {escape(where)}**{escape(heading)} (score {source['score']:.4f})  \n{escape(source['snippet'])}"
        )
    return "\n\n".join(lines) or "No sources (search is off or nothing matched)."


def conversation_rows(messages: list[Message]) -> tuple[list[dict[str, Any]], list[int | None]]:
    """The conversation as Chatbot messages, each answer followed by its collapsible Sources block, and the
    stored message id behind each row (None for Sources blocks and images)."""
    shown: list[dict[str, Any]] = []
    ids: list[int | None] = []
    for message in messages:
        if message.compare_group is not None and message.role == "assistant" and message.rating != 1:
            continue  # compare mode: only the picked answer stays in the conversation
        if message.role == "user":
            image = (message.notes or {}).get("image")
            if image and Path(image).is_file():
                shown.append({"role": "user", "content": gr.Image(shareable_copy(image))})
                ids.append(None)
            shown.append({"role": "user", "content": escape(message.content)})
            ids.append(message.id)
            continue
        notes = message.notes or {}
        extra = [notes[key] for key in ("history", "citations", "image") if notes.get(key)]
        content = escape(message.content) + "".join(f"\n\n*{escape(note)}*" for note in extra)
        title = f"Sources · {timing(message)}" if timing(message) else "Sources"
        shown.append({"role": "assistant", "content": content})
        shown.append(
            {
                "role": "assistant",
                "content": sources_markdown(message.sources or []),
                "metadata": {"title": title, "status": "done"},
            }
        )
        ids += [message.id, None]
    return shown, ids


def export_markdown(store: Store, username: str, conversation_id: int) -> str:
    conversation = store.conversation(username, conversation_id)
    assistant = store.assistant(username, conversation.assistant_id)
    lines = [f"# {conversation.title}", "", f"Assistant: {assistant.name} (model {assistant.model})", ""]
    for message in conversation.messages:
        lines.append(f"## {message.role}")
        lines.append(message.content)
        if message.role == "assistant":
            rating = {1: "👍", -1: "👎"}.get(message.rating, "not rated")
            lines.append(f"\n*{message.request.get('model', '')} · {timing(message)} · {rating}*")
            for source in message.sources or []:
                page = f", page {source['page']}" if source.get("page") is not None else ""
                lines.append(f"- [{source['n']}] {source['document']}{page}: {source['snippet']}")
        lines.append("")
    return "\n".join(lines)


def export_json(store: Store, username: str, conversation_id: int) -> dict[str, Any]:
    conversation = store.conversation(username, conversation_id)
    assistant = store.assistant(username, conversation.assistant_id)
    return {
        "id": conversation.id,
        "title": conversation.title,
        "assistant": {"id": assistant.id, "name": assistant.name, "model": assistant.model},
        "messages": [
            {
                "id": m.id,
                "role": m.role,
                "content": m.content,
                "sources": m.sources,
                "request": {k: v for k, v in (m.request or {}).items() if k not in ("prompt", "context")},
                "prompt_hash": (m.request or {}).get("prompt_hash"),
                "processing_s": m.processing_s,
                "ttft_s": m.ttft_s,
                "rating": m.rating,
                "notes": m.notes,
                "created_at": m.created_at.isoformat(),
            }
            for m in conversation.messages
        ],
    }


def assistant_cards(store: Store, username: str) -> str:
    cards = []
    for assistant in store.assistants(username):
        stats = store.assistant_stats(assistant.id)
        rating = f"{stats.rating:+.2f}" if stats.rating is not None else "no ratings"
        bases = ", ".join(record.name for record in assistant.knowledge_bases) or "none"
        visibility = "private" if assistant.private else "public"
        cards.append(
            f"<div class='vlm-card'><h3>#{assistant.id} {escape(assistant.name)}</h3>"
            f"<p>{escape(assistant.description)}</p>"
            f"<p><b>{escape(assistant.type)}</b> · model {escape(assistant.model)} · {visibility}<br>"
            f"knowledge: {escape(bases)}<br>"
            f"{stats.conversations} conversations · {stats.messages} messages · rating {rating}</p></div>"
        )
    return "<div class='vlm-cards'>" + "".join(cards) + "</div>" if cards else "<p>No assistants yet.</p>"


SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "sans-serif")
MONO_FONTS = ("ui-monospace", "Consolas", "monospace")
CSS = """
.vlm-whoami {align-items: center}
.vlm-cards {display: flex; flex-wrap: wrap; gap: 12px}
.vlm-card {border: 1px solid #ccc; border-radius: 8px; padding: 10px 14px; width: 300px}
"""


class ChatApp:
    """The app's handlers over one store, engine and data folder (see `build`)."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = Path(data_dir)
        self.engine = ChatEngine(store, data_dir)
        self.exports = scratch() / "exports"

    # ---- choices ---------------------------------------------------------------------------------

    def assistant_choices(self, username: str) -> list[tuple[str, str]]:
        return [(f"#{a.id} {a.name}", str(a.id)) for a in self.store.assistants(username)]

    def conversation_choices(self, username: str, assistant_id: int | None) -> list[tuple[str, str]]:
        return [(f"#{c.id} {c.title}", str(c.id)) for c in self.store.conversations(username, assistant_id)]

    def template_choices(self, username: str) -> list[tuple[str, str]]:
        return [(f"#{t.id} {t.name}", str(t.id)) for t in self.store.templates(username)]

    def model_choices(self) -> list[str]:
        from vlm_pipelines.model_registry import load_model_registry

        return list(load_model_registry())

    def kb_choices(self, username: str) -> list[str]:
        return [record.name for record in self.store.knowledge_bases(username)]

    # ---- picker and chat -------------------------------------------------------------------------

    @user_errors
    def refresh(self, request: gr.Request):
        username = _user(request)
        assistants = self.assistant_choices(username)
        first = assistants[0][1] if assistants else None
        return (
            assistant_cards(self.store, username),
            gr.update(choices=assistants, value=first),
            gr.update(choices=assistants, value=first),
            gr.update(choices=self.template_choices(username), value=None),
            gr.update(choices=[""] + self.model_choices(), value=""),
            f"Logged in as **{escape(username)}**",
        )

    @user_errors
    def list_assistants(self, request: gr.Request) -> list[dict[str, Any]]:
        """The assistants this user may use, with their statistics."""
        username = _user(request)
        rows = []
        for assistant in self.store.assistants(username):
            stats = self.store.assistant_stats(assistant.id)
            rows.append(
                {
                    "id": assistant.id,
                    "name": assistant.name,
                    "type": assistant.type,
                    "model": assistant.model,
                    "private": assistant.private,
                    "knowledge_bases": [record.name for record in assistant.knowledge_bases],
                    "conversations": stats.conversations,
                    "messages": stats.messages,
                    "rating": stats.rating,
                }
            )
        return rows

    @user_errors
    def pick_assistant(self, assistant_value, request: gr.Request):
        username = _user(request)
        assistant_id = _id(assistant_value)
        self.store.assistant(username, assistant_id)
        conversations = self.conversation_choices(username, assistant_id)
        value = conversations[0][1] if conversations else None
        return (
            gr.update(value=str(assistant_id)),
            gr.update(choices=conversations, value=value),
            gr.Tabs(selected="chat"),
        )

    @user_errors
    def assistant_changed(self, assistant_value, request: gr.Request):
        username = _user(request)
        if not assistant_value:
            return gr.update(choices=[], value=None)
        conversations = self.conversation_choices(username, _id(assistant_value))
        return gr.update(choices=conversations, value=conversations[0][1] if conversations else None)

    @user_errors
    def new_conversation(self, assistant_value, request: gr.Request):
        username = _user(request)
        conversation = self.store.new_conversation(username, _id(assistant_value))
        return gr.update(
            choices=self.conversation_choices(username, _id(assistant_value)), value=str(conversation.id)
        )

    @user_errors
    def open_conversation(self, conversation_value, request: gr.Request):
        """The conversation's messages (Chatbot format) and the message id behind each row."""
        username = _user(request)
        if not conversation_value:
            return [], []
        conversation = self.store.conversation(username, _id(conversation_value))
        return conversation_rows(conversation.messages)

    @user_errors
    def ask(self, conversation_value, message, template_value, request: gr.Request):
        """Streams the answer to `message` ({"text", "files"} or a string) in the conversation."""
        username = _user(request)
        conversation_id = _id(conversation_value)
        conversation = self.store.conversation(username, conversation_id)
        text, files = (
            (message.get("text", ""), message.get("files", []))
            if isinstance(message, dict)
            else (message, [])
        )
        image, notices = None, []
        for file in files:
            path = Path(file if isinstance(file, str) else file.get("path"))
            data = path.read_bytes()
            kind = check_upload(path.name, data)
            if is_image_type(kind):
                image = str(
                    save_upload(self.data_dir / "chat" / "images" / str(conversation_id), path.name, data)
                )
            else:
                notices.append(self.add_to_knowledge(username, conversation.assistant_id, path.name, data))
        history, history_ids = conversation_rows(conversation.messages)
        added = [{"role": "assistant", "content": "📎 " + escape(notice)} for notice in notices]
        if not text.strip() and image is None:
            notice = added or [{"role": "assistant", "content": "Type a question."}]
            yield history + notice, history_ids + [None] * len(notice), None
            return
        template_id = _id(template_value) if template_value else None
        shown_question = [{"role": "user", "content": gr.Image(shareable_copy(image))}] if image else []
        shown_question.append({"role": "user", "content": escape(text)})
        for reply in self.engine.ask(username, conversation_id, text, image=image, template_id=template_id):
            if reply.done:
                break
            answer = [{"role": "assistant", "content": escape(reply.text)}]
            yield history + shown_question + added + answer, [], None
        conversation = self.store.conversation(username, conversation_id)
        rows, row_ids = conversation_rows(conversation.messages)
        yield rows + added, row_ids + [None] * len(added), None

    def reindex(self, name: str) -> dict[str, Any]:
        """Runs the knowledge job for `name` (in the Dagster instance) and drops the chat's stale copy of
        the index; the job's materialization metadata."""
        metadata = ingest(name, self.data_dir)
        self.engine.forget_index(name)
        return metadata

    def add_to_knowledge(self, username: str, assistant_id: int, name: str, data: bytes) -> str:
        assistant = self.store.assistant(username, assistant_id)
        writable = [r.name for r in assistant.knowledge_bases if self.store.may_upload(username, r.name)]
        if not writable:
            raise UploadError(f"assistant {assistant.name!r} has no knowledge base you may add documents to")
        base = get_base(writable[0], self.data_dir)
        save_upload(base.upload_folder(username), name, data)
        metadata = self.reindex(writable[0])
        return f"Added {name} to knowledge base {writable[0]} ({metadata.get('chunks')} chunks in all)."

    @user_errors
    def rate(self, message_id, rating, request: gr.Request) -> str:
        """Rates an answer +1 or -1."""
        self.store.rate_message(_user(request), int(message_id), int(rating))
        return f"rated message {int(message_id)}: {int(rating):+d}"

    def like(self, ids: list, data: gr.LikeData, request: gr.Request) -> str:
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        message_id = ids[index] if ids and 0 <= index < len(ids) else None
        if message_id is None and ids and 0 < index < len(ids):
            message_id = ids[index - 1]  # a Sources block rates the answer above it
        if message_id is None:
            raise gr.Error("rate an answer")
        return self.rate(message_id, 1 if data.liked else -1, request)

    @user_errors
    def rename(self, conversation_value, title, request: gr.Request):
        username = _user(request)
        self.store.rename_conversation(username, _id(conversation_value), title)
        conversation = self.store.conversation(username, _id(conversation_value))
        return gr.update(
            choices=self.conversation_choices(username, conversation.assistant_id), value=str(conversation.id)
        )

    @user_errors
    def clear(self, conversation_value, request: gr.Request):
        self.store.clear_conversation(_user(request), _id(conversation_value))
        return [], []

    @user_errors
    def delete(self, assistant_value, conversation_value, request: gr.Request):
        username = _user(request)
        self.store.delete_conversation(username, _id(conversation_value))
        choices = self.conversation_choices(username, _id(assistant_value)) if assistant_value else []
        return gr.update(choices=choices, value=choices[0][1] if choices else None)

    @user_errors
    def export(self, conversation_value, kind, request: gr.Request) -> str:
        """Writes the conversation as Markdown or JSON and returns the file for download."""
        username = _user(request)
        conversation_id = _id(conversation_value)
        folder = self.exports / username
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "json":
            path = folder / f"conversation-{conversation_id}.json"
            path.write_text(
                json.dumps(export_json(self.store, username, conversation_id), indent=2, ensure_ascii=False),
                encoding="utf-8",
            )
        else:
            path = folder / f"conversation-{conversation_id}.md"
            path.write_text(export_markdown(self.store, username, conversation_id), encoding="utf-8")
        return str(path)

    def export_markdown(self, conversation_value, request: gr.Request) -> str:
        return self.export(conversation_value, "md", request)

    def export_json(self, conversation_value, request: gr.Request) -> str:
        return self.export(conversation_value, "json", request)

    # ---- compare mode ----------------------------------------------------------------------------

    @user_errors
    def compare(self, conversation_value, question, model_b, request: gr.Request):
        """Two models answer the same question side by side; `pick` stores the better one like a rating."""
        import uuid

        username = _user(request)
        conversation_id = _id(conversation_value)
        conversation = self.store.conversation(username, conversation_id)
        assistant = self.store.assistant(username, conversation.assistant_id)
        if not model_b:
            raise StoreError("choose the second model to compare with")
        group = uuid.uuid4().hex[:12]
        answers: dict[str, Message | None] = {"a": None, "b": None}
        texts = {"a": "", "b": ""}
        for side, model, first in (("a", assistant.model, True), ("b", model_b, False)):
            for reply in self.engine.ask(
                username,
                conversation_id,
                question,
                model_name=model,
                compare_group=group,
                record_question=first,
            ):
                texts[side] = reply.text
                if reply.message is not None:
                    answers[side] = reply.message
                yield self._compare_view(texts, answers, assistant.model, model_b)
        yield self._compare_view(texts, answers, assistant.model, model_b)

    def _compare_view(self, texts, answers, model_a, model_b):
        def view(side, model):
            message = answers[side]
            footer = f"\n\n*{timing(message)}*\n\n{sources_markdown(message.sources)}" if message else ""
            return f"**{escape(model)}**\n\n{escape(texts[side])}{footer}"

        ids = [answers["a"].id if answers["a"] else None, answers["b"].id if answers["b"] else None]
        return view("a", model_a), view("b", model_b), ids

    @user_errors
    def pick(self, ids, side, request: gr.Request) -> str:
        chosen = (ids or [None, None])[0 if side == "a" else 1]
        if chosen is None:
            raise gr.Error("ask both models first")
        self.store.pick_answer(_user(request), int(chosen))
        return f"stored: answer {side.upper()} is better"

    def pick_a(self, ids, request: gr.Request) -> str:
        return self.pick(ids, "a", request)

    def pick_b(self, ids, request: gr.Request) -> str:
        return self.pick(ids, "b", request)

    # ---- assistant and template editors ----------------------------------------------------------

    @user_errors
    def load_assistant(self, assistant_value, request: gr.Request):
        username = _user(request)
        if not assistant_value:
            return ["", "", "qa", "", self.model_choices()[0], 0.0, 96, [], True, 3, None, True, ""]
        a = self.store.assistant(username, _id(assistant_value))
        stats = self.store.assistant_stats(a.id)
        rating = f"{stats.rating:+.2f}" if stats.rating is not None else "no ratings"
        return [
            a.name, a.description, a.type, a.system_prompt, a.model, a.temperature, a.max_tokens,
            [r.name for r in a.knowledge_bases], a.search_enabled, a.search_limit,
            str(a.template_id) if a.template_id else None, a.private,
            f"{stats.conversations} conversations · {stats.messages} messages · rating {rating}"
            + self._read_only(username, "assistant", a.id),
        ]  # fmt: skip

    def _read_only(self, username: str, kind: str, record_id: int) -> str:
        if self.store.may_change_record(username, kind, record_id):
            return ""
        return f" · read-only for you: its owner or an admin changes this {kind}"

    @user_errors
    def save_assistant(self, assistant_value, name, description, kind, system_prompt, model, temperature,
                       max_tokens, bases, search, limit, template_value, private, request: gr.Request):  # fmt: skip
        username = _user(request)
        if model not in self.model_choices():
            raise gr.Error(f"unknown model {model!r}; choose one of the registry's models")
        assistant = self.store.save_assistant(
            username,
            assistant_id=_id(assistant_value) if assistant_value else None,
            knowledge_bases=bases or [],
            name=name, description=description, type=kind, system_prompt=system_prompt, model=model,
            temperature=float(temperature), max_tokens=int(max_tokens), search_enabled=bool(search),
            search_limit=int(limit), template_id=_id(template_value) if template_value else None, private=bool(private),
        )  # fmt: skip
        return _saved(self.assistant_choices(username), assistant.id, "assistant")

    @user_errors
    def load_template(self, template_value, request: gr.Request):
        if not template_value:
            return ["", "rag", "", "", "", True, ""]  # a new template is private until shared
        t = self.store.template(_user(request), _id(template_value))
        rating = f"{t.rating:+.2f}" if t.rating is not None else "no ratings"
        return [t.name, t.type, t.text, t.response_format, ", ".join(t.tags or []), t.private,
                f"used {t.usage_count} times · rating {rating}"
                + self._read_only(_user(request), "template", t.id)]  # fmt: skip

    @user_errors
    def save_template(
        self, template_value, name, kind, text, response_format, tags, private, request: gr.Request
    ):
        username = _user(request)
        template = self.store.save_template(
            username,
            template_id=_id(template_value) if template_value else None,
            name=name or "Untitled", type=kind, text=text, response_format=response_format,
            tags=[tag.strip() for tag in (tags or "").split(",") if tag.strip()], private=bool(private),
        )  # fmt: skip
        return _saved(self.template_choices(username), template.id, "template")

    # ---- knowledge bases -------------------------------------------------------------------------

    @user_errors
    def kb_view(self, name, request: gr.Request):
        username = _user(request)
        if not name:
            return [], [], [], ""
        self.store.knowledge_base(username, name)
        index = KnowledgeIndex(name, self.data_dir)
        manifest = index.manifest()
        files = [
            [doc, uploader(doc) or "(source)", entry.get("type", ""), len(entry.get("chunks", [])), "indexed"]
            for doc, entry in manifest["documents"].items()
        ]
        skipped = [[doc, reason] for doc, reason in index.skipped().items()]
        quality = [
            [r["mode"], r["questions"], r["n"], r["hit@1"], r["hit@3"], r["hit@5"], round(r["mrr"], 3)]
            for r in quality_rows(name, self.data_dir)
        ]
        report = index.last_report() or {}
        summary = (
            f"{report.get('documents', 0)} documents · {report.get('chunks', 0)} chunks · {len(skipped)} skipped · "
            f"last ingestion {report.get('chunks_per_s', 0):.1f} chunks/s · OCR {report.get('ocr_engine') or 'n/a'}"
            if report
            else "not indexed yet"
        )
        return files, skipped, quality, summary

    @user_errors
    def kb_create(self, name, description, private, request: gr.Request):
        username = _user(request)
        create_knowledge_base(self.store, username, name, description, bool(private), self.data_dir)
        self.reindex(name)
        return gr.update(choices=self.kb_choices(username), value=name), f"created knowledge base {name}"

    @user_errors
    def kb_upload(self, name, files, request: gr.Request):
        """Adds files to a knowledge base and re-indexes it; each refused file is listed with its reason."""
        username = _user(request)
        if not name:
            raise gr.Error("choose a knowledge base")
        if not self.store.may_upload(username, name):
            raise AccessError(f"no knowledge base {name!r} that you may upload to")
        base = get_base(name, self.data_dir)
        accepted, refused = [], []
        for file in files or []:
            path = Path(file if isinstance(file, str) else file.name)
            try:
                save_upload(
                    base.upload_folder(username),
                    Path(getattr(file, "orig_name", None) or path.name).name,
                    path.read_bytes(),
                )
                accepted.append(path.name)
            except UploadError as error:
                refused.append(str(error))
        if accepted:
            self.reindex(name)
        message = f"added {len(accepted)} file(s)" + "".join(f"\n- refused: {reason}" for reason in refused)
        return message

    @user_errors
    def kb_reindex(self, name, request: gr.Request) -> str:
        username = _user(request)
        if not self.store.may_upload(username, name):
            raise AccessError(f"no knowledge base {name!r} that you may upload to")
        metadata = self.reindex(name)
        return f"re-indexed {name}: {metadata.get('documents')} documents, {metadata.get('chunks')} chunks"

    @user_errors
    def set_members(self, name, members, request: gr.Request) -> str:
        """Names the users (comma-separated) who may upload into the knowledge base (owner or admin only)."""
        names = members if isinstance(members, list) else str(members or "").split(",")
        kept = self.store.set_members(_user(request), name, names)
        return f"members of {name}: {', '.join(kept) or 'none'}"

    @user_errors
    def delete_document(self, name, document, request: gr.Request) -> str:
        """Deletes an uploaded document (the knowledge base's owner, an admin, or its uploader) and its chunks."""
        username = _user(request)
        self.store.knowledge_base(username, name)
        allowed = self.store.may_change_knowledge_base(username, name) or (
            uploader(document or "") == username and self.store.may_upload(username, name)
        )
        path = get_base(name, self.data_dir).upload_path(document or "")
        if not allowed or (path is not None and not path.is_file()):
            raise AccessError(f"no document {document!r} in {name!r} that you may delete")
        if path is None:
            raise StoreError(f"{document!r} is a source file of {name!r}; only uploads can be deleted")
        path.unlink()
        metadata = self.reindex(name)
        return f"deleted {document} from {name} ({metadata.get('chunks')} chunks left)"

    @user_errors
    def delete_knowledge_base(self, name, request: gr.Request):
        """Deletes a created knowledge base with its documents and index (owner or admin)."""
        username = _user(request)
        delete_knowledge_base(self.store, username, name, self.data_dir)
        self.engine.forget_index(name)
        choices = self.kb_choices(username)
        shown = gr.update(choices=choices, value=choices[0] if choices else None)
        return shown, f"deleted knowledge base {name}"

    @user_errors
    def delete_assistant(self, assistant_value, request: gr.Request):
        """Deletes an assistant and its conversations (owner or admin)."""
        username = _user(request)
        self.store.delete_assistant(username, _id(assistant_value))
        return gr.update(choices=self.assistant_choices(username), value=None), (
            f"deleted assistant #{_id(assistant_value)}"
        )

    @user_errors
    def delete_template(self, template_value, request: gr.Request):
        """Deletes a template (owner or admin); assistants that used it fall back to the default."""
        username = _user(request)
        self.store.delete_template(username, _id(template_value))
        return gr.update(choices=self.template_choices(username), value=None), (
            f"deleted template #{_id(template_value)}"
        )


def build(store: Store, data_dir: Path) -> tuple[gr.Blocks, ChatApp]:
    app = ChatApp(store, data_dir)
    with gr.Blocks(title="vlmbench chat") as demo:
        with gr.Row(elem_classes="vlm-whoami"):
            whoami = gr.Markdown()
            gr.Button("Log out", link="/logout", size="sm", scale=0, min_width=100)
        with gr.Tabs() as tabs:
            with gr.Tab("Assistants", id="picker"):
                cards = gr.HTML()
                with gr.Row():
                    picker = gr.Dropdown(label="Assistant", choices=[], allow_custom_value=True)
                    open_chat = gr.Button("Chat with this assistant", variant="primary")
                assistant_list = gr.JSON(visible=False)
            with gr.Tab("Chat", id="chat"):
                with gr.Row():
                    assistant = gr.Dropdown(label="Assistant", choices=[], allow_custom_value=True)
                    conversation = gr.Dropdown(label="Conversation", choices=[], allow_custom_value=True)
                    template = gr.Dropdown(
                        label="Prompt template (this chat)", choices=[], allow_custom_value=True
                    )
                with gr.Row():
                    new = gr.Button("New conversation")
                    title = gr.Textbox(label="Rename to", scale=2)
                    rename = gr.Button("Rename")
                    clear = gr.Button("Clear")
                    delete = gr.Button("Delete", variant="stop")
                chatbot = gr.Chatbot(label="Conversation", height=480, allow_tags=False, sanitize_html=True)
                ids = gr.JSON(visible=False)
                box = gr.MultimodalTextbox(
                    label="Ask (attach a document to add it to the knowledge base, or an image to ask about it)",
                    file_types=[".pdf", ".docx", ".md", ".txt", ".html", ".png", ".jpg", ".jpeg"],
                )
                status = gr.Markdown()
                with gr.Row():
                    export_md = gr.Button("Export Markdown")
                    export_js = gr.Button("Export JSON")
                    exported = gr.File(label="Export", interactive=False)
                with gr.Accordion("Compare two models", open=False):
                    with gr.Row():
                        compare_question = gr.Textbox(label="Question", scale=3)
                        compare_model = gr.Dropdown(
                            label="Compare with model", choices=[], allow_custom_value=True
                        )
                        compare_go = gr.Button("Ask both")
                    with gr.Row():
                        answer_a = gr.Markdown(label="A")
                        answer_b = gr.Markdown(label="B")
                    compare_ids = gr.JSON(visible=False)
                    with gr.Row():
                        pick_a = gr.Button("A is better")
                        pick_b = gr.Button("B is better")
            with gr.Tab("Assistant editor", id="assistant-editor"):
                edit_choice = gr.Dropdown(
                    label="Assistant (empty: a new one)", choices=[], allow_custom_value=True
                )
                edit_name = gr.Textbox(label="Name")
                edit_description = gr.Textbox(label="Description")
                edit_type = gr.Dropdown(label="Type", choices=list(ASSISTANT_TYPES), value="qa")
                edit_system = gr.Textbox(label="System prompt", lines=3)
                edit_model = gr.Dropdown(label="Model (registry name)", choices=app.model_choices())
                with gr.Row():
                    edit_temperature = gr.Slider(0, 2, value=0.0, step=0.1, label="Temperature")
                    edit_tokens = gr.Number(value=96, precision=0, label="Max tokens")
                edit_bases = gr.Dropdown(
                    label="Knowledge bases", choices=[], multiselect=True, allow_custom_value=True
                )
                with gr.Row():
                    edit_search = gr.Checkbox(value=True, label="Search the knowledge bases")
                    edit_limit = gr.Number(value=3, precision=0, label="Search limit")
                    edit_private = gr.Checkbox(value=True, label="Private (only you)")
                edit_template = gr.Dropdown(label="Default template", choices=[], allow_custom_value=True)
                edit_stats = gr.Markdown()
                with gr.Row():
                    edit_save = gr.Button("Save assistant", variant="primary")
                    edit_delete = gr.Button("Delete assistant", variant="stop")
                edit_status = gr.Markdown()
            with gr.Tab("Templates", id="templates"):
                tpl_choice = gr.Dropdown(
                    label="Template (empty: a new one)", choices=[], allow_custom_value=True
                )
                tpl_name = gr.Textbox(label="Name")
                tpl_type = gr.Dropdown(
                    label="Type", choices=["rag", "qa", "extraction", "summary", "custom"], value="rag"
                )
                tpl_text = gr.Textbox(label="Text: {context}, {question}, {history}", lines=6)
                tpl_format = gr.Textbox(label="Expected response format")
                tpl_tags = gr.Textbox(label="Tags (comma-separated)")
                tpl_private = gr.Checkbox(value=True, label="Private")
                tpl_stats = gr.Markdown()
                with gr.Row():
                    tpl_save = gr.Button("Save template", variant="primary")
                    tpl_delete = gr.Button("Delete template", variant="stop")
                tpl_status = gr.Markdown()
            with gr.Tab("Knowledge bases", id="knowledge"):
                kb = gr.Dropdown(label="Knowledge base", choices=[], allow_custom_value=True)
                kb_summary = gr.Markdown()
                with gr.Row():
                    kb_files = gr.File(label="Upload documents", file_count="multiple")
                    kb_add = gr.Button("Add and index")
                    kb_reindex = gr.Button("Re-index")
                kb_status = gr.Markdown()
                kb_table = gr.Dataframe(
                    headers=["document", "uploaded by", "type", "chunks", "status"],
                    label="Files",
                    interactive=False,
                )
                with gr.Row():
                    kb_document = gr.Textbox(label="Document to delete (an upload: files/<uploader>/<file>)")
                    kb_delete_document = gr.Button("Delete document", variant="stop")
                    kb_members = gr.Textbox(label="Members who may upload (comma-separated users)")
                    kb_set_members = gr.Button("Set members")
                    kb_delete = gr.Button("Delete knowledge base", variant="stop")
                kb_skipped = gr.Dataframe(
                    headers=["document", "reason"], label="Skipped files", interactive=False
                )
                kb_quality = gr.Dataframe(
                    headers=["mode", "questions", "n", "hit@1", "hit@3", "hit@5", "MRR"],
                    label="Retrieval quality",
                    interactive=False,
                )
                with gr.Row():
                    kb_new_name = gr.Textbox(label="New knowledge base name")
                    kb_new_description = gr.Textbox(label="Description")
                    kb_new_private = gr.Checkbox(value=True, label="Private")
                    kb_create = gr.Button("Create")

        def load_lists(request: gr.Request):
            username = _user(request)
            templates = app.template_choices(username)
            bases = app.kb_choices(username)
            return (
                *app.refresh(request),
                gr.update(choices=app.assistant_choices(username)),
                gr.update(choices=templates),
                gr.update(choices=templates),
                gr.update(choices=bases),
                gr.update(choices=bases, value=bases[0] if bases else None),
            )

        demo.load(
            load_lists,
            None,
            [
                cards,
                picker,
                assistant,
                template,
                compare_model,
                whoami,
                edit_choice,
                edit_template,
                tpl_choice,
                edit_bases,
                kb,
            ],
            api_name=False,
        )
        open_chat.click(
            app.pick_assistant, [picker], [assistant, conversation, tabs], api_name="pick_assistant"
        )
        gr.Button(visible=False).click(app.list_assistants, None, assistant_list, api_name="list_assistants")
        assistant.change(app.assistant_changed, [assistant], [conversation], api_name=False)
        conversation.change(
            app.open_conversation, [conversation], [chatbot, ids], api_name="open_conversation"
        )
        new.click(app.new_conversation, [assistant], [conversation], api_name="new_conversation")
        box.submit(app.ask, [conversation, box, template], [chatbot, ids, box], api_name="ask")
        chatbot.like(app.like, [ids], [status], api_name=False)
        rename.click(app.rename, [conversation, title], [conversation], api_name="rename")
        clear.click(app.clear, [conversation], [chatbot, ids], api_name="clear")
        delete.click(app.delete, [assistant, conversation], [conversation], api_name="delete")
        export_md.click(app.export_markdown, [conversation], [exported], api_name="export_markdown")
        export_js.click(app.export_json, [conversation], [exported], api_name="export_json")
        rate_id, rate_value = gr.Number(visible=False), gr.Number(visible=False)
        gr.Button(visible=False).click(app.rate, [rate_id, rate_value], [status], api_name="rate")
        compare_go.click(
            app.compare,
            [conversation, compare_question, compare_model],
            [answer_a, answer_b, compare_ids],
            api_name="compare",
        )
        pick_a.click(app.pick_a, [compare_ids], [status], api_name="pick_a")
        pick_b.click(app.pick_b, [compare_ids], [status], api_name="pick_b")
        edit_fields = [edit_name, edit_description, edit_type, edit_system, edit_model, edit_temperature, edit_tokens,
                       edit_bases, edit_search, edit_limit, edit_template, edit_private]  # fmt: skip
        edit_choice.change(app.load_assistant, [edit_choice], [*edit_fields, edit_stats], api_name=False)

        def chat_lists(assistant_value, template_value, request: gr.Request):
            """After a save or a delete: the Chat tab's (and picker's) lists as they now are, the choices kept
            while their records exist."""
            username = _user(request)
            assistants, templates = app.assistant_choices(username), app.template_choices(username)

            def kept(value, choices):
                return value if value in {choice for _, choice in choices} else None

            return (
                assistant_cards(app.store, username),
                gr.update(choices=assistants),
                gr.update(choices=assistants, value=kept(assistant_value, assistants)),
                gr.update(choices=templates, value=kept(template_value, templates)),
                gr.update(choices=templates),
            )

        chat_list_outputs = [cards, picker, assistant, template, edit_template]
        edit_save.click(
            app.save_assistant,
            [edit_choice, *edit_fields],
            [edit_choice, edit_status],
            api_name="save_assistant",
        ).then(chat_lists, [assistant, template], chat_list_outputs, api_name=False)
        tpl_fields = [tpl_name, tpl_type, tpl_text, tpl_format, tpl_tags, tpl_private]
        tpl_choice.change(app.load_template, [tpl_choice], [*tpl_fields, tpl_stats], api_name=False)
        tpl_save.click(
            app.save_template, [tpl_choice, *tpl_fields], [tpl_choice, tpl_status], api_name="save_template"
        ).then(chat_lists, [assistant, template], chat_list_outputs, api_name=False)
        kb.change(
            app.kb_view, [kb], [kb_table, kb_skipped, kb_quality, kb_summary], api_name="knowledge_base"
        )
        kb_add.click(app.kb_upload, [kb, kb_files], [kb_status], api_name="upload").then(
            app.kb_view, [kb], [kb_table, kb_skipped, kb_quality, kb_summary], api_name=False
        )
        kb_reindex.click(app.kb_reindex, [kb], [kb_status], api_name="reindex")
        kb_delete_document.click(
            app.delete_document, [kb, kb_document], [kb_status], api_name="delete_document"
        ).then(app.kb_view, [kb], [kb_table, kb_skipped, kb_quality, kb_summary], api_name=False)
        kb_set_members.click(app.set_members, [kb, kb_members], [kb_status], api_name="set_members")
        kb_delete.click(app.delete_knowledge_base, [kb], [kb, kb_status], api_name="delete_knowledge_base")
        edit_delete.click(
            app.delete_assistant, [edit_choice], [edit_choice, edit_status], api_name="delete_assistant"
        ).then(chat_lists, [assistant, template], chat_list_outputs, api_name=False)
        tpl_delete.click(
            app.delete_template, [tpl_choice], [tpl_choice, tpl_status], api_name="delete_template"
        ).then(chat_lists, [assistant, template], chat_list_outputs, api_name=False)
        kb_create.click(
            app.kb_create,
            [kb_new_name, kb_new_description, kb_new_private],
            [kb, kb_status],
            api_name="create_knowledge_base",
        )
    return demo, app


def launch(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    seed: bool = True,
    threads: int | None = None,
):
    """Seeds the demo (once), warms the demo model, and serves the app with login. `threads`: torch's
    thread count for this process (the CLI passes `chat_threads()`; None leaves it as it is)."""
    if block:
        stop_on_sigterm()  # from the start: a stop sent while seeding or loading is not lost
    keep_no_decoded_pages_unless_asked()
    store = Store(Store.default_url(data_dir))
    if seed:
        seed_demo(store, data_dir)
    if block:
        stop_on_sigterm()  # again: the seeding's Dagster run resets SIGTERM to the inherited SIGINT disposition
    demo, app = build(store, data_dir)
    for assistant in store.assistants(store_first_user(store)):
        try:
            app.engine.warm_up(assistant.model)
            break
        except Exception:  # noqa: BLE001 - the chat reports a model that cannot load when it is used
            continue
    if threads:  # after the warm-up: loading applies the model entry's own num_threads
        import torch

        torch.set_num_threads(threads)
    demo.queue(default_concurrency_limit=4)
    login = app.login = PasswordLogin(store.authenticate)
    demo.launch(
        server_name=host,
        server_port=port,
        auth=login.authenticate,
        # The page loads nothing from elsewhere: a CSP header on every response, and system fonts (the
        # default theme fetches Google fonts).
        app_kwargs={"middleware": [Middleware(ContentSecurityPolicy), Middleware(ClientAddress)]},
        theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS),
        auth_message="vlmbench chat: log in (VLMBENCH_CHAT_USERS sets the users; the demo default is demo / demo)",
        prevent_thread_lock=True,
        quiet=True,
        css=CSS,
        # Nothing under the data folder is served (it holds the database): what the page shows is a copy in
        # the temp folder, which Gradio serves only from its cache, under a content hash.
        blocked_paths=[str(Path(data_dir).resolve())],
        max_file_size=MAX_UPLOAD_BYTES,
    )
    if block:
        stop_on_sigterm()
        print(f"vlmbench chat: ready at http://{host}:{port} (Ctrl-C stops)", flush=True)
        demo.block_thread()
    return demo, app


def stop_on_sigterm() -> None:
    """SIGTERM stops the server (through `block_thread`), whatever the process inherited: started with SIGINT
    ignored (`cmd &` in a script), a Dagster run in the main thread (the seeding) leaves SIGTERM ignored as
    well, and every helper it starts later (Dagster's `tail -F` log mirrors) would inherit that and outlive
    its 30 s terminate wait. A Python handler here is reset to the default in child processes."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def store_first_user(store: Store) -> str:
    from sqlalchemy import select

    from vlm_pipelines.chat.store import User

    with store.session() as session:
        return session.scalar(select(User.username).order_by(User.id))
