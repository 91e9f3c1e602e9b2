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
