"""A task report and a leaderboard that can be sent alone: each HTML file, copied into an empty folder and
opened in a real browser (the Debian Chromium through Playwright), shows every image; the report lists
every sample below a perfect score with the model's raw output; its title block says when, from which runs
and which commit and versions it was made. Screenshot: `.artifacts/browser/report_alone.png`.

The result is real: the OCR baseline (Tesseract) answers a few synthetic invoices, forms and receipts
through the evaluation steps the assets call (prepare, predict, score), without Dagster."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from vlm_pipelines.components import chromium_path
from vlm_pipelines.evaluation.archive import SCORES, ArchivedResult
from vlm_pipelines.evaluation.layout import EvaluationPaths
from vlm_pipelines.reports.task_report import TaskReport, build_task_report, imperfect_samples

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / ".artifacts" / "browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
TASK = "synth_vqa_en"
MODEL = "ocr-rules"
SAMPLES = 5  # the first 5 by sample id: the baseline gets 2 right, 3 wrong


@dataclass(frozen=True)
class ScoredResult:
    paths: EvaluationPaths
    result: ArchivedResult
    run_ids: list[str]

    @property
    def scores_file(self) -> Path:
        return self.result.folder / SCORES


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> ScoredResult:
    from vlm_pipelines.evaluation import predict, prepare_dataset, result_of, score
    from vlm_pipelines.model_registry import load_model_registry
    from vlm_pipelines.reports.task_report import run_ids_of
    from vlm_pipelines.tasks import load_task_registry

    paths = EvaluationPaths(tmp_path_factory.mktemp("reports-data"))
    entry, task = load_model_registry()[MODEL], load_task_registry().require(TASK)
    prepare_dataset(task, paths)
    predicted = predict(entry, task, paths, max_samples=SAMPLES, run_id="predict-run-of-the-test")
    record, _ = score(task, predicted.manifest, paths)
    return ScoredResult(
        paths, result_of(record, paths), run_ids_of(predicted.manifest, "report-run-of-the-test")
    )


def report_of(scored: ScoredResult, out_dir: Path) -> TaskReport:
    record = scored.result.record
    return build_task_report(
        scored.result.sample_metrics,
        task=TASK,
        model_name=MODEL,
        metrics=record.metrics,
        group_by=["doc_type", "field_name"],
        out_dir=out_dir,
        speed=record.speed.model_dump(),
        scores_file=scored.scores_file,
        run_ids=scored.run_ids,
    )


@pytest.mark.requires("tesseract")
def test_the_report_lists_every_imperfect_sample_and_says_what_made_it(
    scored: ScoredResult, tmp_path: Path
) -> None:
    report = report_of(scored, tmp_path / "report")
    scores = pl.read_parquet(scored.scores_file)
    below = scores.filter(pl.col("anls") < 1.0)
    assert 0 < below.height < scores.height, "the baseline should get some, not all, of these samples"
    assert sorted(report.imperfect["sample_id"].to_list()) == sorted(below["sample_id"].to_list())
    assert report.imperfect["anls"].to_list() == sorted(below["anls"].to_list())  # worst first
    assert set(report.page_images) == set(below["sample_id"].to_list())

    html = report.html_path.read_text(encoding="utf-8")
    for row in below.iter_rows(named=True):
        assert row["sample_id"] in html
    assert html.count('<img class="page"') == below.height
    assert str(scored.scores_file) in html and "vlmbench results export" in html
    assert not re.search(r"""(src|href)=["']?(https?:|//|[\w./-]+\.png)""", html), "an external resource"
    header = report.header
    assert header["Dagster runs"] == "predict-run-of-the-test, report-run-of-the-test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", header["generated"])
    assert re.match(r"[0-9a-f]{12}", header["written from git commit"])
    # one label per version: the result's key and the title block name model-ocr the same way
    assert f"model-ocr {scores['package_version'][0]}" in header["written with"]


def test_a_perfect_error_rate_is_zero() -> None:
    scores = pl.DataFrame({"sample_id": ["a", "b", "c", "d"], "cer": [0.0, 0.5, None, 1.0]})
    assert imperfect_samples(scores, "cer")["sample_id"].to_list() == ["d", "b", "c"]
    scores = pl.DataFrame({"sample_id": ["a", "b", "c"], "anls": [1.0, 0.4, 0.9]})
    assert imperfect_samples(scores, "anls")["sample_id"].to_list() == ["b", "c"]


@pytest.mark.requires("tesseract", "chromium")
def test_report_and_leaderboard_copied_alone_show_every_image(scored: ScoredResult, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from vlm_pipelines.reports.leaderboard import build_leaderboard

    report = report_of(scored, tmp_path / "report")
    board = build_leaderboard(
        scored.paths.results, tmp_path / "leaderboard", {TASK: scored.result.record.metrics}
    )
    alone = tmp_path / "sent"
    alone.mkdir()
    for path in (report.html_path, board.html_path):
        shutil.copy(path, alone / path.name)
    assert sorted(p.name for p in alone.iterdir()) == ["leaderboard.html", "report.html"]

    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: r.url.startswith(("file:", "data:")) or outside.append(r.url))
            for name, expected in (
                ("report.html", len(report.plots) + len(report.page_images)),
                ("leaderboard.html", 1),
            ):
                page.goto((alone / name).as_uri(), wait_until="load")
                widths = page.eval_on_selector_all(
                    "img", "images => images.map(i => i.complete && i.naturalWidth)"
                )
                shown = [w for w in widths if w is not False]
                assert len(widths) == expected, f"{name}: {len(widths)} images, expected {expected}"
                assert all(width and width > 0 for width in shown) and len(shown) == expected, (name, widths)
                if name == "report.html":
                    first_page = page.locator("img.page").first
                    box = first_page.bounding_box()
                    assert box and max(box["width"], box["height"]) > 300, f"a page shown at {box}"
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    page.locator("#imperfect").scroll_into_view_if_needed()
                    page.screenshot(path=str(ARTIFACTS / "report_alone.png"), full_page=True)
                    first_page.click()
                    expect(page.locator("#viewer img")).to_be_visible()
                    whole = page.eval_on_selector("#viewer img", "i => i.complete && i.naturalWidth")
                    assert whole and whole > box["width"], f"the whole page is {whole} px wide"
                    page.screenshot(path=str(ARTIFACTS / "report_alone_page_whole.png"))
                else:
                    page.screenshot(path=str(ARTIFACTS / "leaderboard_alone.png"), full_page=True)
        finally:
            browser.close()
    assert outside == [], f"the pages asked for resources outside themselves: {outside}"


@pytest.mark.requires("tesseract")
def test_leaderboard_json_holds_each_metric_as_numbers(scored: ScoredResult, tmp_path: Path) -> None:
    import json

    from vlm_pipelines.aggregate import bootstrap_mean_ci
    from vlm_pipelines.reports.leaderboard import JSON_NAME, build_leaderboard, console_text

    record = scored.result.record
    build_leaderboard(scored.paths.results, tmp_path, {TASK: record.metrics})
    board = json.loads((tmp_path / JSON_NAME).read_text(encoding="utf-8"))
    [section] = board["sections"]
    scores = pl.read_parquet(scored.scores_file)
    assert [(s["model"], s["result"], s["metric"]) for s in section["scores"]] == [
        (MODEL, record.result_id, metric) for metric in record.metrics
    ]
    for cell in section["scores"]:
        values = scores[cell["metric"]].drop_nulls().to_numpy()
        low, high = bootstrap_mean_ci(values)
        assert type(cell["n"]) is int and cell["n"] == len(values) == scores.height
        assert all(type(cell[name]) is float for name in ("mean", "ci_low", "ci_high"))
        assert (cell["mean"], cell["ci_low"], cell["ci_high"]) == pytest.approx((values.mean(), low, high))
        assert cell["ci_low"] <= cell["mean"] <= cell["ci_high"]
    [row] = section["rows"]
    assert row[record.metrics[0]] == section["scores"][0]["mean"]  # the ranking column is a number too
    assert not any(isinstance(value, str) and "[" in value for value in row.values())
    anls = section["scores"][0]
    shown = f"{anls['mean']:.3f} [{anls['ci_low']:.3f}, {anls['ci_high']:.3f}]"
    assert f"| {shown} |" in console_text(board)  # people still read 'mean [low, high]'
