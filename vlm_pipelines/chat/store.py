"""The chat app's records: users, assistants, prompt templates, knowledge-base ownership, conversations and
messages (with their sources, the model request, timings and ratings). SQLAlchemy 2 on SQLite by default
(`<data dir>/chat/app.db`), or any database URL (Postgres: `postgresql+psycopg2://...`); tables are created
on start.

Access is decided here, for every read and write, not in the screens: a private assistant, template or
knowledge base is visible to its owner only, and a conversation to the user who holds it. Public means
readable, never writable by others: only the owner or an admin (`User.role`) changes or deletes a record.
Seeded records have no owner (`owner_id` None): they belong to the admins. A knowledge base also takes
uploads from the members it names. The app's handlers (and so its API) only reach records through these
functions. Databases from before roles get the missing columns on start (`upgrade_schema`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import string
from collections.abc import Callable, Iterable
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
    delete,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

ASSISTANT_TYPES = ("support", "qa", "analyzer", "custom")
TEMPLATE_VARIABLES = ("context", "question", "history")
NEW_TITLE = "New conversation"
ROLES = ("admin", "user")
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
    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class KnowledgeBaseRecord(Base):
    """Who may use a knowledge base (its documents and index live in the data folder)."""

    __tablename__ = "knowledge_bases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    members: Mapped[list | None] = mapped_column(JSON, default=list, nullable=True)  # usernames who upload
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


def check_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`. `None` (no such user) does the same scrypt work and is False, so
    the time taken does not tell whether a user exists."""
    if stored is None:
        stored = f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${'00' * 16}$"
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(computed.hex(), digest)


# ---- templates ----------------------------------------------------------------------------------

DEFAULT_TEMPLATE = (  # {context} is the one best sentence; the engine checks the answer is in it and cites it
    "Source: {context}\n{history}Question: {question}\nCopy the words of the source that answer the question."
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


def owns(record: KnowledgeBaseRecord | PromptTemplate | Assistant, user: User | None) -> bool:
    """The user's own record, or a seeded one (no owner) and the user an admin."""
    if user is None:
        return False
    return record.owner_id == user.id or (record.owner_id is None and user.is_admin)


def visible_to(record: KnowledgeBaseRecord | PromptTemplate | Assistant | None, user: User | None) -> bool:
    """The one read rule for shared records: public, or private and the user's own (the rule
    `Store._visible_records` queries by)."""
    return record is not None and (not record.private or owns(record, user))


def may_change(record: KnowledgeBaseRecord | PromptTemplate | Assistant | None, user: User | None) -> bool:
    """The one write rule: the owner or an admin changes or deletes a record it can see."""
    return visible_to(record, user) and user is not None and (user.is_admin or owns(record, user))


def upgrade_schema(engine) -> list[str]:
    """Adds the columns a database from an earlier version lacks (idempotent; SQLite and Postgres); the
    columns added, as `table.column`."""
    inspector, quote, added = inspect(engine), engine.dialect.identifier_preparer.quote, []
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            default = f" DEFAULT '{column.server_default.arg}'" if column.server_default is not None else ""
            with engine.begin() as connection:
                connection.execute(
                    text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}{default}")
                )
            added.append(f"{table.name}.{column.name}")
    return added


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
        upgrade_schema(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @staticmethod
    def default_url(data_dir: Path) -> str:
        """`VLMBENCH_CHAT_DB` (a SQLAlchemy URL, e.g. postgresql+psycopg://...) or SQLite in the data folder."""
        return os.environ.get("VLMBENCH_CHAT_DB") or f"sqlite:///{Path(data_dir) / 'chat' / 'app.db'}"

    def session(self) -> Session:
        return self.sessions()

    # users

    def add_user(self, username: str, password: str, role: str = "user") -> User:
        if not re.fullmatch(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}", username):
            raise StoreError(
                "a username is 1-64 letters, digits, '_', '.', '@' or '-', not starting with '.'"
            )
        if role not in ROLES:
            raise StoreError(f"a role is one of {', '.join(ROLES)}")
        with self.session() as session, session.begin():
            if session.scalar(select(User).where(User.username == username)):
                raise StoreError(f"user {username!r} exists")
            user = User(username=username, password_hash=hash_password(password), role=role)
            session.add(user)
        return user

    def ensure_user(self, username: str, password: str, role: str = "user") -> User:
        """The user, created if new; an existing user takes the role given (the configuration decides)."""
        existing = self.user(username)
        if existing is None:
            return self.add_user(username, password, role)
        if role not in ROLES:
            raise StoreError(f"a role is one of {', '.join(ROLES)}")
        if existing.role != role:
            with self.session() as session, session.begin():
                session.execute(update(User).where(User.id == existing.id).values(role=role))
            existing.role = role
        return existing

    def demote_admins_not_in(self, usernames: set[str]) -> list[str]:
        """Admins no longer configured become plain users (their records stay theirs); their names."""
        with self.session() as session, session.begin():
            demoted = list(
                session.scalars(select(User).where(User.role == "admin", User.username.not_in(usernames)))
            )
            for user in demoted:
                user.role = "user"
        return [user.username for user in demoted]

    def user(self, username: str) -> User | None:
        with self.session() as session:
            return session.scalar(select(User).where(User.username == username))

    def authenticate(self, username: str, password: str) -> bool:
        """The password check, with the same scrypt work for an unknown user as for a known one."""
        user = self.user(username)
        return check_password(password, user.password_hash if user is not None else None) and user is not None

    def _user(self, session: Session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise AccessError("not logged in")
        return user

    def _acting(self, session: Session, username: str | None) -> User | None:
        """The acting user, or None for the app itself (seeding: the record then belongs to the admins)."""
        return self._user(session, username) if username else None

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
        """The public records of a kind and the user's own private ones (`visible_to`), by name."""
        with self.session() as session:
            user = self._user(session, username)
            own = [model.owner_id == user.id] + ([model.owner_id.is_(None)] if user.is_admin else [])
            query = select(model).where(or_(model.private.is_(False), *own))
            return list(session.scalars(query.order_by(model.name)))

    def knowledge_bases(self, username: str) -> list[KnowledgeBaseRecord]:
        return self._visible_records(username, KnowledgeBaseRecord)

    def knowledge_base(self, username: str, name: str) -> KnowledgeBaseRecord:
        for record in self.knowledge_bases(username):
            if record.name == name:
                return record
        raise AccessError(f"no knowledge base {name!r}")

    def may_change_knowledge_base(self, username: str, name: str) -> bool:
        """Its owner or an admin: re-index, set members, delete (AccessError when it is not visible)."""
        record = self.knowledge_base(username, name)
        with self.session() as session:
            return may_change(record, self._user(session, username))

    def may_upload(self, username: str, name: str) -> bool:
        """Its owner, an admin, or a member it names adds documents."""
        record = self.knowledge_base(username, name)
        return self.may_change_knowledge_base(username, name) or username in (record.members or [])

    def _changeable_knowledge_base(self, session: Session, user: User, name: str) -> KnowledgeBaseRecord:
        record = session.get(KnowledgeBaseRecord, name)
        if not may_change(record, user):
            raise AccessError(f"no knowledge base {name!r} that you may change")
        return record

    def set_members(self, username: str, name: str, members: Iterable[str]) -> list[str]:
        """The users besides owner and admins who may upload into the knowledge base (owner or admin only)."""
        wanted = sorted({member.strip() for member in members if member.strip()})
        with self.session() as session, session.begin():
            record = self._changeable_knowledge_base(session, self._user(session, username), name)
            known = set(session.scalars(select(User.username).where(User.username.in_(wanted))))
            unknown = [member for member in wanted if member not in known]
            if unknown:
                raise StoreError(f"no user {', '.join(map(repr, unknown))}")
            record.members = wanted
        return wanted

    def delete_knowledge_base(self, username: str, name: str) -> None:
        """Removes the record and every assistant's link to it (the caller removes its index and files)."""
        with self.session() as session, session.begin():
            record = self._changeable_knowledge_base(session, self._user(session, username), name)
            session.execute(delete(assistant_knowledge).where(assistant_knowledge.c.knowledge_base == name))
            session.delete(record)

    # templates

    def save_template(
        self, username: str, *, template_id: int | None = None, **fields: Any
    ) -> PromptTemplate:
        problems = template_problems(fields.get("text", ""))
        if problems:
            raise StoreError("; ".join(problems))
        with self.session() as session, session.begin():
            user = self._acting(session, username)
            if template_id is None:
                template = PromptTemplate(owner_id=user.id if user else None, **fields)
                session.add(template)
            else:
                template = self._changeable(session, user, PromptTemplate, template_id, "template")
                for key, value in fields.items():
                    setattr(template, key, value)
        return template

    def delete_template(self, username: str, template_id: int) -> None:
        """Removes the template (owner or admin); the assistants that used it fall back to the default."""
        with self.session() as session, session.begin():
            template = self._changeable(
                session, self._user(session, username), PromptTemplate, template_id, "template"
            )
            session.execute(
                update(Assistant).where(Assistant.template_id == template.id).values(template_id=None)
            )
            session.delete(template)

    @staticmethod
    def _changeable(
        session: Session, user: User | None, model: type[Shared], record_id: int, what: str
    ) -> Shared:
        """The record when the user may change it; else AccessError, worded as for an invisible one."""
        record = session.get(model, record_id)
        if not may_change(record, user):
            raise AccessError(f"no {what} {record_id} that you may change")
        return record

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
            user = self._acting(session, username)
            if assistant_id is None:
                assistant = Assistant(owner_id=user.id if user else None, **fields)
                session.add(assistant)
            else:
                assistant = self._changeable(session, user, Assistant, assistant_id, "assistant")
                for key, value in fields.items():
                    setattr(assistant, key, value)
            if fields.get("template_id") is not None and user is not None:
                self._visible_template(session, user, fields["template_id"])  # never another's private one
            records = []
            for name in knowledge_bases:
                record = session.get(KnowledgeBaseRecord, name)
                if user is not None and not visible_to(record, user):
                    raise AccessError(f"no knowledge base {name!r}")
                if record is None:
                    raise StoreError(f"no knowledge base {name!r}")
                records.append(record)
            assistant.knowledge_bases = records
        return self._reload_assistant(assistant.id)

    def delete_assistant(self, username: str, assistant_id: int) -> None:
        """Removes the assistant (owner or admin), its knowledge-base links and the caller's conversations
        with it; refused while other users hold conversations with it (theirs, with their ratings)."""
        with self.session() as session, session.begin():
            user = self._user(session, username)
            assistant = self._changeable(session, user, Assistant, assistant_id, "assistant")
            conversations = list(
                session.scalars(select(Conversation).where(Conversation.assistant_id == assistant.id))
            )
            others = sum(conversation.user_id != user.id for conversation in conversations)
            if others:
                raise StoreError(
                    f"assistant {assistant_id} holds {others} conversation(s) of other users, which deleting it "
                    "would delete; it can be deleted once they have deleted theirs"
                )
            for conversation in conversations:
                session.delete(conversation)
            session.delete(assistant)

    def may_change_record(self, username: str, kind: str, record_id: int) -> bool:
        """Whether the user may change the assistant or template (`kind`) it can see."""
        model = {"assistant": Assistant, "template": PromptTemplate}[kind]
        with self.session() as session:
            return may_change(session.get(model, record_id), self._user(session, username))

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

    def _holds(self, session: Session, user: User, conversation_id: int) -> bool:
        return _allowed(self._own_conversation, session, user, conversation_id)

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
        return _allowed(self._visible_assistant, session, user, assistant_id)

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
            if message is None or not self._holds(
                session, self._user(session, username), message.conversation_id
            ):
                raise AccessError(f"no message {message_id}")  # never another user's conversation id
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
            if group is None or not self._holds(
                session, self._user(session, username), chosen.conversation_id
            ):
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


def _allowed(check: Callable[..., object], *args: object) -> bool:
    """Whether an access check (one that raises AccessError) lets the caller through."""
    try:
        check(*args)
    except AccessError:
        return False
    return True
