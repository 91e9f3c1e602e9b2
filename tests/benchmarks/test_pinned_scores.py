"""The pinned scoring run: every benchmark's fixture through the real evaluation steps (dataset, prompts,
predictions, post-processing, metrics) with the OCR model `ocr-rules` (Tesseract), compared with the golden
figures in golden_scores.json within 0.01. A change to prompts, extraction or metrics that moves a score
fails here; to accept it on purpose, rerun with VLMBENCH_UPDATE_GOLDEN=1 (it rewrites the file) and commit
the new figures with the change that moved them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.benchmarks.fixtures import BENCHMARKS, readable_copy, write_all
from vlm_pipelines.evaluation import EvaluationPaths
from vlm_pipelines.evaluation.steps import predict, prepare_dataset, score
from vlm_pipelines.metrics.ocrbench import ocrbench_category_scores
from vlm_pipelines.model_registry import load_model_registry
from vlm_pipelines.tasks import load_task_registry

GOLDEN = Path(__file__).with_name("golden_scores.json")
TOLERANCE = 0.01
MODEL = "ocr-rules"

pytestmark = pytest.mark.requires("tesseract")


def _figures(task, scores) -> dict[str, float]:
    figures = {metric: round(float(scores[metric].mean()), 4) for metric in task.metrics}
    if task.name == "ocrbench":
        totals = ocrbench_category_scores(
            scores["doc_type"].to_list(), scores["ocrbench"].to_list(), scores["ocrbench_formula"].to_list()
        )
        figures["final_score"] = totals["Final Score"]
    for column in task.group_by:
        for part, group in scores.group_by(column, maintain_order=True):
            for metric in task.metrics:
                figures[f"{metric}[{column}={part[0]}]"] = round(float(group[metric].mean()), 4)
    return figures


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    folder = tmp_path_factory.mktemp("pinned")
    fixtures = write_all(folder / "fixtures")
    paths = EvaluationPaths(folder / "data")
    entry, registry = load_model_registry()[MODEL], load_task_registry()
    figures = {}
    for name in BENCHMARKS:
        base = registry[name]
        task = base.model_copy(
            update={"dataset": base.dataset.model_copy(update={"path": str(readable_copy(fixtures, name))})}
        )
        prepare_dataset(task, paths)
        manifest = predict(entry, task, paths).manifest
        _, scores = score(task, manifest, paths)
        figures[name] = _figures(task, scores)
    return figures


def test_scores_match_the_golden_figures(measured: dict[str, dict[str, float]]) -> None:
    if os.environ.get("VLMBENCH_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps({MODEL: measured}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[MODEL]

    assert sorted(measured) == sorted(golden)
    for task, figures in golden.items():
        assert sorted(measured[task]) == sorted(figures), task
        for name, expected in figures.items():
            assert measured[task][name] == pytest.approx(expected, abs=TOLERANCE), (
                f"{task} {name}: {measured[task][name]} now, golden {expected} "
                "(VLMBENCH_UPDATE_GOLDEN=1 rewrites tests/benchmarks/golden_scores.json on purpose)"
            )
