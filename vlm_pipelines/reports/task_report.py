"""The report of one model on one task: provenance (date, run ids, git commit, versions), notes (resolved
configuration, limitations, quarantine), speed, tables with CIs, plots, and every sample below a perfect
score with the model's raw and extracted answers and its page.

`build_task_report` computes the tables (polars) and renders them with the Markdown and HTML templates.
`report.html` is one self-contained file: plots and page images are embedded as data URIs, so it can be
sent alone; `report.md` links the PNG files written beside it.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from model_interface import load_pages
from model_interface.registry import package_version

from vlm_pipelines import settings
from vlm_pipelines.aggregate import group_scores
from vlm_pipelines.metrics import get_metric
from vlm_pipelines.reports.plots import bar_with_ci, png_data_uri, score_histogram
from vlm_pipelines.reports.tables import render

__all__ = ["TaskReport", "build_task_report", "png_data_uri", "run_ids_of"]

WORST_SAMPLES = 8  # the Markdown report's and the Dagster metadata's short list
THUMBNAIL_PX = 480  # long side of a page as the HTML report shows it (and of the Markdown's thumbnails)
EMBEDDED_IMAGES = 200  # imperfect samples (worst first) whose page is embedded; the rest are listed
SAMPLES_PER_PAGE = 25
SAMPLE_LABELS = {  # score column -> what the report calls it beside a sample
    "answers": "gold answers",
    "prediction_raw": "raw model output",
    "prediction": "extracted answer",
    "parsed": "parsed into the answer type",
}
PROVENANCE_COLUMNS = {  # score column -> what the title block calls it
    "package_version": "model package version (in the result's key)",
    "dataset_hash": "dataset hash",
    "prompt_hash": "prompt hash",
    "config_hash": "config hash",
    "params_hash": "params hash",
}
SPEED_MEASURES = {  # speed.json key -> what the report calls it
    "load_s": "model load s (imports and weights)",
    "load_wait_s": "s the step waited for the model (it loads in the background)",
    "samples_per_s": "generation samples/s",
    "end_to_end_samples_per_s": "end-to-end samples/s (whole step)",
    "computed": "samples computed (over the runs of this key)",
    "runs": "runs that computed answers",
    "latency_p50_s": "latency p50 s",
    "latency_p95_s": "latency p95 s",
    "ttft_p50_s": "TTFT p50 s",
    "tpot_p50_s": "TPOT p50 s",
    "output_tokens_total": "output tokens",
    "prompt_tokens_total": "prompt tokens",
    "peak_memory_mb": "peak memory MB",
    "failures": "failed predictions",
}


def package_versions() -> dict[str, str]:
    """The installed versions of vlmbench and its model packages, labelled as result keys label them."""
    versions = {}
    for name in ("vlm-pipelines", "model-interface", "model-hf", "model-ocr", "model-openai", "model-vllm"):
        version = package_version(name)
        if version != "0+unknown":
            versions[name] = version
    return versions


def versions_text(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items())


def git_commit() -> str:
    """The checkout's commit ('+ uncommitted changes' when the tracked files differ from it); '' when this
    is an installed package, not a checkout."""
    if settings.CHECKOUT is None:
        return ""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(settings.CHECKOUT), *args], capture_output=True, text=True, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return f"{commit[:12]} + uncommitted changes" if commit and dirty else commit[:12]


def title_block(run_ids: Sequence[str] = (), generated: str = "") -> dict[str, str]:
    """When, from what and by which runs a report was made: its title block."""
    block = {"generated": generated or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    if run_ids:
        block["Dagster runs"] = ", ".join(dict.fromkeys(run_ids))
    # Where the report was written from; the versions that made the numbers are the result's key (below).
    block["written from git commit"] = git_commit() or "not a git checkout (installed package)"
    block["written with"] = versions_text(package_versions())
    return block


def run_ids_of(manifest, *more: str) -> list[str]:
    """The Dagster runs that made a result: those that computed its answers (`PredictionManifest.runs`),
    then `more` (the run scoring it, the run writing the report)."""
    return list(dict.fromkeys([*(run.run_id for run in manifest.runs if run.run_id), *more]))


@dataclass
class TaskReport:
    title: str
    summary: str
    header: dict[str, str]  # the title block: date, run ids, git commit, installed versions
    provenance: dict[str, str]  # what keys the result: its package version and hashes
    notes: list[str]
    speed: pl.DataFrame
    tables: dict[str, pl.DataFrame]
    plots: dict[str, Path]  # table name -> the plot shown beside it
    worst: pl.DataFrame
    thumbnails: list[tuple[str, str]] = field(default_factory=list)  # (sample id, relative path)
    imperfect: pl.DataFrame = field(default_factory=pl.DataFrame)  # every sample below a perfect score
    page_images: dict[str, str] = field(default_factory=dict)  # sample id -> its page as a data URI
    scores_file: Path | None = None  # the per-sample parquet of the result
    result_id: str = ""
    markdown_path: Path | None = None
    html_path: Path | None = None

    @property
    def imperfect_pages(self) -> list[tuple[int, pl.DataFrame]]:
        """The imperfect samples in pages of SAMPLES_PER_PAGE: (first row number, rows)."""
        return [
            (start + 1, self.imperfect.slice(start, SAMPLES_PER_PAGE))
            for start in range(0, self.imperfect.height, SAMPLES_PER_PAGE)
        ]

    @property
    def markdown(self) -> str:
        assert self.markdown_path is not None
        return self.markdown_path.read_text(encoding="utf-8")


def _thumbnail(image_path: str, out: Path) -> Path | None:
    try:
        stat = Path(image_path).stat()
        out.write_bytes(_thumbnail_png(image_path, stat.st_mtime_ns, stat.st_size))
        return out
    except Exception:  # noqa: BLE001 - an unreadable image simply gets no thumbnail
        return None


@functools.lru_cache(maxsize=256)  # about 1 MB: small PNGs
def _thumbnail_png(image_path: str, mtime_ns: int, size: int) -> bytes:
    """The first page's thumbnail, made once per process for each version of the file (the worst samples of
    a task's reports share a few documents)."""
    image = load_pages(image_path, first_only=True)[0]
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def page_data_uri(image_path: str) -> str | None:
    """The first page of an image file as a data URI, as the sample explorer embeds it (its long side at most
    explorer.MAX_SIDE pixels), encoded once per process for each version of the file: the imperfect samples
    of a task share a few documents."""
    from vlm_pipelines.reports.explorer import page_uris

    try:
        return page_uris(image_path)[0]
    except Exception:  # noqa: BLE001 - an unreadable image is listed without its page
        return None


def wide_table(grouped: pl.DataFrame, by: list[str], metrics: list[str]) -> pl.DataFrame:
    """One row per group: n, then each metric's mean and its 95% CI, for reading."""
    rows = []
    for keys, part in grouped.group_by(by or [pl.lit("all").alias("_all")], maintain_order=True):
        row = dict(zip(by, keys, strict=False)) if by else {}
        row["n"] = int(part["n"].max())
        for metric in metrics:
            cell = part.filter(pl.col("metric") == metric)
            if cell.height and cell["mean"][0] is not None:
                row[metric] = float(cell["mean"][0])
                row[f"{metric} 95% CI"] = f"[{cell['ci_low'][0]:.3f}, {cell['ci_high'][0]:.3f}]"
        rows.append(row)
    return pl.DataFrame(rows)


UNPARSED_LABEL = "(unparsed)"


def label_tables(scores: pl.DataFrame) -> tuple[pl.DataFrame, float]:
    """(confusion matrix, macro F1) of a label task; an answer that named no label is `(unparsed)`."""
    from vlm_pipelines.metrics.classification import confusion_matrix, macro_f1

    truth = [answers[0] for answers in scores["answers"].to_list()]
    predicted = [
        prediction if parsed else UNPARSED_LABEL
        for prediction, parsed in zip(scores["prediction"].to_list(), scores["parsed"].to_list(), strict=True)
    ]
    return confusion_matrix(predicted, truth), macro_f1(predicted, truth, classes=sorted(set(truth)))


def _speed_value(value: float | None) -> str:
    if value is None:  # no run of this key computed anything: its answers were all stored before
        return "not measured (answers reused)"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}"


def speed_table(speed: dict[str, float | None]) -> pl.DataFrame:
    rows = [(label, speed[key]) for key, label in SPEED_MEASURES.items() if key in speed]
    return pl.DataFrame(
        {
            "measure": [label for label, _ in rows],
            "value": [_speed_value(value) for _, value in rows],
        },
        schema={"measure": pl.String, "value": pl.String},
    )


def worst_samples(scores: pl.DataFrame, metric: str, count: int = WORST_SAMPLES) -> pl.DataFrame:
    descending = not get_metric(metric).higher_is_better
    return scores.sort([metric, "sample_id"], descending=[descending, False], nulls_last=True).head(count)


def imperfect_samples(scores: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Every sample whose `metric` is below a perfect score (1 for an accuracy, 0 for an error rate) or
    missing, worst first. Metrics are on a 0..1 scale."""
    perfect = 1.0 if get_metric(metric).higher_is_better else 0.0
    below = (pl.col(metric) - perfect).abs() > 1e-9
    return worst_samples(scores.filter(below | pl.col(metric).is_null()), metric, count=scores.height)


def _provenance(scores: pl.DataFrame) -> dict[str, str]:
    first = scores.row(0, named=True) if scores.height else {}
    provenance = {label: str(first.get(column, "")) for column, label in PROVENANCE_COLUMNS.items()}
    resolved = json.loads(first.get("resolved_config") or "{}")
    if resolved:
        provenance["resolved configuration"] = ", ".join(f"{key} {value}" for key, value in resolved.items())
    return provenance


def build_task_report(
    scores: pl.DataFrame,
    *,
    task: str,
    model_name: str,
    metrics: list[str],
    group_by: list[str],
    out_dir: Path,
    speed: dict[str, float] | None = None,
    notes: list[str] | None = None,
    answer_type: str = "text",
    scores_file: Path | None = None,
    run_ids: Sequence[str] = (),
) -> TaskReport:
    """Writes report.md and report.html into `out_dir`. `scores_file` is the result's per-sample parquet
    (the report names it); `run_ids` are the Dagster runs that made the result (see `run_ids_of`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{model_name} on {task}"
    grouped = {"overall": ([], group_scores(scores, metrics, by=[]))}
    for column in group_by:
        if column in scores.columns:
            grouped[f"by {column}"] = ([column], group_scores(scores, metrics, by=[column]))
    tables = {name: wide_table(table, by, metrics) for name, (by, table) in grouped.items()}
    if answer_type == "label" and scores.height:
        tables["confusion matrix"], macro = label_tables(scores)

    primary = metrics[0]
    plots = {"overall": score_histogram(scores, metrics, title, out_dir / "score_distribution.png")}
    for column in group_by:
        by_column = grouped.get(f"by {column}")
        if by_column is not None and by_column[1].height > len(metrics):
            per_group = by_column[1].filter((pl.col("metric") == primary) & pl.col("mean").is_not_null())
            plots[f"by {column}"] = bar_with_ci(
                per_group, column, f"{primary} by {column}", out_dir / f"{primary}_by_{column}.png"
            )

    worst = worst_samples(scores, primary)
    thumbs_dir = out_dir / "thumbnails"
    thumbs_dir.mkdir(exist_ok=True)
    thumbnails = []
    for sample_id, paths in zip(worst["sample_id"].to_list(), worst["image_paths"].to_list(), strict=True):
        thumb = _thumbnail(paths[0], thumbs_dir / f"{sample_id}.png") if paths else None
        if thumb is not None:
            thumbnails.append((sample_id, f"thumbnails/{thumb.name}"))
    columns = ["sample_id", "doc_type", "field_name", "question", "answers", "prediction", primary]
    # the model's own words beside what was read from them (an unparsed answer is read as "")
    extra = [column for column in ("prediction_raw", "parsed") if column in worst.columns]
    worst_table = worst.select(columns + extra)

    imperfect = imperfect_samples(scores, primary)
    page_images = {}
    for sample_id, paths in zip(
        imperfect["sample_id"].head(EMBEDDED_IMAGES).to_list(),
        imperfect["image_paths"].head(EMBEDDED_IMAGES).to_list(),
        strict=True,
    ):
        if paths and (uri := page_data_uri(paths[0])) is not None:
            page_images[sample_id] = uri
    shown = ["sample_id", "doc_type", "field_name", "question", "answers", "prediction_raw", "prediction"]
    shown += [column for column in ("parsed", *metrics, "error") if column not in shown]
    imperfect = imperfect.select([column for column in shown if column in imperfect.columns])

    failed = int(scores["failed"].sum())
    summary = f"{scores.height} samples, {failed} failed predictions"
    if "parsed" in scores.columns and scores.height:
        summary += f", {float(scores['parsed'].mean()):.1%} of answers parsed into the task's answer type"
    if answer_type == "label" and scores.height:
        summary += f", macro F1 {macro:.3f}"
    result_ids = scores["result_id"].unique().to_list() if "result_id" in scores.columns else []
    report = TaskReport(
        title=title,
        summary=summary,
        header=title_block(run_ids),
        provenance=_provenance(scores),
        notes=list(notes or []),
        speed=speed_table(speed or {}),
        tables=tables,
        plots=plots,
        worst=worst_table,
        thumbnails=thumbnails,
        imperfect=imperfect,
        page_images=page_images,
        scores_file=scores_file,
        result_id=result_ids[0] if len(result_ids) == 1 else "",
    )
    context = {
        "report": report,
        "primary": primary,
        "embedded_limit": EMBEDDED_IMAGES,
        "sample_labels": SAMPLE_LABELS,
    }
    report.markdown_path = out_dir / "report.md"
    report.html_path = out_dir / "report.html"
    report.markdown_path.write_text(render("task_report.md.j2", **context), encoding="utf-8")
    report.html_path.write_text(render("task_report.html.j2", **context), encoding="utf-8")
    return report


def report_result(record, task, paths, more_run_ids: Sequence[str] = ()) -> TaskReport:
    """The task report of an archived result (`ResultRecord`) of `task` (`TaskConfig`) in the data folder
    `paths`, naming its per-sample parquet and the runs that made it (those of its predictions, then
    `more_run_ids`)."""
    from vlm_pipelines.evaluation import dataset_record, load_manifest, result_notes, result_of
    from vlm_pipelines.evaluation.archive import SCORES

    result = result_of(record, paths)
    try:
        manifest = load_manifest(paths, record.model_name, record.task, record.manifest_id)
        run_ids = run_ids_of(manifest, *more_run_ids)
    except FileNotFoundError:  # a result re-keyed from an older layout keeps no manifest
        run_ids = list(more_run_ids)
    return build_task_report(
        result.sample_metrics,
        task=task.name,
        model_name=record.model_name,
        metrics=record.metrics,
        group_by=list(task.group_by),
        out_dir=paths.report(record.model_name, task.name),
        speed=record.speed.model_dump(),
        notes=result_notes(record, dataset_record(task.name, paths)),
        answer_type=task.answer_type,
        scores_file=result.folder / SCORES,
        run_ids=run_ids,
    )
