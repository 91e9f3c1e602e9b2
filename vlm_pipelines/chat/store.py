"""The chat app's records: users, assistants, prompt templates, knowledge-base ownership, conversations and
messages (with their sources, the model request, timings and ratings). SQLAlchemy 2 on SQLite by default
(`<data dir>/chat/app.db`), or any database URL (Postgres: `postgresql+psycopg2://...`); tables are created
on start.

Access is decided here, for every read and write, not in the screens: a private assistant, template or
knowledge base is visible to its owner only, and a conversation to the user who holds it. The app's
handlers (and so its API) only reach records through these functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    create_engine,
    func,
    or_,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

ASSISTANT_TYPES = ("support", "qa", "analyzer", "custom")
TEMPLATE_VARIABLES = ("context", "question", "history")
NEW_TITLE = "New conversation"
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AccessError(PermissionError):
    """The user may not see or change this record (it is reported as not found, to reveal nothing)."""


class StoreError(ValueError):
    """A record that cannot be saved as given; the message says why."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


assistant_knowledge = Table(
    "assistant_knowledge",
    Base.metadata,
    Column("assistant_id", ForeignKey("assistants.id", ondelete="CASCADE"), primary_key=True),
    Column("knowledge_base", ForeignKey("knowledge_bases.name", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class KnowledgeBaseRecord(Base):
    """Who may use a knowledge base (its documents and index live in the data folder)."""

    __tablename__ = "knowledge_bases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class PromptTemplate(Base):
    __tablename__ = "prompt_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32), default="rag")
    text: Mapped[str] = mapped_column(Text)
    response_format: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)

    @property
    def rating(self) -> float | None:
        return self.rating_sum / self.rating_count if self.rating_count else None


class Assistant(Base):
    __tablename__ = "assistants"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(32), default="qa")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str] = mapped_column(String(128))  # a model registry name
    temperature: Mapped[float] = mapped_column(Float, default=0.0)
    max_tokens: Mapped[int] = mapped_column(Integer, default=96)
    search_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    search_limit: Mapped[int] = mapped_column(Integer, default=3)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_templates.id"), nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    knowledge_bases: Mapped[list[KnowledgeBaseRecord]] = relationship(
        secondary=assistant_knowledge, lazy="selectin"
    )
    template: Mapped[PromptTemplate | None] = relationship(lazy="selectin")


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(primary_key=True)
    assistant_id: Mapped[int] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(256), default=NEW_TITLE)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    messages: Mapped[list[Message]] = relationship(
        order_by="Message.id", cascade="all, delete-orphan", lazy="selectin"
    )


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    sources: Mapped[list] = mapped_column(
        JSON, default=list
    )  # [{n, document, page, heading_path, snippet, text, score}]
    request: Mapped[dict] = mapped_column(
        JSON, default=dict
    )  # model, model_id, version, params, generation, prompt_hash
    processing_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    ttft_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)  # +1 / -1
    notes: Mapped[dict] = mapped_column(JSON, default=dict)  # history windowing, citations, OCR of an image
    compare_group: Mapped[str | None] = mapped_column(String(32), nullable=True)  # answers shown side by side
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


# ---- passwords ----------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(computed.hex(), digest)


# ---- templates ----------------------------------------------------------------------------------

DEFAULT_TEMPLATE = (
    "Sources:\n{context}\n\n{history}Answer the question from the sources in one sentence, and cite the "
    "source you use as [n].\nQuestion: {question}"
)


def template_problems(text: str) -> list[str]:
    """Why a template cannot be used (empty when it can): unknown variables, broken braces, no question."""
    problems = []
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as error:
        return [f"the template's braces do not parse: {error} (write {{{{ and }}}} for literal braces)"]
    unknown = sorted({name for name in fields if name not in TEMPLATE_VARIABLES})
    if unknown:
        problems.append(
            f"unknown variable(s) {unknown}; use {', '.join('{' + v + '}' for v in TEMPLATE_VARIABLES)}"
        )
    if "question" not in fields:
        problems.append("the template must contain {question}")
    return problems


# ---- the store ----------------------------------------------------------------------------------


Shared = TypeVar("Shared", KnowledgeBaseRecord, PromptTemplate, Assistant)


def visible_to(record: KnowledgeBaseRecord | PromptTemplate | Assistant | None, user: User | None) -> bool:
    """The one access rule for shared records: public, or private and the user's own (the rule
    `Store._visible_records` queries by)."""
    return record is not None and (not record.private or (user is not None and record.owner_id == user.id))


@dataclass(frozen=True)
class AssistantStats:
    conversations: int
    messages: int
    rating: float | None  # mean of the ratings given (+1 / -1), None without ratings


class Store:
    """The records behind the app; every accessor takes the acting user and enforces access."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, future=True)
        Base.metadata.create_all(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @staticmethod
    def default_url(data_dir: Path) -> str:
        """`VLMBENCH_CHAT_DB` (a SQLAlchemy URL, e.g. postgresql+psycopg://...) or SQLite in the data folder."""
        return os.environ.get("VLMBENCH_CHAT_DB") or f"sqlite:///{Path(data_dir) / 'chat' / 'app.db'}"

    def session(self) -> Session:
        return self.sessions()

    # users

    def add_user(self, username: str, password: str) -> User:
        if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", username):
            raise StoreError("a username is 1-64 letters, digits, '_', '.', '@' or '-'")
        with self.session() as session, session.begin():
            if session.scalar(select(User).where(User.username == username)):
                raise StoreError(f"user {username!r} exists")
            user = User(username=username, password_hash=hash_password(password))
            session.add(user)
        return user

    def ensure_user(self, username: str, password: str) -> User:
        existing = self.user(username)
        return existing if existing is not None else self.add_user(username, password)

    def user(self, username: str) -> User | None:
        with self.session() as session:
            return session.scalar(select(User).where(User.username == username))

    def authenticate(self, username: str, password: str) -> bool:
        user = self.user(username)
        return user is not None and check_password(password, user.password_hash)

    def _user(self, session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise AccessError("not logged in")
        return user

    # knowledge bases

    def register_knowledge_base(
        self, name: str, description: str, username: str | None, private: bool
    ) -> KnowledgeBaseRecord:
        with self.session() as session, session.begin():
            owner = self._user(session, username).id if username else None
            record = session.get(KnowledgeBaseRecord, name)
            if record is None:
                record = KnowledgeBaseRecord(
                    name=name, description=description, owner_id=owner, private=private
                )
                session.add(record)
        return record

    def _visible_records(self, username: str, model: type[Shared]) -> list[Shared]:
        """The public records of a kind and the user's own private ones, by name."""
        with self.session() as session:
            user = self._user(session, username)
            query = select(model).where(or_(model.private.is_(False), model.owner_id == user.id))
            return list(session.scalars(query.order_by(model.name)))

    def knowledge_bases(self, username: str) -> list[KnowledgeBaseRecord]:
        return self._visible_records(username, KnowledgeBaseRecord)

    def knowledge_base(self, username: str, name: str) -> KnowledgeBaseRecord:
        for record in self.knowledge_bases(username):
            if record.name == name:
                return record
        raise AccessError(f"no knowledge base {name!r}")

    def may_change_knowledge_base(self, username: str, name: str) -> bool:
        record = self.knowledge_base(username, name)
        with self.session() as session:
            return record.owner_id is None or record.owner_id == self._user(session, username).id

    # templates

    def save_template(
        self, username: str, *, template_id: int | None = None, **fields: Any
    ) -> PromptTemplate:
        problems = template_problems(fields.get("text", ""))
        if problems:
            raise StoreError("; ".join(problems))
        with self.session() as session, session.begin():
            user = self._user(session, username)
            if template_id is None:
                template = PromptTemplate(owner_id=user.id, **fields)
                session.add(template)
            else:
                template = self._visible_template(session, user, template_id)
                if template.owner_id not in (None, user.id):
                    raise AccessError(f"no template {template_id}")
                for key, value in fields.items():
                    setattr(template, key, value)
        return template

    def templates(self, username: str) -> list[PromptTemplate]:
        return self._visible_records(username, PromptTemplate)

    def _visible_template(self, session: Session, user: User, template_id: int) -> PromptTemplate:
        template = session.get(PromptTemplate, template_id)
        if not visible_to(template, user):
            raise AccessError(f"no template {template_id}")
        return template

    def template(self, username: str, template_id: int) -> PromptTemplate:
        with self.session() as session:
            return self._visible_template(session, self._user(session, username), template_id)

    # assistants

    def save_assistant(
        self,
        username: str | None,
        *,
        assistant_id: int | None = None,
        knowledge_bases: Iterable[str] = (),
        **fields: Any,
    ) -> Assistant:
        if fields.get("type", "qa") not in ASSISTANT_TYPES:
            raise StoreError(f"assistant type must be one of {', '.join(ASSISTANT_TYPES)}")
        if not str(fields.get("name", "x")).strip():
            raise StoreError("an assistant needs a name")
        with self.session() as session, session.begin():
            user = self._user(session, username) if username else None
            if assistant_id is None:
                assistant = Assistant(owner_id=user.id if user else None, **fields)
                session.add(assistant)
            else:
                assistant = self._visible_assistant(session, user, assistant_id)
                if assistant.owner_id not in (None, user.id if user else None):
                    raise AccessError(f"no assistant {assistant_id}")
                for key, value in fields.items():
                    setattr(assistant, key, value)
            records = []
            for name in knowledge_bases:
                record = session.get(KnowledgeBaseRecord, name)
                if not visible_to(record, user):
                    raise AccessError(f"no knowledge base {name!r}")
                records.append(record)
            assistant.knowledge_bases = records
        return self._reload_assistant(assistant.id)

    def _reload_assistant(self, assistant_id: int) -> Assistant:
        with self.session() as session:
            return session.get(Assistant, assistant_id)

    def _visible_assistant(self, session: Session, user: User | None, assistant_id: int) -> Assistant:
        assistant = session.get(Assistant, assistant_id)
        if not visible_to(assistant, user):
            raise AccessError(f"no assistant {assistant_id}")
        return assistant

    def assistants(self, username: str) -> list[Assistant]:
        return self._visible_records(username, Assistant)

    def assistant(self, username: str, assistant_id: int) -> Assistant:
        with self.session() as session:
            return self._visible_assistant(session, self._user(session, username), assistant_id)

    def assistant_stats(self, assistant_id: int) -> AssistantStats:
        with self.session() as session:
            conversations = session.scalar(
                select(func.count(Conversation.id)).where(Conversation.assistant_id == assistant_id)
            )
            joined = select(Message).join(Conversation).where(Conversation.assistant_id == assistant_id)
            messages = session.scalar(select(func.count()).select_from(joined.subquery()))
            rated = session.scalars(
                joined.where(Message.rating.is_not(None)).with_only_columns(Message.rating)
            ).all()
        return AssistantStats(conversations or 0, messages or 0, sum(rated) / len(rated) if rated else None)

    # conversations and messages

    def new_conversation(self, username: str, assistant_id: int, title: str = NEW_TITLE) -> Conversation:
        with self.session() as session, session.begin():
            user = self._user(session, username)
            self._visible_assistant(session, user, assistant_id)
            conversation = Conversation(assistant_id=assistant_id, user_id=user.id, title=title[:256])
            session.add(conversation)
        return conversation

    def _own_conversation(self, session: Session, user: User, conversation_id: int) -> Conversation:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None or conversation.user_id != user.id:
            raise AccessError(f"no conversation {conversation_id}")
        self._visible_assistant(session, user, conversation.assistant_id)
        return conversation

    def conversation(self, username: str, conversation_id: int) -> Conversation:
        with self.session() as session:
            return self._own_conversation(session, self._user(session, username), conversation_id)

    def conversations(self, username: str, assistant_id: int | None = None) -> list[Conversation]:
        with self.session() as session:
            user = self._user(session, username)
            query = select(Conversation).where(Conversation.user_id == user.id)
            if assistant_id is not None:
                self._visible_assistant(session, user, assistant_id)
                query = query.where(Conversation.assistant_id == assistant_id)
            return [
                c for c in session.scalars(query.order_by(Conversation.updated_at.desc()))
                if self._can_see_assistant(session, user, c.assistant_id)
            ]  # fmt: skip

    def _can_see_assistant(self, session: Session, user: User, assistant_id: int) -> bool:
        try:
            self._visible_assistant(session, user, assistant_id)
        except AccessError:
            return False
        return True

    def rename_conversation(self, username: str, conversation_id: int, title: str) -> None:
        with self.session() as session, session.begin():
            conversation = self._own_conversation(session, self._user(session, username), conversation_id)
            conversation.title = title.strip()[:256] or conversation.title

    def clear_conversation(self, username: str, conversation_id: int) -> None:
        with self.session() as session, session.begin():
            conversation = self._own_conversation(session, self._user(session, username), conversation_id)
            conversation.messages = []

    def delete_conversation(self, username: str, conversation_id: int) -> None:
        with self.session() as session, session.begin():
            session.delete(self._own_conversation(session, self._user(session, username), conversation_id))

    def add_message(
        self, username: str, conversation_id: int, role: str, content: str, **fields: Any
    ) -> Message:
        with self.session() as session, session.begin():
            conversation = self._own_conversation(session, self._user(session, username), conversation_id)
            message = Message(conversation_id=conversation.id, role=role, content=content, **fields)
            session.add(message)
            conversation.updated_at = now()
        return message

    def rate_message(self, username: str, message_id: int, rating: int) -> Message:
        if rating not in (-1, 1):
            raise StoreError("a rating is +1 or -1")
        with self.session() as session, session.begin():
            message = session.get(Message, message_id)
            if message is None:
                raise AccessError(f"no message {message_id}")
            self._own_conversation(session, self._user(session, username), message.conversation_id)
            previous, message.rating = message.rating, rating
            template = session.get(PromptTemplate, message.request.get("template_id") or -1)
            if template is not None:  # a changed rating replaces the earlier one
                template.rating_sum += rating - (previous or 0)
                template.rating_count += previous is None
        return message

    def pick_answer(self, username: str, chosen_id: int) -> None:
        """Compare mode: the chosen answer is rated +1, the other answers of its group -1."""
        with self.session() as session:
            chosen = session.get(Message, chosen_id)
            group = chosen.compare_group if chosen is not None else None
            if group is None:
                raise AccessError(f"no compared answer {chosen_id}")
            others = [m.id for m in session.scalars(select(Message).where(Message.compare_group == group))]
        for message_id in others:
            self.rate_message(username, message_id, 1 if message_id == chosen_id else -1)

    def count_template_use(self, template_id: int) -> None:
        with self.session() as session, session.begin():
            template = session.get(PromptTemplate, template_id)
            if template is not None:
                template.usage_count += 1

    def rated_messages(self) -> list[tuple[Assistant, Message, Message]]:
        """(assistant, question, answer) of every answer rated +1 (compare picks included), for evaluation."""
        rows = []
        with self.session() as session:
            answers = session.scalars(select(Message).where(Message.role == "assistant", Message.rating == 1))
            for answer in answers:
                conversation = session.get(Conversation, answer.conversation_id)
                question = session.scalar(
                    select(Message)
                    .where(
                        Message.conversation_id == answer.conversation_id,
                        Message.id < answer.id,
                        Message.role == "user",
                    )
                    .order_by(Message.id.desc())
                )
                if question is not None:
                    rows.append((session.get(Assistant, conversation.assistant_id), question, answer))
        return rows
