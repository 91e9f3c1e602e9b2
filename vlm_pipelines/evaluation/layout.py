"""Where the evaluation keeps its files under the data folder (`VLMBENCH_DATA_DIR`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlm_pipelines import settings


@dataclass(frozen=True)
class EvaluationPaths:
    root: Path

    def dataset(self, task: str) -> Path:
        """`samples.parquet` (the whole dataset: run options select from it), `quarantine.parquet`,
        `dataset.json` (the DatasetRecord)."""
        return self.root / "datasets" / task

    def predictions(self, model_name: str, task: str) -> Path:
        """One parquet file per finished batch, every key's rows together (answers are reused per sample)."""
        return self.root / "predictions" / model_name / task

    def manifest(self, model_name: str, task: str, manifest_id: str) -> Path:
        return self.predictions(model_name, task) / "manifests" / f"{manifest_id}.json"

    def report(self, model_name: str, task: str) -> Path:
        return self.root / "reports" / task / model_name

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def leaderboard(self) -> Path:
        return self.root / "reports" / "leaderboard"

    @property
    def cache(self) -> Path:
        return self.root / "cache"


def default_paths() -> EvaluationPaths:
    return EvaluationPaths(settings.data_dir())
