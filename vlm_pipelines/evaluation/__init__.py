"""The evaluation core: one identity (`identity.py`, the only module that builds a key), typed records
(`records.py`), the steps (`steps.py`), the content-addressed results archive (`archive.py`) and the data
folder's layout (`layout.py`). Nothing here imports Dagster."""

import importlib
from typing import Any

__all__ = [
    "DEFAULT_MAX_QUARANTINE_SHARE",
    "DatasetCheck",
    "DatasetError",
    "EvaluationPaths",
    "ModelNotRunnableError",
    "Predicted",
    "ReportedIdentity",
    "dataset_checks",
    "dataset_record",
    "default_paths",
    "ensure_runnable",
    "load_dataset",
    "load_manifest",
    "load_predictions",
    "manifest_predictions",
    "newest_manifest",
    "predict",
    "prepare_dataset",
    "prompted_samples",
    "result_notes",
    "result_of",
    "score",
    "select",
]


def __getattr__(name: str) -> Any:
    """The steps' public names, imported on first use (so `evaluation.identity` imports alone, without
    the steps and their dependencies)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES.get(name, f"{__name__}.steps")), name)


_HOMES = {
    "EvaluationPaths": f"{__name__}.layout",
    "default_paths": f"{__name__}.layout",
    "ModelNotRunnableError": "vlm_pipelines.model_registry",
    "ensure_runnable": "vlm_pipelines.model_registry",
}
