"""What the app does besides chatting: seeding the demo, and ingestion through the Dagster job.

Ingestion from the app runs `knowledge_job` for the knowledge base's partition in the project's Dagster
instance (DAGSTER_HOME, the embedded default): the same asset code as a run started in the Dagster UI, and
the knowledge base then shows as materialized there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vlm_pipelines.chat.store import DEFAULT_TEMPLATE, Store
from vlm_pipelines.knowledge.bases import create_base, get_base, knowledge_bases

DEMO_ASSISTANT = "Docs helper"
DEMO_KNOWLEDGE_BASE = "project-docs"
DEMO_MODEL = "smollm2-135m"
DEMO_SYSTEM_PROMPT = "Answer questions about vlmbench from the sources. Be brief."


def users_from_env() -> list[tuple[str, str]]:
    """`VLMBENCH_CHAT_USERS="alice:secret,bob:other"`; default: the one demo user `demo` / `demo`."""
    raw = os.environ.get("VLMBENCH_CHAT_USERS", "demo:demo")
    pairs = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        if ":" not in item:
            raise ValueError(
                f"VLMBENCH_CHAT_USERS: {item!r} is not user:password (e.g. alice:secret,bob:other)"
            )
        username, password = item.split(":", 1)
        pairs.append((username, password))
    return pairs


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


def seed_demo(store: Store, data_dir: Path, ingest_now: bool = True) -> None:
    """Users, the seeded knowledge bases, a default template and the demo assistant (idempotent)."""
    for username, password in users_from_env():
        store.ensure_user(username, password)
    for name, base in knowledge_bases(data_dir).items():
        store.register_knowledge_base(name, base.description, None, False)
        if ingest_now and base.seeded:
            from vlm_pipelines.knowledge.index import KnowledgeIndex

            if not KnowledgeIndex(name, data_dir).manifest()["documents"]:
                ingest(name, data_dir)
    first_user = users_from_env()[0][0]
    if not any(t.name == "Cite the sources" for t in store.templates(first_user)):
        template = store.save_template(
            first_user,
            name="Cite the sources",
            type="rag",
            text=DEFAULT_TEMPLATE,
            response_format="A short answer with [n] citations.",
            tags=["rag", "default"],
            private=False,
        )
        with store.session() as session, session.begin():  # a shared template, owned by no one
            session.get(type(template), template.id).owner_id = None
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
