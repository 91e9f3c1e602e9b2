from __future__ import annotations

import json
import sys
import types
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


def test_synthetic_dataset_is_generated_into_a_parameter_folder(tmp_path: Path, monkeypatch) -> None:
    calls: list[dict[str, object]] = []

    def generate_task_dataset(**kwargs: object) -> Path:
        calls.append(kwargs)
        out_dir = Path(kwargs["out_dir"])
        out_dir.mkdir(parents=True)
        from PIL import Image

        Image.new("RGB", (4, 4)).save(out_dir / "doc0.png")
        record = {"images": ["doc0.png"], "question": "Total?", "answers": ["9"], "doc_type": "invoice"}
        (out_dir / "manifest.jsonl").write_text(json.dumps(record) + "\n")
        return out_dir

    fake = types.ModuleType("vlm_pipelines.synthetic")
    fake.generate_task_dataset = generate_task_dataset
    monkeypatch.setitem(sys.modules, "vlm_pipelines.synthetic", fake)
    spec = {"variant": "field_vqa", "language": "en", "n_documents": 3, "seed": 5, "degradations": ["blur"]}
    task = _task(dataset={"synthetic": spec})

    result = load_task_dataset(task, REPO_ROOT, tmp_path)

    assert result.format == "jsonl_manifest"
    assert result.samples["answers"].to_list() == [["9"]]
    (call,) = calls
    assert call == spec | {"out_dir": tmp_path / "synthetic" / task.dataset.synthetic.params_hash()}
    other_seed = _task(dataset={"synthetic": spec | {"seed": 6}})
    assert other_seed.dataset.synthetic.params_hash() != task.dataset.synthetic.params_hash()
