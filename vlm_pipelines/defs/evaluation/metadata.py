"""The one place where the evaluation's records become Dagster metadata (tables, counts, paths).

Each materialization also carries the id of the record it made (`RECORD_ID_KEYS`): the runner hands those ids
to the CLI, which reads the records themselves, never the metadata's text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from vlm_pipelines.evaluation.records import DatasetRecord, PredictionManifest, ResultRecord, RunFigures

if TYPE_CHECKING:
    import polars as pl

DATASET_TASK = "task"
MANIFEST_ID = "manifest_id"
RESULT_ID = "result_id"
RECORD_ID_KEYS = {"dataset": DATASET_TASK, "predictions": MANIFEST_ID, "sample_metrics": RESULT_ID}


def _reasons_table(reasons: dict[str, int]) -> dg.MetadataValue:
    if not reasons:
        return dg.MetadataValue.md("none")
    rows = ["| reason | rows |", "| :--- | ---: |", *(f"| {r} | {n} |" for r, n in reasons.items())]
    return dg.MetadataValue.md("\n".join(rows))


def _optional(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def dataset_metadata(record: DatasetRecord, samples: pl.DataFrame, path: str) -> dict:
    from vlm_pipelines.reports.tables import markdown_table

    return {
        DATASET_TASK: record.task,
        "rows": record.rows,
        "records read": record.records,
        "quarantined": record.quarantined,
        "quarantine reasons": _reasons_table(record.quarantine_reasons),
        "encoding": record.encoding or "binary",
        "encoding confidence": _optional(record.encoding_confidence),
        "skipped empty rows": record.skipped_rows,
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in record.warnings) or "none"),
        "doc_types": ", ".join(sorted(set(samples["doc_type"].to_list()))),
        "fields": ", ".join(sorted(set(samples["field_name"].to_list()))),
        "dataset_hash": record.hash,
        "format": record.format,
        "source": record.source,
        "path": dg.MetadataValue.path(path),
        "preview": dg.MetadataValue.md(
            markdown_table(
                samples.select("sample_id", "doc_type", "field_name", "question", "answers").head(10)
            )
        ),
    }


def quarantine_metadata(record: DatasetRecord, quarantine: pl.DataFrame) -> dict:
    from vlm_pipelines.reports.tables import markdown_table

    return {
        "rows": record.quarantined,
        "share": record.quarantined / max(record.records, 1),
        "reasons": _reasons_table(record.quarantine_reasons),
        "preview": dg.MetadataValue.md(markdown_table(quarantine.select("source_row", "reason").head(20)))
        if quarantine.height
        else "none",
    }


def check_metadata(summary: str, values: dict) -> dict:
    return {
        "summary": summary,
        **{
            key: dg.MetadataValue.md("\n".join(f"- {item}" for item in value) or "none")
            if isinstance(value, list)
            else value
            for key, value in values.items()
        },
    }


def _run_figures(figures: RunFigures) -> dict:
    return {
        "run_computed": figures.computed,
        "run_reused": figures.reused,
        "run_load_s": figures.load_s,
        "run_load_wait_s": figures.load_wait_s,
        "run_generate_s": figures.generate_s,
        "run_wall_s": figures.wall_s,
        "run_samples_per_s": figures.samples_per_s,
        "run_end_to_end_samples_per_s": figures.end_to_end_samples_per_s,
    }


def predictions_metadata(
    manifest: PredictionManifest,
    figures: RunFigures,
    latency: dict[str, float],
    frame: pl.DataFrame,
    path: str,
) -> dict:
    import polars as pl

    failed = frame.filter(pl.col("error").is_not_null()).head(10)
    return {
        MANIFEST_ID: manifest.manifest_id,
        **{name: float(value) for name, value in latency.items()},
        **_run_figures(figures),
        **manifest.key.as_dict(),
        "sample_set": dg.MetadataValue.md(manifest.sample_set.label),
        "resolved": ", ".join(f"{k} {v}" for k, v in manifest.model.resolved.items()) or "nothing to resolve",
        "limitations": dg.MetadataValue.md("\n".join(f"- {t}" for t in manifest.model.limitations) or "none"),
        "package_versions": dg.MetadataValue.json(manifest.model.package_versions),
        "generation": dg.MetadataValue.json(manifest.generation),
        "path": dg.MetadataValue.path(path),
        "failures_preview": dg.MetadataValue.md(
            "\n".join(
                f"- `{row['sample_id']}`: {row['error'].splitlines()[-1][:200]}"
                for row in failed.iter_rows(named=True)
            )
            or "none"
        ),
    }


def result_metadata(record: ResultRecord, overall: pl.DataFrame) -> dict:
    from vlm_pipelines.reports.tables import markdown_table

    return {
        RESULT_ID: record.result_id,
        **{f"mean_{metric}": _optional(mean) for metric, mean in record.means.items()},
        "samples": record.n,
        "failed": record.failed,
        "sample_set": dg.MetadataValue.md(record.sample_set.label),
        "overall": dg.MetadataValue.md(markdown_table(overall)),
        "package_version": record.key.package_version,
        "dataset_hash": record.sample_set.dataset_hash,
        "prompt_hash": record.key.prompt_hash,
        "config_hash": record.key.config_hash,
    }


def report_metadata(report, png_data_uri) -> dict:
    from vlm_pipelines.reports.tables import markdown_table

    metadata = {name: dg.MetadataValue.md(markdown_table(table)) for name, table in report.tables.items()}
    metadata["summary"] = report.summary
    metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {note}" for note in report.notes) or "none")
    metadata["plots"] = dg.MetadataValue.md(
        "\n\n".join(f"![{plot.stem}]({png_data_uri(plot)})" for plot in report.plots.values())
    )
    metadata["worst samples"] = dg.MetadataValue.md(markdown_table(report.worst))
    metadata["html"] = dg.MetadataValue.path(str(report.html_path))
    metadata["markdown"] = dg.MetadataValue.path(str(report.markdown_path))
    return metadata


def _main_scores(board) -> list[dict]:
    """Each ranked result's main metric on each task (the section's numeric `scores`): task, model, metric,
    mean, ci_low, ci_high, n, and whether it is the task's best."""
    return [
        {"task": section.task, "model": score["model"], "metric": score["metric"]}
        | {name: score[name] for name in ("mean", "ci_low", "ci_high", "n")}
        | {"best": score["model"] == section.best}
        for section in board.sections
        if section.metrics and not section.scores.is_empty()
        for score in section.scores.to_dicts()
        if score["metric"] == section.metrics[0]
    ]


def _score_cell(score: dict) -> str:
    if score["mean"] is None:
        return f"n/a (n={score['n']})"
    mean = f"**{score['mean']:.3f}**" if score["best"] else f"{score['mean']:.3f}"
    interval = f" [{score['ci_low']:.3f}, {score['ci_high']:.3f}]" if score["ci_low"] is not None else ""
    return f"{mean}{interval} n={score['n']}"


def score_grid(board) -> str:
    """Models x tasks: each task's main metric, mean [95% CI] and n; the task's best in bold; '-' where a
    model has no ranked result."""
    scores = _main_scores(board)
    tasks = [section for section in board.sections if section.metrics or section.failed]
    if not scores or not tasks:
        return "no results yet"
    cells = {(score["model"], score["task"]): _score_cell(score) for score in scores}
    headers = [
        f"{section.task} ({section.metrics[0] if section.metrics else 'no metric'}"
        f"{', not ranked: dataset failed' if section.failed else ''})"
        for section in tasks
    ]
    lines = ["| model | " + " | ".join(headers) + " |", "| :--- |" + " ---: |" * len(tasks)]
    for model in sorted({score["model"] for score in scores}):
        row = [cells.get((model, section.task), "-") for section in tasks]
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def _scores_table(board) -> dg.MetadataValue:
    columns = [
        dg.TableColumn("task", "string"),
        dg.TableColumn("model", "string"),
        dg.TableColumn("metric", "string"),
        dg.TableColumn("mean", "float"),
        dg.TableColumn("ci_low", "float"),
        dg.TableColumn("ci_high", "float"),
        dg.TableColumn("n", "int"),
        dg.TableColumn("best", "bool"),
    ]
    records = [
        dg.TableRecord({key: value for key, value in score.items() if value is not None})
        for score in _main_scores(board)
    ]
    return dg.MetadataValue.table(records, schema=dg.TableSchema(columns))


def leaderboard_metadata(board, png_data_uri) -> dict:
    from vlm_pipelines.reports.tables import markdown_table

    return {
        "scores": dg.MetadataValue.md(score_grid(board)),
        "scores table": _scores_table(board),
        "leaderboard": dg.MetadataValue.md(board.console_text()),
        "history": dg.MetadataValue.md(markdown_table(board.history)),
        "plots": dg.MetadataValue.md("\n\n".join(f"![{p.stem}]({png_data_uri(p)})" for p in board.plots)),
        "html": dg.MetadataValue.path(str(board.html_path)),
        "entries": sum(section.table.height for section in board.sections),
        "json": dg.MetadataValue.path(str(board.json_path)),
    }
