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


def leaderboard_metadata(board, png_data_uri) -> dict:
    from vlm_pipelines.reports.tables import markdown_table

    return {
        "leaderboard": dg.MetadataValue.md(board.console_text()),
        "history": dg.MetadataValue.md(markdown_table(board.history)),
        "plots": dg.MetadataValue.md("\n\n".join(f"![{p.stem}]({png_data_uri(p)})" for p in board.plots)),
        "html": dg.MetadataValue.path(str(board.html_path)),
        "entries": sum(section.table.height for section in board.sections),
        "json": dg.MetadataValue.path(str(board.json_path)),
    }
