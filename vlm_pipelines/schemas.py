"""The pipeline's tables, one schema each (pandera), and the polars dtypes derived from them.

- `SampleSchema`: what every reader produces. One row is one question about one or more document images,
  with its reference answers. Rows a reader refuses go to `QuarantineSchema` with a reason and the raw row.
- `PredictionSchema`: one model answer (or failure) per sample, with the keys it is cached under.
- `ScoreSchema`: per-sample scores; its provenance columns are the fields of `Provenance`.
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
from pandera.errors import SchemaError, SchemaErrors

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
    def image_paths_are_absolute(cls, data: pa.PolarsData) -> pl.LazyFrame:
        paths = pl.col(data.key)
        return data.lazyframe.select(paths.list.eval(pl.element().str.starts_with("/")).list.all())

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

    @pa.dataframe_check
    def an_image_or_a_text_context(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A sample has an image, or is a text-only sample with a non-empty `context` in its metadata."""
        context = pl.col("metadata").str.json_path_match("$.context").fill_null("").str.strip_chars()
        return data.lazyframe.select((pl.col("image_paths").list.len() >= 1) | (context.str.len_chars() > 0))

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


def polars_schema(model: type[pa.DataFrameModel]) -> dict[str, pl.DataType]:
    """The polars dtype of each column of a pandera model, for building empty or new frames."""
    return {name: column.dtype.type for name, column in model.to_schema().columns.items()}


SAMPLE_POLARS_SCHEMA = polars_schema(SampleSchema)
QUARANTINE_POLARS_SCHEMA = polars_schema(QuarantineSchema)


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
    records it saw (rows, lines, fields: `samples + quarantine == records` before any selection), the
    empty rows it skipped (blank lines, Excel's `;;;;;;;`: not records), the text encoding it decoded
    and how sure the detection was (1.0 when given or UTF-8), when the format is text, and warnings for
    the dataset record (a low-confidence encoding guess, NUL characters removed)."""

    samples: pl.DataFrame
    quarantine: pl.DataFrame
    format: str
    source: Path
    records: int = 0
    encoding: str | None = None
    encoding_confidence: float | None = None
    skipped_rows: int = 0
    warnings: tuple[str, ...] = ()

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


class PredictionSchema(pa.DataFrameModel):
    """One model answer (or failure) for one sample, with the keys it is cached under."""

    sample_id: str = pa.Field(unique=True)
    model_id: str
    package_version: str
    params_hash: str
    prompt_hash: str
    config_hash: str
    text: str
    error: str = pa.Field(nullable=True)
    prompt_tokens: int = pa.Field(ge=0)
    output_tokens: int = pa.Field(ge=0)
    latency_s: float = pa.Field(ge=0)
    ttft_s: float = pa.Field(ge=0)
    tpot_s: float = pa.Field(ge=0)
    peak_memory_bytes: int = pa.Field(ge=0)
    batch_id: str

    @pa.dataframe_check
    def ttft_within_latency(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("ttft_s") <= pl.col("latency_s") + 1e-9)


PREDICTION_POLARS_SCHEMA = polars_schema(PredictionSchema)


@dataclass(frozen=True)
class Provenance:
    """What a score depends on; stored on every row so any number can be traced to its inputs."""

    task: str
    model_name: str
    model_id: str
    package_version: str
    dataset_hash: str
    prompt_hash: str
    config_hash: str
    params_hash: str
    resolved_config: str = "{}"  # JSON: what the model's `auto` settings resolved to (OCR engine, dtype...)
    limitations: str = ""  # for people reading the table; the ResultRecord holds them as a list
    result_id: str = ""  # the archived result these rows belong to (evaluation.identity)
    sample_set: str = ""  # the key of the exact sample set scored


# Per-sample scores: the sample's columns, the answer as scored, and every provenance field; the metric
# columns are added per task (other columns are allowed).
ScoreSchema = pa.DataFrameSchema(
    {
        "sample_id": pa.Column(str, unique=True),
        "doc_type": pa.Column(str),
        "field_name": pa.Column(str),
        "prediction": pa.Column(str),
        "parsed": pa.Column(bool),
        "failed": pa.Column(bool),
        **{field.name: pa.Column(str) for field in dataclasses.fields(Provenance)},
    },
    strict=False,
    name="ScoreSchema",
)


def schema_problems(frame: pl.DataFrame, schema: type[pa.DataFrameModel] | pa.DataFrameSchema) -> list[str]:
    """Every failure pandera finds (empty when the frame is valid)."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        return [str(item) for item in errors.schema_errors][:20]
    except SchemaError as error:
        return [str(error)]
    return []
