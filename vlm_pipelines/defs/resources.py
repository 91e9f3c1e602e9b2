"""Run settings shared by the evaluation assets."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from vlm_pipelines import settings


class EvaluationSettings(dg.ConfigurableResource):
    """Where results go and the knobs a run may change without editing the registries."""

    data_dir: str = ""
    max_samples: int | None = None  # cap per task, on top of the task's own `max_samples`
    batch_size: int | None = None  # overrides the model entry's batch size
    max_quarantine_share: float = 0.2  # the same bound as evaluation.DEFAULT_MAX_QUARANTINE_SHARE

    def paths(self):
        from vlm_pipelines.evaluation import EvaluationPaths

        return EvaluationPaths(Path(self.data_dir) if self.data_dir else settings.data_dir())


class RecordIOManager(dg.ConfigurableIOManager):
    """Passes the evaluation's typed records between assets (a PredictionManifest from `predictions` to
    `sample_metrics`, a ResultRecord to `task_report`), across runs and processes: each partition's latest
    record is JSON under `<data dir>/records/<asset>/<partition>.json`, read back as the same type."""

    evaluation: EvaluationSettings

    def _path(self, asset_key: dg.AssetKey, partition: str) -> Path:
        name = partition.replace("|", "__").replace("/", "_")
        return self.evaluation.paths().root / "records" / asset_key.to_python_identifier() / f"{name}.json"

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        from vlm_pipelines.evaluation.records import write_record

        write_record(obj, self._path(context.asset_key, context.partition_key))

    def load_input(self, context: dg.InputContext):
        from vlm_pipelines.evaluation.records import read_record

        path = self._path(context.asset_key, context.asset_partition_key)
        if not path.exists():
            raise dg.Failure(
                description=f"no {context.asset_key.to_user_string()} record for partition "
                f"{context.asset_partition_key}: materialize it first ({path} is missing)"
            )
        return read_record(context.dagster_type.typing_type, path)
