"""The cross-model leaderboard: per task, every model's quality with bootstrap CIs, its parse rate, the
configuration its `auto` settings resolved to, three speed figures, and the paired comparison with the
best model; plus the history across package versions.

`compute_leaderboard` builds the tables (polars; each model is bootstrapped once); `write_leaderboard`
renders them with the Markdown and HTML templates (the HTML self-contained: plots embedded) and writes
`leaderboard.json`, which the CLI prints: each section's `scores` hold every ranked result's mean, ci_low,
ci_high and n per metric as numbers.
A task whose current dataset failed a blocking check is shown as failed, with the numbers, and not ranked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from vlm_pipelines.aggregate import compare_with_best, group_scores
from vlm_pipelines.evaluation.archive import ArchivedResult, list_results, newest_by_key
from vlm_pipelines.evaluation.records import DatasetRecord
from vlm_pipelines.metrics import get_metric, list_metrics
from vlm_pipelines.reports.plots import bar_with_ci
from vlm_pipelines.reports.tables import markdown_table, render

JSON_NAME = "leaderboard.json"
SCORES_SCHEMA = {
    "model": pl.String,
    "result": pl.String,
    "metric": pl.String,
    "mean": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n": pl.Int64,
}


def config_label(settings: Mapping[str, str]) -> str:
    """A short name for what a result's `auto` settings resolved to: 'tesseract 5.3.0', 'cpu float32'."""
    parts = []
    if "ocr_engine" in settings:
        parts.append(f"{settings['ocr_engine']} {settings.get('ocr_engine_version', '')}".strip())
    for prefix in ("", "reader_"):
        if f"{prefix}device" in settings:
            parts.append(f"{settings[f'{prefix}device']} {settings.get(f'{prefix}dtype', '')}".strip())
    if "vllm" in settings:
        parts.append(f"vllm {settings['vllm']}")
    return " + ".join(parts)


SCORE_FIELDS = ("mean", "ci_low", "ci_high", "n")  # each ranked result's figures per metric, as numbers


def display_rows(
    rows: Sequence[Mapping], metrics: Sequence[str], scores: Sequence[Mapping] = ()
) -> pl.DataFrame:
    """Leaderboard rows for people: each metric as 'mean [CI low, CI high]', the interval taken from the
    section's numeric `scores` (what leaderboard.json keeps)."""
    intervals = {(score["result"], score["metric"]): score for score in scores}
    shown = []
    for row in rows:
        row = dict(row)
        for metric in metrics:
            mean, cell = row.get(metric), intervals.get((row.get("result"), metric))
            if mean is None:
                row[metric] = "n/a"
            elif cell and cell["ci_low"] is not None:
                row[metric] = f"{mean:.3f} [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]"
        shown.append(row)
    return pl.DataFrame(shown) if shown else pl.DataFrame()


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
    # one row per ranked result and metric: model, result, metric, mean, ci_low, ci_high, n (numbers)
    scores: pl.DataFrame = field(default_factory=pl.DataFrame)
    others: pl.DataFrame = field(default_factory=pl.DataFrame)  # other keys and sample sets, not ranked
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)
    failed: str = ""  # the dataset's failed blocking check, with its numbers
    best: str = ""
    plot: Path | None = None
    explorer: Path | None = None  # the task's sample explorer (explorer.py), beside its reports

    @property
    def display_table(self) -> pl.DataFrame:
        return display_rows(self.table.to_dicts(), self.metrics, self.scores.to_dicts())


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
                    "explorer": str(section.explorer) if section.explorer else None,
                    "failed": section.failed,
                    "notes": section.notes,
                    "provenance": section.provenance,
                    "rows": section.table.to_dicts(),
                    "scores": section.scores.to_dicts(),
                    "comparisons": section.comparisons.to_dicts(),
                    "others": section.others.to_dicts(),
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
            shown = display_rows(section["rows"], section["metrics"], section.get("scores", ()))
            lines.append(markdown_table(shown).rstrip())
        if section["comparisons"]:
            lines += [
                "",
                "Paired comparison with the best model (bootstrap 95% CI of the difference; verdict: sign-flip test, Holm-corrected over all model pairs):",
            ]
            lines.append(markdown_table(pl.DataFrame(section["comparisons"])).rstrip())
        if section.get("others"):
            lines += ["", "Not ranked here (older keys, other sample sets; the newest result of each key):"]
            lines.append(markdown_table(pl.DataFrame(section["others"])).rstrip())
        lines += [f"- {note}" for note in section["notes"]]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _reference_set(current: list[ArchivedResult]) -> str:
    """The sample set the task's models are ranked on: the one most models' newest results share (then the
    larger, then the newer)."""
    counts: dict[str, list[ArchivedResult]] = {}
    for result in current:
        counts.setdefault(result.record.sample_set.key, []).append(result)
    return max(
        counts,
        key=lambda key: (
            len(counts[key]),
            counts[key][0].record.n,
            max(r.record.created_ns for r in counts[key]),
        ),
    )


def _speed_cells(result: ArchivedResult) -> dict:
    speed = result.record.speed
    return {
        "model load s": speed.load_s,
        "samples/s": speed.samples_per_s,
        "end-to-end samples/s": speed.end_to_end_samples_per_s,
        "p50 latency s": speed.latency_p50_s,
        "peak MB": speed.peak_memory_mb,
    }


def _section(
    task: str,
    results: list[ArchivedResult],
    task_metrics: Sequence[str] | None,
    record: DatasetRecord | None,
    out_dir: Path,
) -> TaskSection | None:
    """Ranks each model's newest result on the task's reference sample set; the newest result of every
    other key (older versions, other settings, other sample sets) is listed apart, with its n."""
    failed = record.problem if record else ""
    if not results:
        return TaskSection(task, [], pl.DataFrame(), pl.DataFrame(), failed=failed) if failed else None
    newest_per_model: dict[str, ArchivedResult] = {}
    for result in results:  # oldest first: the last one wins
        newest_per_model[result.model_name] = result
    reference = _reference_set(list(newest_per_model.values()))
    ranked_results = [r for r in newest_per_model.values() if r.record.sample_set.key == reference]
    ranked_ids = {r.record.result_id for r in ranked_results}
    others = [r for r in reversed(results) if r.record.result_id not in ranked_ids]

    frames = {result.model_name: result.sample_metrics for result in ranked_results}
    metrics = _metrics_of(next(iter(frames.values())), task_metrics)
    if not metrics:
        return None
    primary = metrics[0]
    higher_is_better = get_metric(primary).higher_is_better
    overall = {  # one bootstrap per model and metric
        name: {row["metric"]: row for row in group_scores(scores, metrics, by=[]).iter_rows(named=True)}
        for name, scores in frames.items()
    }
    ranked = {
        name: cells[primary]["mean"] for name, cells in overall.items() if cells[primary]["mean"] is not None
    }
    best = ""
    if ranked and not failed:
        best = (max if higher_is_better else min)(ranked, key=lambda name: ranked[name])

    comparisons = []
    if best:  # the best against each other model; Holm across every pair of ranked models
        scored = {name: frame for name, frame in frames.items() if name in ranked}
        for diff in compare_with_best(scored, best, primary, higher_is_better=higher_is_better):
            correction = f", Holm over {diff.family} model pairs" if diff.family > 1 else ""
            comparisons.append(
                {
                    "best": best,
                    "other": diff.name_b,
                    "metric": primary,
                    "diff": diff.diff,
                    "ci_low": diff.ci_low,
                    "ci_high": diff.ci_high,
                    "n": diff.n,
                    "p_value": diff.p_value,
                    "p_holm": diff.p_holm,
                    "method": diff.method + correction,
                    "verdict": diff.verdict,
                }
            )
    versus = {}  # "+0.120 [+0.050, +0.190] p=0.012: ocr-rules better"
    for c in comparisons:
        interval = f"{c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
        versus[c["other"]] = f"{interval} p={c['p_holm']:.2g}: {c['verdict']}"

    rows, notes, score_rows = [], [], []
    for result in ranked_results:
        scores, rec = frames[result.model_name], result.record
        config = config_label(rec.model.resolved)
        row = {
            "model": result.model_name,
            "version": rec.key.package_version,
            "config": config,
            "n": rec.n,
            "dataset": rec.sample_set.dataset_hash[:12],
            "failed": rec.failed,
            "parsed": float(scores["parsed"].mean())
            if "parsed" in scores.columns and scores.height
            else None,
        }
        for metric in metrics:
            cell = overall[result.model_name][metric]
            row[metric] = cell["mean"]
            score_rows.append(
                {"model": result.model_name, "result": rec.result_id, "metric": metric}
                | {name: cell[name] for name in SCORE_FIELDS}
            )
        row |= _speed_cells(result)
        row[f"vs best ({primary})"] = (
            "not ranked"
            if failed
            else "best"
            if result.model_name == best
            else versus.get(result.model_name, "")
        )
        row["result"] = rec.result_id
        rows.append(row)
        for limitation in rec.limitations:
            notes.append(f"{result.model_name} ({config}): {limitation}")
    other_rows = []
    for result in others:
        rec = result.record
        on_reference = rec.sample_set.key == reference
        other_rows.append(
            {
                "model": rec.model_name,
                "version": rec.key.package_version,
                "config": config_label(rec.model.resolved),
                "n": rec.n,
                "dataset": rec.sample_set.dataset_hash[:12],
                primary: rec.means.get(primary),
                "why apart": "an older key of this model"
                if on_reference
                else f"another sample set ({rec.sample_set.selection}): not comparable, not ranked",
                "scored": rec.created,
                "result": rec.result_id,
            }
        )
    if record and record.quarantined:
        notes.append(
            f"dataset: {record.quarantined} of {record.records} rows quarantined ({record.reasons_text()})"
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
    first = ranked_results[0].record
    provenance = {
        "ranked on": first.sample_set.label,
        "sample set": reference,
        "prompt hash": first.key.prompt_hash[:16],
        "generation config hash": first.key.config_hash,
    }
    return TaskSection(
        task=task,
        metrics=metrics,
        table=pl.DataFrame(rows),
        comparisons=pl.DataFrame(comparisons) if comparisons else pl.DataFrame(),
        scores=pl.DataFrame(score_rows, schema=SCORES_SCHEMA),
        others=pl.DataFrame(other_rows) if other_rows else pl.DataFrame(),
        notes=notes,
        provenance=provenance,
        failed=failed,
        best=best,
        plot=plot,
    )


def _history(results: list[ArchivedResult]) -> pl.DataFrame:
    rows = [
        {
            "task": result.task,
            "model": result.model_name,
            "version": result.record.key.package_version,
            "config": config_label(result.record.model.resolved),
            "metric": result.record.metrics[0],
            "mean": result.record.means.get(result.record.metrics[0]),
            "n": result.record.n,
            "dataset": result.record.sample_set.dataset_hash[:12],
            "result": result.record.result_id,
        }
        for result in results
        if result.record.metrics and result.record.n
    ]
    if not rows:
        return pl.DataFrame(schema={"task": pl.String, "model": pl.String, "version": pl.String})
    return pl.DataFrame(rows).sort(["task", "model", "version", "config"])


def compute_leaderboard(
    results: list[ArchivedResult],
    out_dir: Path,
    task_metrics: Mapping[str, Sequence[str]] | None = None,
    dataset_records: Mapping[str, DatasetRecord] | None = None,
) -> Leaderboard:
    """The leaderboard of `results` (the newest of each key); plots are written to `out_dir`. `dataset_records` holds
    each task's current DatasetRecord: a task whose dataset failed a blocking check is a failed section,
    also when it has no result yet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    task_metrics = task_metrics or {}
    dataset_records = dataset_records or {}
    by_task: dict[str, list[ArchivedResult]] = {task: [] for task, r in dataset_records.items() if r.problem}
    for result in results:
        by_task.setdefault(result.task, []).append(result)
    sections = [
        section
        for task, task_results in sorted(by_task.items())
        if (
            section := _section(
                task, task_results, task_metrics.get(task), dataset_records.get(task), out_dir
            )
        )
    ]
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Leaderboard(sections, _history(results), generated)


def write_leaderboard(board: Leaderboard, out_dir: Path) -> Leaderboard:
    """Writes leaderboard.md, leaderboard.html and leaderboard.json into `out_dir`."""
    from vlm_pipelines.reports.task_report import title_block

    context = {"board": board, "header": title_block(generated=board.generated)}
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
    dataset_records: Mapping[str, DatasetRecord] | None = None,
) -> Leaderboard:
    from vlm_pipelines.reports.explorer import write_task_explorer

    results = newest_by_key(list_results(results_root))  # read once, for the board and the explorers
    board = compute_leaderboard(results, out_dir, task_metrics, dataset_records)
    for section in board.sections:
        if section.table.height or section.others.height:
            task_results = [result for result in results if result.task == section.task]
            section.explorer = write_task_explorer(
                task_results, section.task, out_dir.parent / section.task / "explorer.html"
            )
    return write_leaderboard(board, out_dir)


def build_data_folder_leaderboard(paths, task_metrics: Mapping[str, Sequence[str]]) -> Leaderboard:
    """The leaderboard of a data folder (`EvaluationPaths`): every archived result, and the record of every
    prepared dataset (a failed one is a failed section)."""
    from vlm_pipelines.evaluation import dataset_record

    prepared = sorted(path.name for path in (paths.root / "datasets").glob("*") if path.is_dir())
    records = {name: record for name in prepared if (record := dataset_record(name, paths)) is not None}
    return build_leaderboard(paths.results, paths.leaderboard, task_metrics, records)
