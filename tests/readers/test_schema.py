from __future__ import annotations

import pandera.errors
import polars as pl
import pytest

from vlm_pipelines.schemas import (
    SAMPLE_POLARS_SCHEMA,
    QuarantineSchema,
    ReadResult,
    SampleSchema,
    empty_quarantine,
)


def _sample(**overrides: object) -> pl.DataFrame:
    row = {
        "sample_id": "0123456789abcdef",
        "image_paths": ["/data/a.png"],
        "question": "Total?",
        "answers": ["42"],
        "doc_type": "invoice",
        "field_name": "total",
        "split": "test",
        "metadata": "{}",
        "source_row": "annotation.csv:1",
    } | overrides
    return pl.DataFrame({key: [value] for key, value in row.items()}, schema=SAMPLE_POLARS_SCHEMA)


def test_a_well_formed_sample_validates() -> None:
    assert SampleSchema.validate(_sample()).height == 1
    assert QuarantineSchema.validate(empty_quarantine()).columns == ["source_row", "reason", "raw"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"image_paths": []},
        {"image_paths": [], "metadata": '{"context": "  "}'},
        {"image_paths": ["relative/a.png"]},
        {"answers": []},
        {"answers": ["  "]},
        {"question": " "},
        {"metadata": "[1, 2]"},
        {"metadata": "not json"},
        {"sample_id": "row-1"},
    ],
)
def test_schema_refuses_bad_values(overrides: dict[str, object]) -> None:
    with pytest.raises(pandera.errors.SchemaError):
        SampleSchema.validate(_sample(**overrides))


def test_a_text_only_sample_needs_a_context() -> None:
    sample = _sample(image_paths=[], metadata='{"context": "[1] a.pdf, page 2: the warranty is 36 months"}')
    assert SampleSchema.validate(sample).height == 1


def test_schema_refuses_extra_or_reordered_columns() -> None:
    with pytest.raises(pandera.errors.SchemaError):
        SampleSchema.validate(_sample().with_columns(pl.lit(1).alias("extra")))
    with pytest.raises(pandera.errors.SchemaError):
        SampleSchema.validate(_sample().select(reversed(SAMPLE_POLARS_SCHEMA)))


def test_dataset_hash_depends_on_content_not_order() -> None:
    one = _sample()
    two = _sample(sample_id="fedcba9876543210", question="Date?", answers=["2024"])
    both = pl.concat([one, two])

    def hash_of(frame: pl.DataFrame) -> str:
        return ReadResult(frame, empty_quarantine(), "jsonl_manifest", __file__).dataset_hash

    assert hash_of(both) == hash_of(both.reverse())
    assert hash_of(both) != hash_of(pl.concat([one, _sample(sample_id="fedcba9876543210", answers=["2025"])]))
