"""Evaluation assets: dataset (per task), predictions, sample_metrics and task_report (model x task).

Each asset says what it produces from what; `vlm_pipelines.evaluation` does the work.
"""

import warnings
from collections.abc import Mapping

import dagster as dg

from vlm_pipelines import settings
from vlm_pipelines.defs.evaluation import metadata
from vlm_pipelines.defs.evaluation.availability import unrunnable_models, unrunnable_note
from vlm_pipelines.defs.evaluation.checks import (
    DATASET_CHECKS,
    PREDICTION_CHECKS,
    SCORE_CHECKS,
    check_from_problems,
)
from vlm_pipelines.defs.evaluation.versions import MODEL_DEFINITION, TASK_DEFINITION, build_definition_sources
from vlm_pipelines.defs.partitions import evaluation_partitions, task_partitions
from vlm_pipelines.defs.resources import EvaluationSettings
from vlm_pipelines.evaluation.records import PredictionManifest, ResultRecord
from vlm_pipelines.model_registry import EvaluatedModel

GROUP = "evaluation"
# What changes with a task or a model is versioned per partition (`versions.py`); this one changes only when
# the evaluation core answers differently for every partition.
PREDICTIONS_CODE_VERSION = "core-1"


def versioned_output(value, version: str, output_metadata: Mapping) -> dg.Output:
    """An output with its data version. `Output(data_version=...)` is beta in Dagster 1.13 and warned on
    every evaluation, twice, on the user's console; the parameter is what versioned outputs are made with."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(value, data_version=dg.DataVersion(version), metadata=dict(output_metadata))


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

        task = tasks[context.partition_key]
        paths = evaluation.paths()
        try:
            result, record, checks = prepare_dataset(task, paths, evaluation.max_quarantine_share)
        except DatasetError as error:
            raise dg.Failure(description=str(error)) from None
        path = str(paths.dataset(task.name) / "samples.parquet")
        yield dg.MaterializeResult(
            asset_key="dataset",
            data_version=dg.DataVersion(record.hash[:16]),
            metadata=metadata.dataset_metadata(record, result.samples, path),
        )
        yield dg.MaterializeResult(
            asset_key="dataset_quarantine", metadata=metadata.quarantine_metadata(record, result.quarantine)
        )
        for check in checks:
            yield dg.AssetCheckResult(
                check_name=check.name,
                asset_key="dataset",
                passed=check.passed,
                severity=dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN,
                description=check.summary,
                metadata=metadata.check_metadata(check.summary, check.metadata),
            )

    @dg.asset(
        partitions_def=by_model_and_task,
        deps=["dataset", TASK_DEFINITION, MODEL_DEFINITION],
        group_name=GROUP,
        code_version=PREDICTIONS_CODE_VERSION,
        pool="accelerator",
        check_specs=PREDICTION_CHECKS,
        io_manager_key="records",
        description="Model answers, resumable batch by batch; failures are kept with their error. Its value "
        "is the PredictionManifest: the key, the sample set and every run's speed."
        # Where the definitions load is where the embedded default runs them; a deployment places runs elsewhere.
        + ("" if settings.split_inference() else unrunnable_note(unrunnable_models(models))),
    )
    def predictions(context: dg.AssetExecutionContext, evaluation: EvaluationSettings):
        from vlm_pipelines.defs.evaluation.tag_environment import predict_in_tag_environment, release_of_run
        from vlm_pipelines.evaluation import DatasetError, ModelNotRunnableError, predict
        from vlm_pipelines.inference import speed_summary
        from vlm_pipelines.schemas import PredictionSchema, schema_problems

        entry, task = entry_and_task(context)
        paths = evaluation.paths()
        options = {
            "max_samples": evaluation.max_samples,
            "batch_size": evaluation.batch_size,
            "run_id": context.run.run_id,
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
        run, manifest = predicted.run, predicted.manifest
        frame = run.predictions
        expected = list(manifest.sample_set.sample_ids)
        missing = sorted(set(expected) - set(frame["sample_id"].to_list()))
        latency = speed_summary(frame)
        context.log.info(
            f"{entry.name} on {task.name}: {run.computed} computed, {run.reused} reused, "
            f"{manifest.failures} failed; {predicted.figures.describe()}"
        )
        path = str(paths.predictions(entry.name, task.name))
        yield versioned_output(
            manifest,
            manifest.manifest_id,
            {
                **metadata.predictions_metadata(manifest, predicted.figures, latency, frame, path),
                **release_metadata,
            },
        )
        yield check_from_problems("schema", "predictions", schema_problems(frame, PredictionSchema))
        yield dg.AssetCheckResult(
            check_name="coverage",
            asset_key="predictions",
            passed=not missing and frame.height == len(expected),
            metadata={"sample_set": len(expected), "predictions": frame.height, "missing": len(missing)},
        )

    @dg.asset(
        partitions_def=by_model_and_task,
        deps=["dataset"],
        group_name=GROUP,
        check_specs=SCORE_CHECKS,
        io_manager_key="records",
        description="Per-sample scores after post-processing, with provenance columns, archived under the "
        "result's own key. Its value is the ResultRecord.",
    )
    def sample_metrics(
        context: dg.AssetExecutionContext, evaluation: EvaluationSettings, predictions: PredictionManifest
    ):
        from vlm_pipelines.aggregate import group_scores
        from vlm_pipelines.evaluation import DatasetError, score
        from vlm_pipelines.schemas import ScoreSchema, schema_problems

        _, task = entry_and_task(context)
        try:
            record, scores = score(task, predictions, evaluation.paths())
        except DatasetError as error:
            raise dg.Failure(description=str(error)) from None
        overall = group_scores(scores, record.metrics, by=[])
        yield versioned_output(record, record.result_id, metadata.result_metadata(record, overall))
        yield check_from_problems("schema", "sample_metrics", schema_problems(scores, ScoreSchema))

    @dg.asset(
        partitions_def=by_model_and_task,
        group_name=GROUP,
        description="Tables with bootstrap CIs, plots and every imperfect sample, as Markdown and one self-contained HTML file.",
    )
    def task_report(
        context: dg.AssetExecutionContext, evaluation: EvaluationSettings, sample_metrics: ResultRecord
    ) -> dg.MaterializeResult:
        from vlm_pipelines import tracking
        from vlm_pipelines.evaluation import result_of
        from vlm_pipelines.reports.task_report import png_data_uri, report_result

        _, task = entry_and_task(context)
        paths = evaluation.paths()
        report = report_result(sample_metrics, task, paths, more_run_ids=[context.run.run_id])
        tracking.log_result(sample_metrics, result_of(sample_metrics, paths).folder, report.html_path.parent)
        return dg.MaterializeResult(metadata=metadata.report_metadata(report, png_data_uri))

    return [*build_definition_sources(models, tasks), dataset, predictions, sample_metrics, task_report]
