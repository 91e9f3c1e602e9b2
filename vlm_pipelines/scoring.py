"""Per-sample scores: post-process each answer, read it as the task's answer type, apply the task's
metrics, attach provenance."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import polars as pl

from vlm_pipelines.answers import extract_answer, read_order_items, sample_choices
from vlm_pipelines.metrics import get_metric
from vlm_pipelines.postprocess import postprocess
from vlm_pipelines.schemas import Provenance

if TYPE_CHECKING:
    from vlm_pipelines.tasks import TaskConfig


def metadata_columns(samples: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Lifts the given metadata keys (e.g. `degradation`, `language`) into string columns."""
    missing = [key for key in keys if key not in samples.columns]
    if not missing:
        return samples
    parsed = [json.loads(text or "{}") for text in samples["metadata"].to_list()]
    return samples.with_columns(
        pl.Series(key, [None if row.get(key) is None else str(row[key]) for row in parsed], dtype=pl.String)
        for key in missing
    )


def _read_answers(joined: pl.DataFrame, task: TaskConfig) -> tuple[list[str], list[bool]]:
    """Each answer post-processed and read as the task's answer type: (answer to score, parsed)."""
    answers, parsed = [], []
    columns = ("text", "field_name", "metadata", "image_paths", "failed", "answers")
    for row in joined.select(*columns).iter_rows(named=True):
        text = (
            postprocess(row["text"], list(task.postprocess), field_name=row["field_name"])
            if row["text"]
            else ""
        )
        labels, options = sample_choices(json.loads(row["metadata"] or "{}"), task.labels)
        reference = (
            read_order_items(row["answers"][0]) if task.answer_type == "order" and row["answers"] else None
        )
        extracted = extract_answer(
            task.answer_type,
            text,
            labels=labels,
            options=options,
            n_items=len(row["image_paths"]),
            reference_pages=reference or (),
        )
        answers.append(extracted.text)
        parsed.append(extracted.parsed and not row["failed"])
    return answers, parsed


def score_samples(
    samples: pl.DataFrame, predictions: pl.DataFrame, *, task: TaskConfig, provenance: Provenance
) -> pl.DataFrame:
    """One row per dataset sample. A failed or missing prediction is scored as an empty answer and
    flagged `failed`, so failures lower the score instead of vanishing from it. `parsed` says whether the
    answer read as the task's answer type (the parse rate reported beside the scores)."""
    joined = samples.join(
        predictions.select("sample_id", "text", "error"), on="sample_id", how="left"
    ).with_columns(
        pl.when(pl.col("error").is_null() & pl.col("text").is_null())
        .then(pl.lit("no prediction"))
        .otherwise(pl.col("error"))
        .alias("error"),
        pl.col("text").fill_null(""),
    )
    joined = joined.with_columns((pl.col("error").is_not_null()).alias("failed"))
    answers, parsed = _read_answers(joined, task)
    references = joined["answers"].to_list()
    scores = {name: get_metric(name).batch(answers, references) for name in task.metrics}
    group_by = list(task.group_by)
    joined = metadata_columns(joined, group_by)
    return joined.select(
        "sample_id",
        "doc_type",
        "field_name",
        "split",
        *[key for key in group_by if key not in ("doc_type", "field_name", "split")],
        "question",
        "answers",
        pl.col("image_paths"),
        pl.col("text").alias("prediction_raw"),
        pl.Series("prediction", answers, dtype=pl.String),
        pl.Series("parsed", parsed, dtype=pl.Boolean),
        "failed",
        "error",
        *[pl.Series(name, values, dtype=pl.Float64) for name, values in scores.items()],
        *[pl.lit(value).alias(name) for name, value in asdict(provenance).items()],
    )
