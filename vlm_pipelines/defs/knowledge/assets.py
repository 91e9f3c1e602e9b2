"""Thin assets over `vlm_pipelines.knowledge` and `vlm_pipelines.chat.feedback`; the app runs the same job on upload."""

import dagster as dg

from vlm_pipelines.defs.resources import EvaluationSettings

# Knowledge bases are created at run time (the app adds the partition when it creates one).
KNOWLEDGE_PARTITIONS = dg.DynamicPartitionsDefinition(name="knowledge_base")


@dg.asset(
    partitions_def=KNOWLEDGE_PARTITIONS,
    group_name="knowledge",
    description="The knowledge base's Chroma collection and BM25 index, ingested incrementally.",
)
def knowledge_base_index(
    context: dg.AssetExecutionContext, evaluation: EvaluationSettings
) -> dg.MaterializeResult:
    from vlm_pipelines.knowledge.bases import ingest_base

    report = ingest_base(context.partition_key, evaluation.paths().root)
    skipped = "\n".join(f"- {name}: {reason}" for name, reason in report.skipped.items()) or "none"
    return dg.MaterializeResult(
        metadata={
            "documents": report.documents,
            "chunks": report.chunks,
            "added": len(report.added),
            "updated": len(report.updated),
            "removed": len(report.removed),
            "unchanged": len(report.unchanged),
            "skipped": len(report.skipped),
            "skipped files": dg.MetadataValue.md(skipped),
            "chunks/s": round(report.chunks_per_s, 2),
            "ocr engine": report.ocr_engine,  # what `auto` resolved to for scans and images
            "seconds": round(report.seconds, 2),
        }
    )


@dg.asset(
    partitions_def=KNOWLEDGE_PARTITIONS,
    deps=[knowledge_base_index],
    group_name="knowledge",
    description="hit@k and MRR of the knowledge base's question set: hybrid, vector-only and keyword-only.",
)
def retrieval_quality(
    context: dg.AssetExecutionContext, evaluation: EvaluationSettings
) -> dg.MaterializeResult:
    from vlm_pipelines.knowledge.bases import evaluate_base
    from vlm_pipelines.reports.tables import markdown_table

    rows = evaluate_base(context.partition_key, evaluation.paths().root)
    import polars as pl

    table = markdown_table(pl.DataFrame(rows)) if rows else "no question set"
    return dg.MaterializeResult(
        metadata={"quality": dg.MetadataValue.md(table), "questions": len(rows) and rows[0]["n"]}
    )


@dg.asset(
    group_name="knowledge",
    description="Rated chat answers as evaluation tasks `chat_feedback_<assistant>` in <data dir>/tasks/.",
)
def chat_feedback_tasks(evaluation: EvaluationSettings) -> dg.MaterializeResult:
    from vlm_pipelines.chat.feedback import write_feedback_tasks

    written = write_feedback_tasks(evaluation.paths().root)
    listing = (
        "\n".join(f"- {task.name}: {task.samples} samples" for task in written) or "no rated answers yet"
    )
    return dg.MaterializeResult(
        metadata={"tasks": dg.MetadataValue.md(listing), "samples": sum(task.samples for task in written)}
    )
