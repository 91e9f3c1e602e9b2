"""Evaluation assets: dataset (per task), predictions, sample_metrics and task_report (model x task).

Each asset says what it produces from what; `vlm_pipelines.evaluation` does the work.
"""

import hashlib
from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.evaluation.checks import (
    DATASET_CHECKS,
    PREDICTION_CHECKS,
    SCORE_CHECKS,
    check_from_problems,
)
from vlm_pipelines.defs.partitions import evaluation_partitions, task_partitions
from vlm_pipelines.defs.resources import EvaluationSettings
from vlm_pipelines.identity import predictions_code_version
from vlm_pipelines.model_registry import EvaluatedModel

GROUP = "evaluation"


def build_evaluation_assets(models: Mapping[str, EvaluatedModel], tasks: Mapping) -> list:
    """The assets of every model x task partition. A factory over the registries: the partitions, the
    code version and each asset's inputs are the registries' entries, known only once the YAML is read."""
    by_task = task_partitions(tasks)
    by_model_and_task = evaluation_partitions(models, tasks)

    def entry_and_task(context: dg.AssetExecutionContext):
        keys = context.partition_key.keys_by_dimension
        return models[keys["model"]], tasks[keys["task"]]

    @dg.multi_asset(
        specs=[
            dg.AssetSpec("dataset", description="The normalized, validated sample table of a task."),
            dg.AssetSpec("dataset_quarantine", description="Rows the reader refused, with the reason."),
        ],
        partitions_def=by_task,
        group_name=GROUP,
        can_subset=False,
        check_specs=DATASET_CHECKS,
    )
    def dataset(context: dg.AssetExecutionContext, evaluation: EvaluationSettings):
        from vlm_pipelines.evaluation import DatasetError, prepare_dataset
        from vlm_pipelines.reports.tables import markdown_table

        task = tasks[context.partition_key]
        paths = evaluation.paths()
        try:
            result, checks = prepare_dataset(
                task, paths, evaluation.max_samples, evaluation.max_quarantine_share
            )
        except DatasetError as error:
            raise dg.Failure(description=str(error)) from None
        samples, quarantine = result.samples, result.quarantine
        reasons = result.quarantine_reasons()
        reasons_table = dg.MetadataValue.md(
            "\n".join(
                ["| reason | rows |", "| :--- | ---: |", *(f"| {r} | {n} |" for r, n in reasons.items())]
            )
            if reasons
            else "none"
        )
        yield dg.MaterializeResult(
            asset_key="dataset",
            data_version=dg.DataVersion(result.dataset_hash[:16]),
            metadata={
                "rows": samples.height,
                "records read": result.records,
                "quarantined": quarantine.height,
                "quarantine reasons": reasons_table,
                "encoding": result.encoding or "binary",
                "doc_types": ", ".join(sorted(set(samples["doc_type"].to_list()))),
                "fields": ", ".join(sorted(set(samples["field_name"].to_list()))),
                "dataset_hash": result.dataset_hash,
                "format": result.format,
                "source": str(result.source),
                "path": dg.MetadataValue.path(str(paths.dataset(task.name) / "samples.parquet")),
                "preview": dg.MetadataValue.md(
                    markdown_table(
                        samples.select("sample_id", "doc_type", "field_name", "question", "answers").head(10)
                    )
                ),
            },
        )
        yield dg.MaterializeResult(
            asset_key="dataset_quarantine",
            metadata={
                "rows": quarantine.height,
                "share": quarantine.height / max(result.records, 1),
                "reasons": reasons_table,
                "preview": dg.MetadataValue.md(
                    markdown_table(quarantine.select("source_row", "reason").head(20))
                )
                if quarantine.height
                else "none",
            },
        )
        for check in checks:
            yield dg.AssetCheckResult(
                check_name=check.name,
                asset_key="dataset",
                passed=check.passed,
                description=check.summary,
                metadata={
                    "summary": check.summary,
                    **{
                        key: value
                        if not isinstance(value, list)
                        else dg.MetadataValue.md("\n".join(f"- {item}" for item in value) or "none")
                        for key, value in check.metadata.items()
                    },
                },
            )

    @dg.asset(
        partitions_def=by_model_and_task,
        deps=["dataset"],
        group_name=GROUP,
        code_version=predictions_code_version(models, tasks),
        pool="accelerator",
        check_specs=PREDICTION_CHECKS,
        description="Model answers, resumable batch by batch; failures are kept with their error.",
    )
    def predictions(context: dg.AssetExecutionContext, evaluation: EvaluationSettings):
        import polars as pl

        from vlm_pipelines.defs.evaluation.tag_environment import predict_in_tag_environment, release_of_run
        from vlm_pipelines.evaluation import DatasetError, ModelNotRunnableError, load_dataset, predict
        from vlm_pipelines.inference import speed_summary
        from vlm_pipelines.schemas import PredictionSchema, schema_problems

        entry, task = entry_and_task(context)
        paths = evaluation.paths()
        options = {
            "batch_size": evaluation.batch_size,
            "on_progress": lambda progress: context.log.info(
                f"{entry.name} on {task.name}: {progress.describe()}"
            ),
        }
        release, release_metadata = release_of_run(context), {}
        try:
            if release is None:
                predicted = predict(entry, task, paths, **options)
            else:  # a release-tag run: exactly that release's code, in its own environment
                predicted, release_metadata = predict_in_tag_environment(
                    context, entry, task, paths, release, **options
                )
        except (DatasetError, ModelNotRunnableError) as error:
            raise dg.Failure(description=str(error)) from None
        run, key = predicted.run, predicted.key
        frame = run.predictions
        expected = load_dataset(task, paths)["sample_id"]
        missing = expected.filter(~expected.is_in(frame["sample_id"].to_list())).to_list()
        speed = speed_summary(frame)
        context.log.info(
            f"{entry.name} on {task.name}: {run.computed} computed, {run.reused} reused, "
            f"{int(speed['failures'])} failed; {predicted.speed.describe()}"
        )
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(
                hashlib.sha256(str(sorted(key.as_dict().items())).encode()).hexdigest()[:16]
            ),
            metadata={
                **{name: float(value) for name, value in speed.items()},
                **{f"run_{name}": value for name, value in predicted.speed.as_dict().items()},
                "reused": run.reused,
                **key.as_dict(),
                "resolved": predicted.resolution.summary() or "nothing to resolve",
                "limitations": " | ".join(predicted.resolution.limitations) or "none",
                "generation": dg.MetadataValue.json(predicted.config.model_dump(mode="json")),
                **release_metadata,
                "path": dg.MetadataValue.path(str(paths.predictions(entry.name, task.name))),
                "failures_preview": dg.MetadataValue.md(
                    "\n".join(
                        f"- `{row['sample_id']}`: {row['error'].splitlines()[-1][:200]}"
                        for row in frame.filter(pl.col("error").is_not_null()).head(10).iter_rows(named=True)
                    )
                    or "none"
                ),
            },
        )
        yield check_from_problems("schema", "predictions", schema_problems(frame, PredictionSchema))
        yield dg.AssetCheckResult(
            check_name="coverage",
            asset_key="predictions",
            passed=not missing and frame.height == expected.len(),
            metadata={"dataset_rows": expected.len(), "predictions": frame.height, "missing": len(missing)},
        )

    @dg.asset(
        partitions_def=by_model_and_task,
        deps=["dataset", "predictions"],
        group_name=GROUP,
        check_specs=SCORE_CHECKS,
        description="Per-sample scores after post-processing, with provenance columns.",
    )
    def sample_metrics(context: dg.AssetExecutionContext, evaluation: EvaluationSettings):
        from vlm_pipelines.aggregate import group_scores
        from vlm_pipelines.evaluation import score
        from vlm_pipelines.reports.tables import markdown_table
        from vlm_pipelines.schemas import ScoreSchema, schema_problems

        entry, task = entry_and_task(context)
        scores = score(entry, task, evaluation.paths())
        overall = group_scores(scores, list(task.metrics), by=[])
        means = {f"mean_{row['metric']}": float(row["mean"]) for row in overall.iter_rows(named=True)}
        first = scores.row(0, named=True) if scores.height else {}
        yield dg.MaterializeResult(
            metadata={
                **means,
                "samples": scores.height,
                "failed": int(scores["failed"].sum()),
                "overall": dg.MetadataValue.md(markdown_table(overall)),
                **{
                    k: str(first.get(k, ""))
                    for k in ("package_version", "dataset_hash", "prompt_hash", "config_hash")
                },
            }
        )
        yield check_from_problems("schema", "sample_metrics", schema_problems(scores, ScoreSchema))

    @dg.asset(
        partitions_def=by_model_and_task,
        deps=["sample_metrics"],
        group_name=GROUP,
        description="Tables with bootstrap CIs, plots and the worst samples, as Markdown and HTML.",
    )
    def task_report(
        context: dg.AssetExecutionContext, evaluation: EvaluationSettings
    ) -> dg.MaterializeResult:
        from vlm_pipelines.evaluation import dataset_record, load_scores, result_notes
        from vlm_pipelines.reports.tables import markdown_table
        from vlm_pipelines.reports.task_report import build_task_report, png_data_uri
        from vlm_pipelines.results import latest_results

        entry, task = entry_and_task(context)
        paths = evaluation.paths()
        scores = load_scores(entry, task, paths)
        speed = next(
            (
                r.speed
                for r in latest_results(paths.results)
                if r.task == task.name and r.model_name == entry.name
            ),
            None,
        )
        report = build_task_report(
            scores,
            task=task.name,
            model_name=entry.name,
            metrics=list(task.metrics),
            group_by=list(task.group_by),
            out_dir=paths.report(entry.name, task.name),
            speed=speed,
            notes=result_notes(scores, dataset_record(task.name, paths)),
            answer_type=task.answer_type,
        )
        metadata = {name: dg.MetadataValue.md(markdown_table(table)) for name, table in report.tables.items()}
        metadata["summary"] = report.summary
        metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {note}" for note in report.notes) or "none")
        metadata["plots"] = dg.MetadataValue.md(
            "\n\n".join(f"![{plot.stem}]({png_data_uri(plot)})" for plot in report.plots.values())
        )
        metadata["worst samples"] = dg.MetadataValue.md(markdown_table(report.worst))
        metadata["html"] = dg.MetadataValue.path(str(report.html_path))
        metadata["markdown"] = dg.MetadataValue.path(str(report.markdown_path))
        return dg.MaterializeResult(metadata=metadata)

    return [dataset, predictions, sample_metrics, task_report]
