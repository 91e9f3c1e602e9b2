"""The model x task partitioning, built from the model and task registries.

Static dimensions: the registries are files in the repository, read when the code location loads, so
adding a model or a task is a YAML change that appears after a reload, and a fresh DAGSTER_HOME needs
no partition keys added before `dagster job execute` works.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg


def task_partitions(task_names: Iterable[str]) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(sorted(task_names))


def model_partitions(model_names: Iterable[str]) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(sorted(model_names))


def evaluation_partitions(
    model_names: Iterable[str], task_names: Iterable[str]
) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {"model": model_partitions(model_names), "task": task_partitions(task_names)}
    )


def evaluation_partition_key(model_name: str, task_name: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"model": model_name, "task": task_name})
