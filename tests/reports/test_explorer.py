"""The sample explorer (`vlm_pipelines/reports/explorer.py`): one self-contained page per task, built from a
real results archive and driven in the Debian Chromium through Playwright (`executable_path`, never
`playwright install`). Screenshots go to `.artifacts/browser/explorer_*.png`."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from vlm_pipelines.evaluation.archive import SCORES, archive_result
from vlm_pipelines.evaluation.layout import EvaluationPaths
from vlm_pipelines.reports.explorer import main, task_results, write_explorer

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / ".artifacts" / "browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
TASK = "demo_mini_vqa"
# Two model entries of the real `ocr-rules` (Tesseract): the second matches labels more loosely and reads
# smaller pages, so the two disagree on some samples.
ENTRIES = {
    "ocr-rules": {"engine": "tesseract", "max_image_side": 1600},
    "ocr-rules-loose": {"engine": "tesseract", "max_image_side": 1000, "label_score_cutoff": 45},
}
PAYLOAD = "</script><img src=x onerror=window.__xss=1>"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> EvaluationPaths:
    """A results archive of both entries on all 22 demo_mini_vqa samples, made by the real steps (dataset,
    predictions, scores) in this process."""
    from vlm_pipelines.evaluation.steps import predict, prepare_dataset, score
    from vlm_pipelines.model_registry import EvaluatedModel
    from vlm_pipelines.tasks import load_task_registry

    paths = EvaluationPaths(tmp_path_factory.mktemp("explorer") / "data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMBENCH_DATA_DIR", str(paths.root))
        task = load_task_registry()[TASK]
        prepare_dataset(task, paths)
        for name, params in ENTRIES.items():
            entry = EvaluatedModel(name=name, model="ocr-rules", params=params, batch_size=16)
            score(task, predict(entry, task, paths).manifest, paths)
    return paths


def scores_of(paths: EvaluationPaths) -> dict[str, pl.DataFrame]:
    """Each entry's per-sample scores, read from the archive's parquet files."""
    return {
        path.parents[1].name: pl.read_parquet(path) for path in paths.results.glob(f"{TASK}/*/*/{SCORES}")
    }


def expected_diff(a: pl.DataFrame, b: pl.DataFrame, metric: str) -> list[tuple[str, float]]:
    """(sample id, b - a) of the shared samples whose extracted answers or scores differ, largest |b - a|
    first, then by sample id."""
    rows_b = {row["sample_id"]: row for row in b.iter_rows(named=True)}
    found = []
    for row in a.iter_rows(named=True):
        other = rows_b.get(row["sample_id"])
        if other and (row["prediction"] != other["prediction"] or row[metric] != other[metric]):
            found.append((row["sample_id"], other[metric] - row[metric]))
    return sorted(found, key=lambda item: (-abs(item[1]), item[0]))


def list_ids(page) -> list[str]:
    return page.locator("#list tbody tr").evaluate_all("rows => rows.map(row => row.dataset.sampleId)")


def answer_cells(page) -> dict[str, dict[str, str]]:
    """The open sample's answers table: result id -> {raw, extracted, parsed, <metric>...} as shown."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#answers .answer')].map(card => [
            card.dataset.resultId,
            Object.fromEntries([
                ['raw', card.querySelector('.raw').textContent],
                ['extracted', card.querySelector('.extracted').textContent],
                ['parsed', card.querySelector('.parsed').textContent],
                ...[...card.querySelectorAll('.score')].map(cell => [cell.dataset.metric, cell.textContent]),
            ]),
        ]))"""
    )


def launch(playwright):
    from vlm_pipelines.components import chromium_path

    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"explorer_{name}.png"), full_page=True)


@pytest.mark.requires("tesseract", "chromium")
def test_filter_open_a_sample_and_diff_two_models_in_a_real_browser(
    archive: EvaluationPaths, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    out = write_explorer(archive.results, TASK, tmp_path / "explorer.html")
    assert out.stat().st_size < 5_000_000  # 4 pages at 1600 px, 22 samples, 2 results
    scores = scores_of(archive)
    ids = {result.model_name: result.record.result_id for result in task_results(archive.results, TASK)}
    strict, loose = scores["ocr-rules"], scores["ocr-rules-loose"]
    diff = expected_diff(strict, loose, "anls")
    assert diff, "the two entries answered every sample alike: nothing to diff"

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(out.as_uri())
            expect(page.locator("#results-table tr[data-result-id]")).to_have_count(2)
            assert list_ids(page) == sorted(strict["sample_id"].to_list())

            # filter: one model, anls at most 0.5
            page.select_option("#f-result", ids["ocr-rules"])
            page.fill("#f-max", "0.5")
            low = strict.filter(pl.col("anls") <= 0.5).sort("sample_id")["sample_id"].to_list()
            expect(page.locator("#count")).to_have_text(f"{len(low)} of 22 samples")
            assert list_ids(page) == low
            shot(page, "filtered")

            # parse failures of the other model
            page.fill("#f-max", "")
            page.select_option("#f-result", ids["ocr-rules-loose"])
            page.select_option("#f-parse", "failed")
            unparsed = loose.filter(~pl.col("parsed") | pl.col("failed")).sort("sample_id")["sample_id"]
            expect(page.locator("#count")).to_have_text(f"{len(unparsed)} of 22 samples")
            assert list_ids(page) == unparsed.to_list()
            page.select_option("#f-parse", "any")
            page.select_option("#f-result", "")

            # open the sample the two disagree on most
            sample_id = diff[0][0]
            page.locator(f"#list tr[data-sample-id='{sample_id}']").click()
            image = page.locator("#page-image")
            expect(image).to_be_visible()
            page.wait_for_function("document.getElementById('page-image').naturalWidth > 0", timeout=10_000)
            width = page.evaluate("document.getElementById('page-image').naturalWidth")
            assert 0 < width <= 1600
            fitted = page.locator("#zoom-level").text_content()
            page.click("#zoom-in")
            assert int(page.locator("#zoom-level").text_content().rstrip("%")) > int(fitted.rstrip("%"))
            page.click("#zoom-fit")
            row = strict.filter(pl.col("sample_id") == sample_id).row(0, named=True)
            expect(page.locator("#sample-question")).to_have_text(row["question"])
            assert page.locator("#gold-answers li").all_text_contents() == row["answers"]
            shown = answer_cells(page)
            for name, frame in scores.items():
                truth = frame.filter(pl.col("sample_id") == sample_id).row(0, named=True)
                cells = shown[ids[name]]
                assert cells["raw"] == truth["prediction_raw"]
                assert cells["extracted"] == truth["prediction"]
                assert cells["parsed"] == ("yes" if truth["parsed"] else "no")
                for metric in ("anls", "exact_match", "cer"):
                    assert cells[metric] == f"{truth[metric]:.3f}"
            shot(page, "sample")

            # diff: A = ocr-rules, B = ocr-rules-loose, on anls
            page.click("#tab-diff")
            page.select_option("#d-a", ids["ocr-rules"])
            page.select_option("#d-b", ids["ocr-rules-loose"])
            expect(page.locator("#count")).to_have_text(
                f"{len(diff)} of 22 shared samples disagree (answer or anls)"
            )
            assert list_ids(page) == [sample for sample, _ in diff]
            deltas = page.locator("#diff-list td.delta").all_text_contents()
            assert [float(text) for text in deltas] == pytest.approx([delta for _, delta in diff], abs=5e-4)
            shot(page, "diff")
        finally:
            browser.close()


@pytest.fixture
def hostile_archive(tmp_path: Path) -> tuple[Path, Path]:
    """An archive holding one result whose document text and model answer carry markup. It is written in
    the archive's old folder layout, which `list_results` re-keys into a record (the real migration path);
    the page is a real 2400 x 1200 PNG."""
    image = tmp_path / "page.png"
    Image.new("RGB", (2400, 1200), "white").save(image)
    folder = tmp_path / "results" / "hostile_task" / "some-model" / "0.1.0" / "abc"
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "sample_id": ["s1"],
            "doc_type": ["invoice"],
            "field_name": ["total"],
            "split": ["test"],
            "question": [f"What is the total? {PAYLOAD}"],
            "answers": [[PAYLOAD]],
            "image_paths": [[str(image)]],
            "prediction_raw": [f"Total: {PAYLOAD}"],
            "prediction": [PAYLOAD],
            "parsed": [True],
            "failed": [False],
            "error": [None],
            "anls": [1.0],
        },
        schema_overrides={"error": pl.String},
    ).write_parquet(folder / SCORES)
    return tmp_path / "results", image


def test_the_page_is_one_file_and_its_data_cannot_close_the_script(hostile_archive, tmp_path: Path) -> None:
    results, _ = hostile_archive
    html = write_explorer(results, "hostile_task", tmp_path / "explorer.html").read_text(encoding="utf-8")
    data = html.split('<script type="application/json" id="explorer-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and "\\u003c/script\\u003e" in data
    assert "http://" not in html and "https://" not in html and "<link" not in html
    uri = data.split('"data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert Image.open(io.BytesIO(base64.b64decode(uri))).size == (1600, 800)


@pytest.mark.requires("chromium")
def test_markup_in_a_document_and_an_answer_renders_as_text(hostile_archive, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    results, _ = hostile_archive
    out = write_explorer(results, "hostile_task", tmp_path / "explorer.html")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(out.as_uri() + "#sample=s1")
            expect(page.locator("#gold-answers li")).to_have_text([PAYLOAD])
            expect(page.locator("#sample-question")).to_have_text(f"What is the total? {PAYLOAD}")
            expect(page.locator("#answers .raw")).to_have_text(f"Total: {PAYLOAD}")
            page.wait_for_function("document.getElementById('page-image').naturalWidth === 1600")
            assert page.evaluate("window.__xss") is None
            assert page.locator("img[src='x']").count() == 0
        finally:
            browser.close()


def test_the_command_says_in_one_line_when_a_task_has_no_results(tmp_path: Path, capsys) -> None:
    assert main(["--task", "nothing_here", "--data-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no results of task 'nothing_here'" in error


def test_the_page_is_rebuilt_only_when_its_results_change(hostile_archive, tmp_path: Path) -> None:
    results, _ = hostile_archive
    out = write_explorer(results, "hostile_task", tmp_path / "explorer.html")
    out.write_text("the page as first written", encoding="utf-8")  # a second build must leave it alone
    assert (
        write_explorer(results, "hostile_task", out).read_text(encoding="utf-8")
        == "the page as first written"
    )

    (result,) = task_results(results, "hostile_task")
    archive_result(results, result.record.model_copy(update={"result_id": "f" * 16}), result.sample_metrics)
    rebuilt = write_explorer(results, "hostile_task", out).read_text(encoding="utf-8")
    assert "f" * 16 in rebuilt  # a new result: the page shows it


def test_an_embedded_page_is_the_downscaled_document_exactly_or_a_jpeg_for_a_photo() -> None:
    from vlm_pipelines.reports.explorer import MAX_SIDE, encode_page

    def decoded(uri: str) -> tuple[str, Image.Image]:
        header, data = uri.split(",", 1)
        return header, Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")

    rendered = Image.open(REPO_ROOT / "data" / "vlmhyperbench_sample" / "demo_mini" / "images" / "3.png")
    expected = rendered.convert("RGB")
    expected.thumbnail((MAX_SIDE, MAX_SIDE))
    assert expected.getcolors(maxcolors=256) is not None  # antialiased text: a few grey levels
    header, shown = decoded(encode_page(rendered))
    assert header == "data:image/png;base64" and shown.tobytes() == expected.tobytes()

    photo = Image.merge("RGB", [Image.effect_noise((300, 200), sigma) for sigma in (40, 60, 80)])
    header, shown = decoded(encode_page(photo))
    assert header == "data:image/jpeg;base64" and shown.size == photo.size
