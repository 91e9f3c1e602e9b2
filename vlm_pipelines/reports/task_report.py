"""The report of one model on one task: provenance, notes (resolved configuration, limitations,
quarantine), speed, tables with CIs, plots and the worst samples with thumbnails.

`build_task_report` computes the tables (polars) and renders them with the Markdown and HTML templates.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import polars as pl
from model_interface import load_pages

from vlm_pipelines.aggregate import group_scores
from vlm_pipelines.metrics import get_metric
from vlm_pipelines.reports.plots import bar_with_ci, score_histogram
from vlm_pipelines.reports.tables import render

WORST_SAMPLES = 8
PROVENANCE_COLUMNS = ("package_version", "dataset_hash", "prompt_hash", "config_hash", "params_hash")
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
    """The versions that produced a report: vlmbench and its model packages."""
    versions = {}
    for name in ("vlm-pipelines", "model-interface", "model-hf", "model-ocr", "model-vllm"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class TaskReport:
    title: str
    summary: str
    provenance: dict[str, str]
    notes: list[str]
    speed: pl.DataFrame
    tables: dict[str, pl.DataFrame]
    plots: dict[str, Path]  # table name -> the plot shown beside it
    worst: pl.DataFrame
    thumbnails: list[tuple[str, str]] = field(default_factory=list)  # (sample id, relative path)
    markdown_path: Path | None = None
    html_path: Path | None = None

    @property
    def markdown(self) -> str:
        assert self.markdown_path is not None
        return self.markdown_path.read_text(encoding="utf-8")


def _thumbnail(image_path: str, out: Path) -> Path | None:
    try:
        image = load_pages(image_path, first_only=True)[0]
        image.thumbnail((240, 240))
        image.save(out)
        return out
    except Exception:  # noqa: BLE001 - an unreadable image simply gets no thumbnail
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


def _provenance(scores: pl.DataFrame) -> dict[str, str]:
    first = scores.row(0, named=True) if scores.height else {}
    provenance = {column.replace("_", " "): str(first.get(column, "")) for column in PROVENANCE_COLUMNS}
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
) -> TaskReport:
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

    failed = int(scores["failed"].sum())
    summary = f"{scores.height} samples, {failed} failed predictions"
    if "parsed" in scores.columns and scores.height:
        summary += f", {float(scores['parsed'].mean()):.1%} of answers parsed into the task's answer type"
    if answer_type == "label" and scores.height:
        summary += f", macro F1 {macro:.3f}"
    report = TaskReport(
        title=title,
        summary=summary,
        provenance=_provenance(scores),
        notes=list(notes or []),
        speed=speed_table(speed or {}),
        tables=tables,
        plots=plots,
        worst=worst_table,
        thumbnails=thumbnails,
    )
    context = {"report": report, "primary": primary, "versions": package_versions()}
    report.markdown_path = out_dir / "report.md"
    report.html_path = out_dir / "report.html"
    report.markdown_path.write_text(render("task_report.md.j2", **context), encoding="utf-8")
    report.html_path.write_text(render("task_report.html.j2", **context), encoding="utf-8")
    return report


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
