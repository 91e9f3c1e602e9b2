"""Each benchmark's fixture in both layouts (hub Parquet, VLMEvalKit TSV) reads into the same samples,
and hand-made answers score as the official scorers score them (expected values worked out by hand)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.benchmarks.fixtures import BENCHMARKS, HF_READER_GAPS, SPLIT_COLUMN, readable_copy, write_all
from vlm_pipelines.evaluation.steps import expected_split_check
from vlm_pipelines.metrics import get_metric
from vlm_pipelines.metrics.ocrbench import ocrbench_category_scores
from vlm_pipelines.readers import read_dataset
from vlm_pipelines.settings import REPO_ROOT
from vlm_pipelines.tasks import load_task_registry


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    return write_all(tmp_path_factory.mktemp("benchmarks"))


def _comparable(samples: pl.DataFrame, with_split: bool) -> list[tuple]:
    rows = []
    for row in samples.iter_rows(named=True):
        images = [Path(path).read_bytes() for path in row["image_paths"]]
        split = row["split"] if with_split else None
        rows.append((row["sample_id"], row["question"], row["answers"], row["doc_type"], split, images))
    return rows


LAYOUT_CASES = [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, raises=ValueError, reason=HF_READER_GAPS[name]))
    if name in HF_READER_GAPS
    else name
    for name in BENCHMARKS
]


@pytest.mark.parametrize("benchmark", LAYOUT_CASES)
def test_both_layouts_read_into_the_same_samples(fixtures, benchmark: str) -> None:
    parquet, tsv = fixtures[benchmark]
    from_hub, from_tsv = read_dataset(parquet), read_dataset(tsv)

    assert (from_hub.format, from_tsv.format) == ("hf_parquet", "vlmevalkit_tsv")
    assert from_hub.quarantine.height == from_tsv.quarantine.height == 0
    with_split = benchmark in SPLIT_COLUMN  # ChartQA's part: `type` in Parquet, `split` in the TSV
    assert _comparable(from_hub.samples, with_split) == _comparable(from_tsv.samples, with_split)
    assert from_hub.dataset_hash == from_tsv.dataset_hash


def _scores(metric: str, predictions: list[str], references: list[list[str]]) -> list[float]:
    return [round(value, 4) for value in get_metric(metric).batch(predictions, references)]


def test_docvqa_and_infovqa_anls_as_the_rrc_script() -> None:
    references = [["4471"], ["Acme Corp", "acme corp."], ["3"], ["92.50", "$92.50"]]
    predictions = ["4471", "ACME  corp", "Page 3", "$92.5"]
    # "ACME  corp" normalises to "acme corp": distance 0 -> 1. "Page 3" vs "3": 5 edits / 6 -> 0.1667 < 0.5 -> 0.
    # "$92.5" vs "$92.50": 1 edit / 6 -> 0.8333 (the best reference).
    assert _scores("anls", predictions, references) == [1.0, 1.0, 0.0, 0.8333]


def test_chartqa_relaxed_accuracy_by_part() -> None:
    references = [["40"], ["12.5"], ["Germany"], ["2016"]]
    predictions = ["41.9", "12.5%", "germany", "2017"]
    # 1.9/40 = 4.75% <= 5%; "12.5%" is 0.125 against 12.5; case is ignored; 1/2016 = 0.05% -> correct.
    scores = _scores("relaxed_accuracy", predictions, references)
    assert scores == [1.0, 0.0, 1.0, 1.0]
    assert _scores("relaxed_accuracy", ["42.1"], [["40"]]) == [0.0]  # 5.25%
    human, augmented = sum(scores[:2]) / 2, sum(scores[2:]) / 2
    assert (human, augmented, sum(scores) / 4) == (0.5, 1.0, 0.75)


def test_textvqa_vqa_accuracy_over_ten_leave_one_out_subsets() -> None:
    stop = ["stop"] * 7 + ["stop sign"] * 3
    gate = ["2"] * 5 + ["two"] * 2 + ["gate 2"] * 3
    predictions = ["Stop sign.", "stop", "Two", "the gate 2"]
    # "stop sign": 3 matches; leaving one of them out leaves 2 -> 2/3 (3 times), else 3/3 (7 times): 0.9.
    # "stop": 7 matches -> 1.0. "Two" -> "2" and "two" -> "2": 7 matches -> 1.0.
    # "the gate 2" -> "gate 2": 3 matches -> 0.9.
    assert _scores("vqa_accuracy", predictions, [stop, stop, gate, gate]) == [0.9, 1.0, 1.0, 0.9]
    one_match = ["nikon"] + ["canon"] * 9
    assert _scores("vqa_accuracy", ["Nikon"], [one_match]) == [0.3]  # 9 subsets x 1/3, one x 0


def test_mtvqa_contained_after_strip_lower_and_dot_removal_as_vlmevalkit() -> None:
    references = [["5"], ["21:00"], ["Ромашка"], ["120 руб."], ["Ромашка"], ["12.5"]]
    predictions = ["Аптека № 5.", "до 21:00", "КАФЕ «РОМАШКА»", "120 руб", "Ромаш", "125"]
    # "5" in "аптека № 5"; case folds in Cyrillic too; "120 руб." loses its "." as the answer does;
    # a truncated answer is not contained; "12.5" -> "125" is contained in "125" (dots removed on both sides).
    assert _scores("mtvqa_accuracy", predictions, references) == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0]


def test_mtvqa_task_keeps_only_the_russian_questions(fixtures) -> None:
    from vlm_pipelines.tasks.dataset import select_samples

    task = load_task_registry()["mtvqa_ru"]
    result = read_dataset(readable_copy(fixtures, "mtvqa_ru"))
    kept = select_samples(task, result).samples

    assert result.samples["doc_type"].to_list().count("DE") == 1
    assert kept["doc_type"].unique().to_list() == ["RU"]
    assert kept.height == result.samples.height - 1


def test_ocrbench_per_category_rules_and_score_out_of_1000() -> None:
    categories = [
        "Regular Text Recognition",
        "Key Information Extraction",
        "Scene Text-centric VQA",
        "Handwritten Mathematical Expression Recognition",
    ]
    references = [["HELLO"], ["31.20"], ["66"], ["x ^ { 2 } + 1"]]
    predictions = ["The word is hello.", "31.2", "It says Route 66", "x^{2}+1"]
    general = _scores("ocrbench", predictions, references)
    formula = _scores("ocrbench_formula", predictions, references)
    # Contained, lowercased: yes; "31.20" not in "31.2": no; "66": yes. The formula only under its own rule.
    assert general == [1.0, 0.0, 1.0, 0.0]
    assert formula[3] == 1.0
    totals = ocrbench_category_scores(categories, general, formula)
    assert totals["Final Score"] == 3.0
    assert totals["Handwritten Mathematical Expression Recognition"] == 1.0


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_a_fixture_is_a_partial_copy_of_the_official_split(fixtures, benchmark: str) -> None:
    task = load_task_registry()[benchmark]
    result = read_dataset(readable_copy(fixtures, benchmark))
    check = expected_split_check(result, task.dataset.expected)

    assert not check.passed and not check.blocking
    assert check.summary.startswith(
        f"{result.samples.height} rows, the official split has {task.dataset.expected.rows}"
    )


def test_content_hash_not_pinned_then_pinned_then_wrong(fixtures) -> None:
    from vlm_pipelines.tasks.config import ExpectedDataset

    result = read_dataset(fixtures["ocrbench"][0])
    rows = result.samples.height

    def check(expected: ExpectedDataset):
        return expected_split_check(result, expected)

    unpinned = check(ExpectedDataset(rows=rows))
    assert (unpinned.passed, unpinned.blocking) == (False, False)
    assert unpinned.summary == f"{rows} rows; content hash not pinned: {result.dataset_hash}"
    assert check(ExpectedDataset(rows=rows, content_hash={"hf_parquet": result.dataset_hash})).passed
    wrong = check(ExpectedDataset(rows=rows, content_hash={"hf_parquet": "0" * 64}))
    assert (wrong.passed, wrong.blocking) == (False, True)
    assert "a re-encoded or edited copy" in wrong.summary


def test_a_hub_shard_stands_for_its_whole_split(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from tests.benchmarks.fixtures import ROWS, _hf_table

    rows = ROWS["docvqa_val"]
    pq.write_table(_hf_table("docvqa_val", rows[:2]), tmp_path / "validation-00000-of-00003.parquet")
    pq.write_table(_hf_table("docvqa_val", rows[2:]), tmp_path / "validation-00001-of-00003.parquet")

    result = read_dataset(tmp_path / "validation-00000-of-00003.parquet")

    assert result.samples["question"].to_list() == [row.question for row in rows]
    assert result.warnings == ("1 of 3 shards missing: validation-00002-of-00003.parquet",)


PROMPT_CASES = {
    "docvqa_val": ("What is the total?", "What is the total?\nAnswer the question using a single word or phrase."),
    "infovqa_val": ("Which sport?", "Which sport?\nAnswer the question using a single word or phrase."),
    "chartqa_test": ("What were sales in 2019?", "What were sales in 2019?\nAnswer the question with a single word."),
    "ocrbench": ("  what is written in the image? ", "what is written in the image?"),
    "textvqa_val": ("what brand is the Camera?", "What brand is the camera?\nAnswer the question using a single word or phrase."),
    "mtvqa_ru": (" Как называется кафе? ", "Как называется кафе?\nAnswer the question using a word or phrase in the language of the question."),
}  # fmt: skip
VLMEVALKIT_SUFFIX = "\nPlease try to answer the question with short words or phrases if possible."


def _prompt(task, question: str) -> tuple[str, str]:
    samples = pl.DataFrame(
        {
            "sample_id": ["s"],
            "question": [question],
            "doc_type": [""],
            "field_name": [""],
            "split": ["test"],
            "metadata": ["{}"],
            "image_paths": [["/x.png"]],
        }
    )
    prompts = task.prompts(samples, REPO_ROOT)
    return prompts.prompts["prompt"][0], prompts.prompt_hash


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_lmms_eval_prompt_by_default_vlmevalkit_as_a_variant_with_its_own_hash(benchmark: str) -> None:
    task = load_task_registry()[benchmark]
    question, expected = PROMPT_CASES[benchmark]
    variant = task.model_copy(update={"prompt": task.prompt.model_copy(update={"variant": "vlmevalkit"})})

    default_prompt, default_hash = _prompt(task, question)
    variant_prompt, variant_hash = _prompt(variant, question)

    assert default_prompt == expected
    assert variant_prompt == question + VLMEVALKIT_SUFFIX
    assert default_hash == task.prompt_hash(REPO_ROOT) != variant_hash == variant.prompt_hash(REPO_ROOT)


def test_an_unknown_prompt_variant_is_one_clear_error() -> None:
    from pydantic import ValidationError

    task = load_task_registry()["docvqa_val"]
    with pytest.raises(
        ValidationError, match="unknown prompt variant 'lmms'; this task's variants: vlmevalkit, "
    ):
        type(task.prompt).model_validate({**task.prompt.model_dump(), "variant": "lmms"})
