"""The cross-model leaderboard: per task, every model's quality with bootstrap CIs, its parse rate, the
configuration its `auto` settings resolved to, three speed figures, and the paired comparison with the
best model; plus the history across package versions.

`compute_leaderboard` builds the tables (polars; each model is bootstrapped once); `write_leaderboard`
renders them with the Markdown and HTML templates and writes `leaderboard.json`, which the CLI prints.
A task whose current dataset failed a blocking check is shown as failed, with the numbers, and not ranked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from vlm_pipelines.aggregate import group_scores, paired_difference
from vlm_pipelines.metrics import get_metric, list_metrics
from vlm_pipelines.reports.plots import bar_with_ci
from vlm_pipelines.reports.tables import markdown_table, render
from vlm_pipelines.results import ArchivedResult, latest_results, list_results

JSON_NAME = "leaderboard.json"


def config_label(resolved_json: str | None) -> str:
    """A short name for what a result's `auto` settings resolved to: 'tesseract 5.3.0', 'cpu float32'."""
    settings = json.loads(resolved_json or "{}")
    parts = []
    if "ocr_engine" in settings:
        parts.append(f"{settings['ocr_engine']} {settings.get('ocr_engine_version', '')}".strip())
    for prefix in ("", "reader_"):
        if f"{prefix}device" in settings:
            parts.append(f"{settings[f'{prefix}device']} {settings.get(f'{prefix}dtype', '')}".strip())
    if "vllm" in settings:
        parts.append(f"vllm {settings['vllm']}")
    return " + ".join(parts)


def _first(scores: pl.DataFrame, column: str, default: str = "") -> str:
    if column not in scores.columns or not scores.height:
        return default
    value = scores[column][0]
    return default if value is None else str(value)


def _ci_text(row: Mapping) -> str:
    if row.get("mean") is None:
        return "n/a"
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def _metrics_of(frame: pl.DataFrame, task_metrics: Sequence[str] | None) -> list[str]:
    known = set(list_metrics())
    present = [column for column in frame.columns if column in known]
    if task_metrics:
        return [metric for metric in task_metrics if metric in present]
    return present


@dataclass
class TaskSection:
    task: str
    metrics: list[str]
    table: pl.DataFrame
    comparisons: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)
    failed: str = ""  # the dataset's failed blocking check, with its numbers
    best: str = ""
    plot: Path | None = None


@dataclass
class Leaderboard:
    sections: list[TaskSection]
    history: pl.DataFrame
    generated: str
    markdown_path: Path | None = None
    html_path: Path | None = None
    json_path: Path | None = None

    @property
    def plots(self) -> list[Path]:
        return [section.plot for section in self.sections if section.plot is not None]

    def console_text(self) -> str:
        return console_text(self.to_json())

    def to_json(self) -> dict:
        return {
            "generated": self.generated,
            "sections": [
                {
                    "task": section.task,
                    "metrics": section.metrics,
                    "best": section.best,
                    "failed": section.failed,
                    "notes": section.notes,
                    "provenance": section.provenance,
                    "rows": section.table.to_dicts(),
                    "comparisons": section.comparisons.to_dicts(),
                }
                for section in self.sections
            ],
            "history": self.history.to_dicts(),
        }


def console_text(board: Mapping) -> str:
    """The per-task tables, comparisons and notes of a `leaderboard.json`, as the console shows them."""
    parts = []
    for section in board["sections"]:
        lines = [f"## {section['task']}", ""]
        if section["failed"]:
            lines += [f"FAILED dataset check, not ranked: {section['failed']}", ""]
        if section["rows"]:
            lines.append(markdown_table(pl.DataFrame(section["rows"])).rstrip())
        if section["comparisons"]:
            lines += ["", "Paired comparison with the best model (bootstrap 95% CI of the difference):"]
            lines.append(markdown_table(pl.DataFrame(section["comparisons"])).rstrip())
        lines += [f"- {note}" for note in section["notes"]]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _section(
    task: str,
    results: list[ArchivedResult],
    task_metrics: Sequence[str] | None,
    record: Mapping | None,
    out_dir: Path,
) -> TaskSection | None:
    from vlm_pipelines.evaluation import failed_dataset_checks

    frames = {result.model_name: result.sample_metrics for result in results}
    metrics = _metrics_of(next(iter(frames.values())), task_metrics)
    if not metrics:
        return None
    primary = metrics[0]
    higher_is_better = get_metric(primary).higher_is_better
    overall = {  # one bootstrap per model and metric
        name: {row["metric"]: row for row in group_scores(scores, metrics, by=[]).iter_rows(named=True)}
        for name, scores in frames.items()
    }
    failed = "; ".join(failed_dataset_checks(dict(record) if record else None))
    ranked = {
        name: cells[primary]["mean"] for name, cells in overall.items() if cells[primary]["mean"] is not None
    }
    best = ""
    if ranked and not failed:
        best = (max if higher_is_better else min)(ranked, key=lambda name: ranked[name])

    comparisons = []
    for name in frames:
        if not best or name == best or name not in ranked:
            continue
        try:
            diff = paired_difference(frames[best], frames[name], primary, higher_is_better=higher_is_better)
        except ValueError:  # no sample scored by both (different dataset versions)
            continue
        comparisons.append(
            {
                "best": best,
                "other": name,
                "metric": primary,
                "diff": diff.diff,
                "ci_low": diff.ci_low,
                "ci_high": diff.ci_high,
                "n": diff.n,
                "verdict": diff.verdict,
            }
        )
    versus = {
        c["other"]: f"{c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] {c['verdict']}"
        for c in comparisons
    }

    rows, notes = [], []
    for result in results:
        scores, speed = frames[result.model_name], result.speed
        config = config_label(_first(scores, "resolved_config", "{}"))
        row = {
            "model": result.model_name,
            "version": result.package_version,
            "config": config,
            "n": scores.height,
            "failed": int(scores["failed"].sum()),
            "parsed": float(scores["parsed"].mean())
            if "parsed" in scores.columns and scores.height
            else None,
        }
        for metric in metrics:
            row[metric] = _ci_text(overall[result.model_name][metric])
        row["model load s"] = speed.get("load_s")
        row["samples/s"] = speed.get("samples_per_s")
        row["end-to-end samples/s"] = speed.get("end_to_end_samples_per_s")
        row["p50 latency s"] = speed.get("latency_p50_s")
        row["peak MB"] = speed.get("peak_memory_mb")
        row[f"vs best ({primary})"] = (
            "not ranked"
            if failed
            else "best"
            if result.model_name == best
            else versus.get(result.model_name, "")
        )
        rows.append(row)
        for limitation in filter(None, _first(scores, "limitations").split(" | ")):
            notes.append(f"{result.model_name} ({config}): {limitation}")
    if record and record.get("quarantined"):
        reasons = ", ".join(
            f"{reason} x{count}" for reason, count in record.get("quarantine_reasons", {}).items()
        )
        notes.append(
            f"dataset: {record['quarantined']} of {record.get('records', '?')} rows quarantined ({reasons})"
        )

    plot = None
    plottable = [
        (name, cells[primary]) for name, cells in overall.items() if cells[primary]["mean"] is not None
    ]
    if plottable:
        per_model = pl.DataFrame(
            [
                {"model": name, **{k: cell[k] for k in ("mean", "ci_low", "ci_high")}}
                for name, cell in plottable
            ]
        )
        plot = bar_with_ci(per_model, "model", f"{task}: {primary}", out_dir / f"{task}_{primary}.png")
    first_scores = next(iter(frames.values()))
    provenance = {
        "dataset hash": _first(first_scores, "dataset_hash")[:16],
        "prompt hash": _first(first_scores, "prompt_hash")[:16],
        "generation config hash": _first(first_scores, "config_hash"),
    }
    return TaskSection(
        task=task,
        metrics=metrics,
        table=pl.DataFrame(rows),
        comparisons=pl.DataFrame(comparisons) if comparisons else pl.DataFrame(),
        notes=notes,
        provenance=provenance,
        failed=failed,
        best=best,
        plot=plot,
    )


def _history(results_root: Path, task_metrics: Mapping[str, Sequence[str]]) -> pl.DataFrame:
    rows = []
    for result in list_results(results_root):
        scores = result.sample_metrics
        metrics = _metrics_of(scores, task_metrics.get(result.task))
        if not metrics or not scores.height:
            continue
        rows.append(
            {
                "task": result.task,
                "model": result.model_name,
                "version": result.package_version,
                "config": config_label(_first(scores, "resolved_config", "{}")),
                "metric": metrics[0],
                "mean": scores[metrics[0]].mean(),
                "n": scores.height,
            }
        )
    if not rows:
        return pl.DataFrame(schema={"task": pl.String, "model": pl.String, "version": pl.String})
    return pl.DataFrame(rows).sort(["task", "model", "version", "config"])


def compute_leaderboard(
    results_root: Path,
    out_dir: Path,
    task_metrics: Mapping[str, Sequence[str]] | None = None,
    dataset_record: Callable[[str], Mapping | None] | None = None,
) -> Leaderboard:
    """The leaderboard of the latest result of every (task, model); plots are written to `out_dir`.
    `dataset_record(task)` gives the task's current dataset record (its checks and quarantine)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    task_metrics = task_metrics or {}
    by_task: dict[str, list[ArchivedResult]] = {}
    for result in latest_results(results_root):
        by_task.setdefault(result.task, []).append(result)
    sections = [
        section
        for task, results in by_task.items()
        if (
            section := _section(
                task,
                results,
                task_metrics.get(task),
                dataset_record(task) if dataset_record else None,
                out_dir,
            )
        )
    ]
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Leaderboard(sections, _history(results_root, task_metrics), generated)


def write_leaderboard(board: Leaderboard, out_dir: Path) -> Leaderboard:
    """Writes leaderboard.md, leaderboard.html and leaderboard.json into `out_dir`."""
    from vlm_pipelines.reports.task_report import package_versions

    context = {"board": board, "versions": package_versions()}
    board.markdown_path = out_dir / "leaderboard.md"
    board.html_path = out_dir / "leaderboard.html"
    board.json_path = out_dir / JSON_NAME
    board.markdown_path.write_text(render("leaderboard.md.j2", **context), encoding="utf-8")
    board.html_path.write_text(render("leaderboard.html.j2", **context), encoding="utf-8")
    board.json_path.write_text(json.dumps(board.to_json(), indent=2, ensure_ascii=False, default=str))
    return board


def build_leaderboard(
    results_root: Path,
    out_dir: Path,
    task_metrics: Mapping[str, Sequence[str]] | None = None,
    dataset_record: Callable[[str], Mapping | None] | None = None,
) -> Leaderboard:
    return write_leaderboard(
        compute_leaderboard(results_root, out_dir, task_metrics, dataset_record), out_dir
    )
