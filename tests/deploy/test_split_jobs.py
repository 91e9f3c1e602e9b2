"""A deployment's split of `evaluate`: the `inference` run (GPU) materializes predictions, and the
`score_after_inference` sensor then asks for the `scoring` run (CPU) of the same partition."""

from __future__ import annotations

import dagster as dg

from tests.deploy.ocr_demo import ocr_demo


def test_a_successful_inference_run_is_scored_by_its_own_cpu_run(project_env) -> None:
    demo = ocr_demo(max_samples=2)
    defs, partition = demo.defs, demo.partition
    with dg.DagsterInstance.get() as instance:
        demo.prepare_dataset(instance)
        inference = defs.resolve_job_def("inference").execute_in_process(
            partition_key=partition, instance=instance
        )
        assert inference.success
        assert {e.asset_key.path[-1] for e in inference.get_asset_materialization_events()} == {"predictions"}
        run = instance.get_run_by_id(inference.run_id)
        success = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS).records[0]
        sensor = defs.resolve_sensor_def("score_after_inference")
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=success.event_log_entry.dagster_event,
        )
        request = sensor(context)
        assert request.run_key == f"score:{run.run_id}" and str(request.partition_key) == str(partition)
        scoring = defs.resolve_job_def("scoring").execute_in_process(
            partition_key=request.partition_key, instance=instance, tags=request.tags
        )
        assert scoring.success
        assert {e.asset_key.path[-1] for e in scoring.get_asset_materialization_events()} == {
            "sample_metrics",
            "task_report",
        }
