"""Tasks as data: YAML entries in `registry/tasks/`, validated into `TaskConfig`s.

tasks = load_task_registry()
result = load_task_dataset(tasks["demo_mini_vqa"], repo_root=REPO_ROOT, cache_dir=Path(".vlmbench"))
"""

from vlm_pipelines.settings import REPO_ROOT
from vlm_pipelines.tasks.config import (
    DatasetSpec,
    Filters,
    PromptSpec,
    SyntheticDataset,
    TaskConfig,
    TaskConfigError,
)
from vlm_pipelines.tasks.registry import (
    DEFAULT_AD_HOC_METRICS,
    ad_hoc_task_name,
    load_task_registry,
    sanitize_task_name,
    task_for_dataset,
)

_DATASET_FUNCTIONS = ("load_task_dataset", "resolve_dataset_path", "select_samples")


def __getattr__(name: str):
    # Reading datasets needs polars and pandera; loading the registry does not.
    if name in _DATASET_FUNCTIONS:
        from vlm_pipelines.tasks import dataset

        return getattr(dataset, name)
    raise AttributeError(name)


__all__ = [
    "DEFAULT_AD_HOC_METRICS",
    "REPO_ROOT",
    "DatasetSpec",
    "Filters",
    "PromptSpec",
    "SyntheticDataset",
    "TaskConfig",
    "TaskConfigError",
    "ad_hoc_task_name",
    "load_task_dataset",
    "load_task_registry",
    "resolve_dataset_path",
    "sanitize_task_name",
    "select_samples",
    "task_for_dataset",
]
