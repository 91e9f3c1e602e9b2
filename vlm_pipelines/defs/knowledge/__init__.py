"""Knowledge bases (ingestion and retrieval quality, one dynamic partition per base) and the chat-feedback
tasks built from rated chat answers."""

import dagster as dg

from vlm_pipelines.defs.knowledge.assets import (
    KNOWLEDGE_PARTITIONS,  # noqa: F401 - the app adds partitions to it
    chat_feedback_tasks,
    knowledge_base_index,
    retrieval_quality,
)

knowledge_job = dg.define_asset_job(
    "knowledge_job",
    selection=dg.AssetSelection.assets(knowledge_base_index, retrieval_quality),
    executor_def=dg.in_process_executor,
)
chat_feedback_job = dg.define_asset_job(
    "chat_feedback_job",
    selection=dg.AssetSelection.assets(chat_feedback_tasks),
    executor_def=dg.in_process_executor,
)


def knowledge_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[knowledge_base_index, retrieval_quality, chat_feedback_tasks],
        jobs=[knowledge_job, chat_feedback_job],
    )
