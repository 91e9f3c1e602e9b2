"""Scheduled re-evaluation (off by default)."""

from collections.abc import Mapping

import dagster as dg

from vlm_pipelines.defs.partitions import evaluation_partition_key


def build_reevaluation_schedule(evaluation_job, models: Mapping, tasks: Mapping) -> dg.ScheduleDefinition:
    """A factory over the registries: its run requests are their model x task partitions."""

    @dg.schedule(
        job=evaluation_job,
        cron_schedule="0 3 * * 0",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Re-evaluates every model x task partition weekly (off by default).",
    )
    def weekly_reevaluation(context: dg.ScheduleEvaluationContext):
        stamp = context.scheduled_execution_time.isoformat()
        for model_name in sorted(models):
            for task_name in sorted(tasks):
                yield dg.RunRequest(
                    run_key=f"{stamp}:{model_name}|{task_name}",
                    partition_key=evaluation_partition_key(model_name, task_name),
                )

    return weekly_reevaluation
