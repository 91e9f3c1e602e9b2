"""The small real evaluation the deployment tests run: `ocr-rules` on a few demo_mini samples, with its default
engine (Tesseract where it is installed, RapidOCR elsewhere), as a deployment runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from vlm_pipelines.definitions import build_definitions
from vlm_pipelines.defs.resources import EvaluationSettings
from vlm_pipelines.model_registry import EvaluatedModel
from vlm_pipelines.tasks import load_task_registry


@dataclass(frozen=True)
class OcrDemo:
    entry: EvaluatedModel
    task: Any
    defs: dg.Definitions

    @property
    def partition(self) -> dg.MultiPartitionKey:
        return dg.MultiPartitionKey({"model": self.entry.name, "task": self.task.name})

    def prepare_dataset(self, instance: dg.DagsterInstance) -> None:
        result = self.defs.resolve_job_def("datasets").execute_in_process(
            partition_key=self.task.name, instance=instance
        )
        assert result.success


def ocr_demo(max_samples: int, batch_size: int = 8) -> OcrDemo:
    entry = EvaluatedModel(name="ocr-rules", model="ocr-rules", batch_size=batch_size)
    task = load_task_registry()["demo_mini_vqa"]
    defs = build_definitions(
        {entry.name: entry}, {task.name: task}, EvaluationSettings(max_samples=max_samples)
    )
    return OcrDemo(entry, task, defs)
