"""The definitions: what they contain, how partitions follow the registries, how fast they load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from vlm_pipelines.definitions import build_definitions
from vlm_pipelines.model_registry import ModelRegistryError, load_model_registry, sanitize_partition_key
from vlm_pipelines.tasks import load_task_registry

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_definitions_hold_every_asset_check_job_sensor_and_schedule() -> None:
    defs = build_definitions()
    keys = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    assert keys == {
        "dataset",
        "dataset_quarantine",
        "predictions",
        "sample_metrics",
        "task_report",
        "leaderboard",
        "knowledge_base_index",
        "retrieval_quality",
        "chat_feedback_tasks",
        "task_definition",
        "model_definition",
    }
    checks = {key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {
        "dataset:schema",
        "dataset:quarantine_share",
        "dataset:order_references",
        "dataset:conflicting_duplicates",
        "predictions:schema",
        "predictions:coverage",
        "sample_metrics:schema",
    }
    for job in ("datasets", "evaluate", "leaderboard_job", "knowledge_job", "chat_feedback_job"):
        defs.resolve_job_def(job)
    index = defs.resolve_assets_def("knowledge_base_index")
    assert isinstance(index.partitions_def, dg.DynamicPartitionsDefinition)
    assert index.partitions_def.name == "knowledge_base"
    assert defs.resolve_sensor_def("model_release_sensor").default_status == dg.DefaultSensorStatus.STOPPED
    assert defs.resolve_schedule_def("weekly_reevaluation").default_status == dg.DefaultScheduleStatus.STOPPED
    for running in ("definitions_changed", "leaderboard_after_evaluation"):  # on in `vlmbench dev` too
        assert defs.resolve_sensor_def(running).default_status == dg.DefaultSensorStatus.RUNNING


def test_partitions_are_every_registered_model_times_every_task() -> None:
    defs = build_definitions()
    partitions = defs.resolve_job_def("evaluate").partitions_def
    models, tasks = load_model_registry(), load_task_registry()
    keys = partitions.get_partition_keys()
    assert len(keys) == len(models) * len(tasks)
    assert "ocr-rules|synth_vqa_en" in keys
    for key in keys:
        model, task = key.split("|")
        assert model in models and task in tasks
        assert "," not in key and "/" not in key


def test_a_new_model_in_the_registry_is_a_new_partition(tmp_path: Path) -> None:
    registry = tmp_path / "models"
    registry.mkdir()
    (registry / "mine.yaml").write_text("- name: my-ocr\n  model: ocr-rules\n  params: {engine: rapidocr}\n")
    defs = build_definitions(models=load_model_registry(registry))
    keys = defs.resolve_job_def("evaluate").partitions_def.get_partition_keys()
    assert sorted({key.split("|")[0] for key in keys}) == ["my-ocr"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "- name: a|b\n  model: ocr-rules\n",
            "'a|b' cannot be a partition key; use letters, digits, '.', '_' and '-' (for example 'a_b')",
        ),
        (
            "- name: x\n  model: ocr-rules\n  batch_size: 0\n",
            "[0]: model entry 'x': batch_size: Input should be greater than or equal to 1",
        ),
        ("- name: x\n  modle: ocr-rules\n", "modle: Extra inputs are not permitted. Fix: remove 'modle'"),
        (
            "- name: x\n  model: ocr-rules\n- name: x\n  model: ocr-rules\n",
            "[1]: model name 'x' is already defined in",
        ),
        (
            "- name: x\n  model: no-such-model\n",
            "[0]: model entry 'x': model: unknown model id 'no-such-model'. Fix: use a model id that "
            "`vlmbench models` lists",
        ),
        ("- name: x\n  model: ocr-rules\n  model: ocr-smollm2\n", "key 'model' appears twice"),
    ],
)
def test_bad_model_entries_name_the_file_and_key(tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(entry)
    with pytest.raises(ModelRegistryError) as error:
        load_model_registry(tmp_path).check()
    assert str(tmp_path / "bad.yaml") in str(error.value)
    assert message in str(error.value)


def test_partition_keys_are_sanitized() -> None:
    assert sanitize_partition_key("Qwen/Qwen2.5-VL 3B|int8,v2") == "Qwen_Qwen2.5-VL_3B_int8_v2"
    assert sanitize_partition_key("a...b") == "a.b"


LOAD_DEFINITIONS = """
import sys
import dagster
before = set(sys.modules)
import vlm_pipelines.definitions
ours = set(sys.modules) - before
heavy = [name for name in HEAVY if name in sys.modules]
print(len(ours), ",".join(heavy))
"""
HEAVY = ("torch", "transformers", "matplotlib", "pandera", "chromadb", "polars", "numpy", "gradio", "vllm")
# Loading the definitions adds 251 modules to dagster's own here (rapidfuzz, our own, jinja2 and PIL; and
# 81 of huggingface_hub, httpx and tqdm for the models' availability checks, which the predictions asset's
# description lists). The bound catches a heavy import (torch alone is over 1,000 modules; HEAVY names
# them) without timing anything on a shared, noisy machine.
MAX_MODULES_BEYOND_DAGSTER = 280


def test_loading_the_definitions_imports_nothing_heavy_and_loads_no_weights() -> None:
    script = f"HEAVY = {HEAVY!r}\n{LOAD_DEFINITIONS}"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    count, heavy = (out.stdout.split() + [""])[:2]
    assert heavy == "", f"loading the definitions imported {heavy}"
    assert int(count) <= MAX_MODULES_BEYOND_DAGSTER, f"{count} modules beyond dagster's"
