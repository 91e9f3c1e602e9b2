"""The normalized sample table every reader produces, and the quarantine table for rows it refuses.

One row of `SampleSchema` is one question about one or more document images, with its reference answers.
Rows a reader cannot accept go to `QuarantineSchema` with a reason and the raw row, so nothing is lost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pandera.polars as pa
import polars as pl

SAMPLE_COLUMNS: tuple[str, ...] = (
    "sample_id",
    "image_paths",
    "question",
    "answers",
    "doc_type",
    "field_name",
    "split",
    "metadata",
    "source_row",
)
QUARANTINE_COLUMNS: tuple[str, ...] = ("source_row", "reason", "raw")

# Polars dtypes matching the pandera models, for building empty or new frames.
SAMPLE_POLARS_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.Utf8(),
    "image_paths": pl.List(pl.Utf8()),
    "question": pl.Utf8(),
    "answers": pl.List(pl.Utf8()),
    "doc_type": pl.Utf8(),
    "field_name": pl.Utf8(),
    "split": pl.Utf8(),
    "metadata": pl.Utf8(),
    "source_row": pl.Utf8(),
}
QUARANTINE_POLARS_SCHEMA: dict[str, pl.DataType] = {
    "source_row": pl.Utf8(),
    "reason": pl.Utf8(),
    "raw": pl.Utf8(),
}

# 16 hex chars of a content hash, plus "-2", "-3", ... when two different rows share that content key.
SAMPLE_ID_PATTERN = r"^[0-9a-f]{16}(-[0-9]+)?$"


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


class SampleSchema(pa.DataFrameModel):
    """One evaluation sample: images + question + reference answers, traceable to its source row."""

    sample_id: str = pa.Field(unique=True, str_matches=SAMPLE_ID_PATTERN)
    image_paths: Annotated[pl.List, pl.Utf8()]
    question: str = pa.Field(str_length={"min_value": 1})
    answers: Annotated[pl.List, pl.Utf8()]
    doc_type: str
    field_name: str
    split: str
    metadata: str
    source_row: str = pa.Field(str_length={"min_value": 1})

    @pa.check("image_paths")
    def at_least_one_absolute_image(cls, data: pa.PolarsData) -> pl.LazyFrame:
        paths = pl.col(data.key)
        return data.lazyframe.select(
            (paths.list.len() >= 1) & paths.list.eval(pl.element().str.starts_with("/")).list.all()
        )

    @pa.check("answers")
    def at_least_one_non_blank_answer(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col(data.key).list.eval(pl.element().str.strip_chars().str.len_chars() > 0).list.any()
        )

    @pa.check("question")
    def question_not_blank(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).str.strip_chars().str.len_chars() > 0)

    @pa.check("metadata", element_wise=True)
    def metadata_is_json_object(cls, value: str) -> bool:
        return _is_json_object(value)

    class Config:
        strict = True
        ordered = True


class QuarantineSchema(pa.DataFrameModel):
    """A refused row: where it came from, why it was refused, and the row itself as JSON."""

    source_row: str
    reason: str = pa.Field(str_length={"min_value": 1})
    raw: str

    class Config:
        strict = True
        ordered = True


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_POLARS_SCHEMA)


def dataset_hash(samples: pl.DataFrame) -> str:
    """sha256 over (sample_id, question, answers) of every sample, sorted: content, not row order."""
    digest = hashlib.sha256()
    rows = samples.select("sample_id", "question", "answers").sort("sample_id").iter_rows()
    for sample_id, question, answers in rows:
        digest.update(json.dumps([sample_id, question, answers], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class ReadResult:
    """What a reader returns: accepted samples, refused rows, the format and path read, how many input
    records it saw (rows, lines, fields: `samples + quarantine == records` before any selection) and the
    text encoding it decoded, when the format is text."""

    samples: pl.DataFrame
    quarantine: pl.DataFrame
    format: str
    source: Path
    records: int = 0
    encoding: str | None = None

    @property
    def dataset_hash(self) -> str:
        return dataset_hash(self.samples)

    def with_samples(self, samples: pl.DataFrame) -> ReadResult:
        """The same result with another (e.g. filtered) sample table."""
        return dataclasses.replace(self, samples=samples)

    def quarantine_reasons(self) -> dict[str, int]:
        """How many rows were quarantined for each reason (the text before its ': detail')."""
        counts: dict[str, int] = {}
        for reason in self.quarantine["reason"].to_list():
            kind = reason.split(":", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
