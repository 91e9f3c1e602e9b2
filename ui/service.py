"""What the app does besides chatting: seeding the demo, and ingestion through the Dagster job.

Ingestion from the app runs `knowledge_job` for the knowledge base's partition in the project's Dagster
instance (DAGSTER_HOME, the embedded default): the same asset code as a run started in the Dagster UI, and
the knowledge base then shows as materialized there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vlm_pipelines.chat.store import DEFAULT_TEMPLATE, ROLES, AccessError, Store, StoreError
from vlm_pipelines.knowledge.bases import create_base, get_base, knowledge_bases

DEMO_ASSISTANT = "Docs helper"
DEMO_KNOWLEDGE_BASE = "project-docs"
DEMO_MODEL = "smollm2-135m"
DEMO_SYSTEM_PROMPT = "Answer questions about vlmbench from the sources. Be brief."


def users_from_env() -> list[tuple[str, str, str]]:
    """(user, password, role) from `VLMBENCH_CHAT_USERS="alice:secret:admin,bob:other"` (the role is `admin`
    or `user`, default `user`); unset: the one demo user `demo` / `demo`, an admin."""
    raw = os.environ.get("VLMBENCH_CHAT_USERS", "demo:demo:admin")
    users = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        if ":" not in item:
            raise ValueError(
                f"VLMBENCH_CHAT_USERS: {item!r} is not user:password[:role] (e.g. alice:secret:admin,bob:other)"
            )
        username, password = item.split(":", 1)
        role = "user"
        head, _, last = password.rpartition(":")
        if head and last in ROLES:
            password, role = head, last
        users.append((username, password, role))
    return users


def ingest(name: str, data_dir: Path) -> dict[str, Any]:
    """Runs the knowledge job for `name` in the project's Dagster instance; its materialization metadata."""
    import dagster as dg

    from vlm_pipelines.defs.knowledge import KNOWLEDGE_PARTITIONS, knowledge_definitions
    from vlm_pipelines.defs.resources import EvaluationSettings
    from vlm_pipelines.defs.runner import prepare_dagster_home

    prepare_dagster_home()
    defs = dg.Definitions.merge(
        knowledge_definitions(),
        dg.Definitions(resources={"evaluation": EvaluationSettings(data_dir=str(data_dir))}),
    )
    with dg.DagsterInstance.get() as instance:
        if not instance.has_dynamic_partition(KNOWLEDGE_PARTITIONS.name, name):
            instance.add_dynamic_partitions(KNOWLEDGE_PARTITIONS.name, [name])
        result = defs.resolve_job_def("knowledge_job").execute_in_process(
            partition_key=name,
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        if not result.success:
            failure = next((event for event in result.all_events if event.is_step_failure), None)
            detail = failure.step_failure_data.error.message.strip() if failure else "see the Dagster UI"
            raise RuntimeError(f"ingesting {name!r} failed: {detail}")
        metadata: dict[str, Any] = {"run_id": result.run_id}
        for event in result.get_asset_materialization_events():
            for key, value in event.materialization.metadata.items():
                metadata[key] = getattr(value, "value", value)
    return metadata


def create_knowledge_base(
    store: Store, username: str, name: str, description: str, private: bool, data_dir: Path
) -> None:
    create_base(name, description, data_dir=data_dir)
    store.register_knowledge_base(name, description, username, private)


def delete_knowledge_base(store: Store, username: str, name: str, data_dir: Path) -> None:
    """Removes a created knowledge base (owner or admin): its record and links, its Chroma collection, its
    folder (uploads, chunk table, BM25) and its Dagster partition. Seeded ones live in the registry."""
    if not store.may_change_knowledge_base(username, name):  # AccessError as well when it is not visible
        raise AccessError(f"no knowledge base {name!r} that you may change")
    if get_base(name, data_dir).seeded:
        raise StoreError(
            f"knowledge base {name!r} is seeded from registry/knowledge/; remove its entry there"
        )
    store.delete_knowledge_base(username, name)
    from vlm_pipelines.knowledge.index import KnowledgeIndex

    KnowledgeIndex(name, data_dir).delete()
    import dagster as dg

    from vlm_pipelines.defs.knowledge import KNOWLEDGE_PARTITIONS
    from vlm_pipelines.defs.runner import prepare_dagster_home

    prepare_dagster_home()
    with dg.DagsterInstance.get() as instance:
        if instance.has_dynamic_partition(KNOWLEDGE_PARTITIONS.name, name):
            instance.delete_dynamic_partition(KNOWLEDGE_PARTITIONS.name, name)


DEFAULT_RESPONSE_FORMAT = "One short sentence, in the words of the sources."
OLD_DEFAULT_TEMPLATE = (
    "Sources:\n{context}\n\n{history}Answer the question from the sources in one sentence, and cite the "
    "source you use as [n].\nQuestion: {question}"
)


def _update_seeded_template(store: Store, template_id: int) -> None:
    """The seeded template (no owner: seeding runs as the app) gets the current text and response format."""
    from vlm_pipelines.chat.store import PromptTemplate

    with store.session() as session, session.begin():
        record = session.get(PromptTemplate, template_id)
        record.text, record.response_format = DEFAULT_TEMPLATE, DEFAULT_RESPONSE_FORMAT


def seed_demo(store: Store, data_dir: Path, ingest_now: bool = True) -> None:
    """Users, the seeded knowledge bases, a default template and the demo assistant (idempotent). The
    seeded records have no owner: they belong to the admins."""
    listed = users_from_env()
    for username, password, role in listed:
        store.ensure_user(username, password, role)
    store.demote_admins_not_in({username for username, _, _ in listed})  # the variable decides the roles
    for name, base in knowledge_bases(data_dir).items():
        store.register_knowledge_base(name, base.description, None, False)
        if ingest_now and base.seeded:
            from vlm_pipelines.knowledge.index import KnowledgeIndex

            if not KnowledgeIndex(name, data_dir).manifest()["documents"]:
                ingest(name, data_dir)
    first_user = users_from_env()[0][0]
    seeded = next((t for t in store.templates(first_user) if t.name == "Cite the sources"), None)
    if seeded is None:
        store.save_template(
            None,
            name="Cite the sources",
            type="rag",
            text=DEFAULT_TEMPLATE,
            response_format=DEFAULT_RESPONSE_FORMAT,
            tags=["rag", "default"],
            private=False,
        )
    elif seeded.text == OLD_DEFAULT_TEMPLATE:  # a database seeded before the engine grounded answers
        _update_seeded_template(store, seeded.id)
    if not any(a.name == DEMO_ASSISTANT for a in store.assistants(first_user)):
        template = next(t for t in store.templates(first_user) if t.name == "Cite the sources")
        get_base(DEMO_KNOWLEDGE_BASE, data_dir)
        store.save_assistant(
            None,
            name=DEMO_ASSISTANT,
            description="Answers questions about this project from its docs, with sources.",
            type="qa",
            system_prompt=DEMO_SYSTEM_PROMPT,
            model=DEMO_MODEL,
            temperature=0.0,
            max_tokens=64,
            search_enabled=True,
            search_limit=2,
            template_id=template.id,
            private=False,
            knowledge_bases=[DEMO_KNOWLEDGE_BASE],
        )
