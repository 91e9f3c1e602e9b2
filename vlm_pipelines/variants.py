"""Entries made on the command line: a model entry changed by `--model-param`/`--gen`, a task changed by
`--set`, and the task of a `--dataset` folder. Each is an entry of its own, with a name of its own
(`identity.variant_name`), written to `<data dir>/models/` or `<data dir>/tasks/`, which join the registries:
the Dagster UI then shows their partitions and re-runs them with the same settings, and they never take
over the registry entry they came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vlm_pipelines.evaluation.identity import variant_name
from vlm_pipelines.model_registry import generated_models_dir
from vlm_pipelines.tasks.registry import generated_tasks_dir


class VariantError(ValueError):
    """A command-line entry that would take over another entry's name."""


def _write_entry(folder: Path, name: str, entry: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    text = "# Made on the command line by vlmbench; joins the registry.\n" + yaml.safe_dump(
        entry, sort_keys=False, allow_unicode=True
    )
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def model_variant(base: Any, changed: Any) -> Any:
    """`changed` (the registry entry `base` with --model-param/--gen applied) as its own named entry, written
    to `<data dir>/models/`; `base` itself when nothing changed."""
    if changed == base:
        return base
    overrides = {
        "model": changed.model,
        "params": changed.params,
        "generation": changed.generation.model_dump(mode="json", exclude_none=True),
    }
    variant = changed.model_copy(
        update={
            "name": variant_name(base.name, overrides),
            "demo": False,
            "description": f"{base.name} with {_describe(base, changed)}",
        }
    )
    _write_entry(generated_models_dir(), variant.name, variant.model_dump(mode="json", exclude_defaults=True))
    return variant


def _describe(base: Any, changed: Any) -> str:
    parts = [f"{k}={v}" for k, v in changed.params.items() if base.params.get(k) != v]
    generation = changed.generation.model_dump(exclude_none=True)
    parts += [f"{k}={v}" for k, v in generation.items() if base.generation.model_dump().get(k) != v]
    return ", ".join(parts) or "the same settings"


def task_variant(base: Any, changed: Any, registered: dict[str, Any]) -> Any:
    """`changed` (task `base` with --set applied) as its own entry, written to `<data dir>/tasks/`. A task
    renamed with `--set name=X` keeps X unless X is another entry with other settings (VariantError); a
    task changed under its own name gets a variant name."""
    if changed == base:
        return base
    if changed.name != base.name:
        other = registered.get(changed.name)
        if other is not None and other != changed:
            raise VariantError(
                f"--set name={changed.name}: task {changed.name!r} already exists with other settings; "
                "task names are unique, choose another name"
            )
        variant = changed
    else:
        fields = changed.model_dump(mode="json", exclude={"name"})
        variant = changed.model_copy(update={"name": variant_name(base.name, fields), "demo": False})
    return save_task(variant)


def save_task(task: Any) -> Any:
    """Writes `task` (a --set variant or a --dataset folder's task) to `<data dir>/tasks/`."""
    _write_entry(generated_tasks_dir(), task.name, task.model_dump(mode="json", exclude_none=True))
    return task
