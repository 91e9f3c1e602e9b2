"""A task's samples: read (or generate) its dataset, then apply its split, filters and max_samples."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from vlm_pipelines.readers import read_dataset
from vlm_pipelines.schemas import ReadResult
from vlm_pipelines.tasks.config import TaskConfig


def resolve_dataset_path(task: TaskConfig, repo_root: Path) -> Path:
    """The task's `dataset.path`, relative to `repo_root` unless absolute; FileNotFoundError if missing."""
    if task.dataset.path is None:
        raise ValueError(f"task {task.name!r} has a synthetic dataset, not a path")
    path = Path(task.dataset.path)
    resolved = path if path.is_absolute() else Path(repo_root) / path
    if not resolved.exists():
        raise FileNotFoundError(
            f"task {task.name!r}: dataset.path {task.dataset.path!r} -> {resolved} does not exist "
            f"(relative paths are resolved from the repo root {repo_root})"
        )
    return resolved


def _generate_synthetic(task: TaskConfig, cache_dir: Path) -> Path:
    from vlm_pipelines.synthetic import generate_task_dataset  # lazy: the generator is heavier

    spec = task.dataset.synthetic
    assert spec is not None
    return Path(
        generate_task_dataset(
            variant=spec.variant,
            language=spec.language,
            n_documents=spec.n_documents,
            seed=spec.seed,
            degradations=list(spec.degradations),
            out_dir=Path(cache_dir) / "synthetic" / spec.params_hash(),
        )
    )


def _keep_listed(
    samples: pl.DataFrame, column: str, wanted: list[str] | None, task: TaskConfig, key: str
) -> pl.DataFrame:
    """Rows whose `column` is in `wanted`; ValueError when a wanted value never occurs (likely a typo)."""
    if wanted is None:
        return samples
    present = set(samples[column].unique().to_list())
    absent = [value for value in wanted if value not in present]
    if absent:
        raise ValueError(
            f"task {task.name!r}: {key} value(s) {absent} match no sample; values present: {sorted(present)}"
        )
    return samples.filter(pl.col(column).is_in(wanted))


def select_samples(task: TaskConfig, result: ReadResult) -> ReadResult:
    """Applies the task's split, filters and max_samples (the first N by sample_id: order-independent)."""
    samples = result.samples
    samples = _keep_listed(samples, "split", [task.split] if task.split is not None else None, task, "split")
    samples = _keep_listed(samples, "doc_type", task.filters.doc_type, task, "filters.doc_type")
    samples = _keep_listed(samples, "field_name", task.filters.field_name, task, "filters.field_name")
    if task.max_samples is not None:
        samples = samples.sort("sample_id").head(task.max_samples)
    return result.with_samples(samples)


def load_task_dataset(task: TaskConfig, repo_root: Path, cache_dir: Path) -> ReadResult:
    """The task's samples. Synthetic data is generated under `cache_dir/synthetic/<params hash>`;
    images decoded from TSV/Parquet bytes, and the pages of multi-page images, go to `cache_dir/images`.
    The task's `dataset.encoding`, when given, overrides the detected text encoding."""
    if task.dataset.synthetic is not None:
        path = _generate_synthetic(task, cache_dir)
    else:
        path = resolve_dataset_path(task, repo_root)
    result = read_dataset(
        path,
        task.dataset.format,
        image_cache_dir=Path(cache_dir) / "images",
        pages=task.dataset.pages,
        encoding=task.dataset.encoding,
    )
    return select_samples(task, result)
