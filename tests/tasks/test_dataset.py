from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlm_pipelines.tasks import REPO_ROOT, TaskConfig, load_task_dataset, load_task_registry


def _task(**fields: object) -> TaskConfig:
    base = {
        "name": "t",
        "dataset": {"path": "data/vlmhyperbench_sample/demo_mini"},
        "metrics": ["anls"],
    }
    return TaskConfig.model_validate(base | fields)


def test_registry_task_reads_the_real_demo(sample_data: Path, tmp_path: Path) -> None:
    result = load_task_dataset(load_task_registry()["demo_mini_vqa"], REPO_ROOT, tmp_path)

    assert result.samples.height == 22
    assert result.format == "vlmhyperbench_csv"


def test_split_and_filters_select_rows(sample_data: Path, tmp_path: Path) -> None:
    task = _task(split="test_clean", filters={"doc_type": ["passport"], "field_name": ["Имя", "Пол"]})

    result = load_task_dataset(task, REPO_ROOT, tmp_path)

    assert sorted(result.samples["answers"].list.first()) == ["Алексей", "Христина", "жен.", "муж."]


def test_filter_values_that_match_nothing_are_errors(sample_data: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ValueError,
        match=r"filters.doc_type value\(s\) \['pasport'\] match no sample; values present: \['invoice', 'passport'\]",
    ):
        load_task_dataset(_task(filters={"doc_type": ["pasport"]}), REPO_ROOT, tmp_path)
    with pytest.raises(ValueError, match=r"split value\(s\) \['train'\]"):
        load_task_dataset(_task(split="train"), REPO_ROOT, tmp_path)


def test_max_samples_takes_the_first_ids_whatever_the_row_order(sample_data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "reversed"
    copy.mkdir()
    (copy / "images").symlink_to(sample_data / "demo_mini" / "images")
    lines = (sample_data / "demo_mini" / "annotation.csv").read_text(encoding="utf-8-sig").splitlines()
    (copy / "annotation.csv").write_text("\n".join([lines[0], *lines[:0:-1]]) + "\n", encoding="utf-8")

    original = load_task_dataset(_task(max_samples=5), REPO_ROOT, tmp_path)
    reordered = load_task_dataset(_task(max_samples=5, dataset={"path": str(copy)}), REPO_ROOT, tmp_path)

    all_ids = sorted(load_task_dataset(_task(), REPO_ROOT, tmp_path).samples["sample_id"])
    assert original.samples["sample_id"].to_list() == all_ids[:5]
    assert reordered.samples["sample_id"].to_list() == all_ids[:5]
    assert original.dataset_hash == reordered.dataset_hash


def test_missing_dataset_path_names_the_task(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"task 't': dataset.path 'nowhere/data' .* does not exist"):
        load_task_dataset(_task(dataset={"path": "nowhere/data"}), REPO_ROOT, tmp_path)


def test_synthetic_dataset_is_generated_into_a_parameter_folder(tmp_path: Path) -> None:
    # The real generator (three documents take well under a second), not a stand-in.
    spec = {"variant": "field_vqa", "language": "en", "n_documents": 3, "seed": 5, "degradations": ["blur"]}
    task = _task(dataset={"synthetic": spec})

    result = load_task_dataset(task, REPO_ROOT, tmp_path)

    folder = tmp_path / "synthetic" / task.dataset.synthetic.params_hash()
    manifest = folder / "manifest.jsonl"
    assert result.format == "jsonl_manifest" and result.source == manifest
    lines = manifest.read_text(encoding="utf-8").splitlines()
    assert result.samples.height == len(lines) == result.records
    assert sorted(set(result.samples["doc_type"])) == ["form", "invoice", "receipt"]
    assert {json.loads(m)["degradation"] for m in result.samples["metadata"]} == {"blur"}
    assert all(
        Path(path).parent == folder / "images" for paths in result.samples["image_paths"] for path in paths
    )
    written = manifest.stat().st_mtime_ns
    assert load_task_dataset(task, REPO_ROOT, tmp_path).dataset_hash == result.dataset_hash
    assert manifest.stat().st_mtime_ns == written  # the same parameters reuse the folder
    other_seed = _task(dataset={"synthetic": spec | {"seed": 6}})
    assert other_seed.dataset.synthetic.params_hash() != task.dataset.synthetic.params_hash()
