from __future__ import annotations

from pathlib import Path

import pytest

from vlm_pipelines.metrics import list_metrics
from vlm_pipelines.tasks import (
    REPO_ROOT,
    TaskConfigError,
    load_task_registry,
    sanitize_task_name,
    task_for_dataset,
)

GOOD_TASK = """\
name: {name}
dataset:
  path: data/demo
metrics: [anls]
"""


def _registry(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_shipped_registry_loads_every_task() -> None:
    tasks = load_task_registry()

    assert sorted(tasks) == [
        "chartqa_test",
        "demo_mini_vqa",
        "docvqa_val",
        "infovqa_val",
        "mtvqa_ru",
        "ocrbench",
        "snils_vqa",
        "synth_classification_en",
        "synth_json_extraction_en",
        "synth_page_order_en",
        "synth_vqa_en",
        "synth_vqa_ru",
        "textvqa_val",
    ]
    demo = tasks["demo_mini_vqa"]
    assert demo.dataset.path == "data/vlmhyperbench_sample/demo_mini"
    assert demo.metrics == ["anls", "exact_match", "cer"]
    assert demo.postprocess == ["strip_label", "normalize_whitespace"]
    assert demo.group_by == ["doc_type", "field_name"]
    assert tasks["synth_page_order_en"].metrics == ["kendall_tau", "positional_accuracy"]
    assert {task.dataset.synthetic.variant for task in tasks.values() if task.dataset.synthetic} == {
        "field_vqa",
        "json_extraction",
        "classification",
        "page_order",
    }


def test_bad_strategy_names_file_key_path_and_fix(tmp_path: Path) -> None:
    folder = _registry(tmp_path, {"bad.yaml": GOOD_TASK.format(name="bad") + "prompt:\n  strategy: magic\n"})

    with pytest.raises(TaskConfigError) as caught:
        load_task_registry(folder).check()

    message = str(caught.value)
    assert "bad.yaml: task 'bad': prompt.strategy" in message
    assert "\n" not in message  # one line
    assert (
        "prompt.strategy: Input should be 'question', 'collection', 'template', 'json_schema' or 'builder'"
        in message
    )
    assert "Fix: use one of the values listed" in message


def test_every_problem_of_an_entry_is_reported_in_one_error(tmp_path: Path) -> None:
    text = """\
name: Bad|Name
dataset: {path: x}
metrics: [anls, f1_score]
postprocess: [strip_label, uppercase]
promt: {strategy: question}
"""
    folder = _registry(tmp_path, {"many.yaml": text})

    with pytest.raises(TaskConfigError) as caught:
        load_task_registry(folder).check()

    message = str(caught.value)
    assert "name: String should match pattern" in message
    assert "Dagster partition key" in message
    assert "metrics: unknown metric(s) ['f1_score']; known metrics: " + ", ".join(list_metrics()) in message
    assert "postprocess: unknown post-processing step(s) ['uppercase']; known steps: strip_label" in message
    assert "promt: Extra inputs are not permitted. Fix: remove 'promt' or correct its spelling" in message
    assert "keys allowed here: name, description, dataset" in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("prompt: {strategy: collection}\n", "prompt: strategy 'collection' needs the key 'collection'"),
        (
            "prompt: {strategy: question, template: '{{ q }}'}\n",
            "'template' is only used by strategy 'template', not 'question'",
        ),
        ("prompt: {strategy: template, template: '{{ question '}\n", "Jinja syntax error on template line 1"),
        ("prompt: {strategy: question, sytem_prompt: hi}\n", "keys allowed here: strategy, system_prompt"),
        ("group_by: [doc_type, Doc Colour]\n", "cannot group by ['Doc Colour']"),
        ("max_samples: 0\n", "max_samples: Input should be greater than or equal to 1"),
        ("dataset: {path: x, format: excel}\n", "unknown format 'excel'"),
    ],
)
def test_specific_mistakes_get_specific_messages(tmp_path: Path, extra: str, expected: str) -> None:
    text = GOOD_TASK.format(name="t")
    if extra.startswith("dataset:"):
        text = text.replace("dataset:\n  path: data/demo\n", extra)
    else:
        text += extra
    folder = _registry(tmp_path, {"t.yaml": text})

    with pytest.raises(TaskConfigError, match="t.yaml") as caught:
        load_task_registry(folder).check()

    assert expected in str(caught.value)


def test_dataset_needs_exactly_one_source(tmp_path: Path) -> None:
    text = (
        "name: t\nmetrics: [anls]\ndataset:\n  path: x\n  synthetic: {variant: field_vqa, n_documents: 2}\n"
    )
    folder = _registry(tmp_path, {"t.yaml": text})

    with pytest.raises(TaskConfigError, match="give exactly one of 'path'"):
        load_task_registry(folder).check()


def test_duplicate_names_across_files_name_both_files(tmp_path: Path) -> None:
    folder = _registry(
        tmp_path, {"a.yaml": GOOD_TASK.format(name="same"), "b.yaml": GOOD_TASK.format(name="same")}
    )

    with pytest.raises(TaskConfigError, match=r"b\.yaml: task name 'same' is already defined in .*a\.yaml"):
        load_task_registry(folder).check()


def test_a_file_may_list_several_tasks_and_its_stem_does_not_matter(tmp_path: Path) -> None:
    text = (
        "- "
        + GOOD_TASK.format(name="one").replace("\n", "\n  ")
        + "\n- "
        + GOOD_TASK.format(name="two").replace("\n", "\n  ")
    )
    folder = _registry(tmp_path, {"whatever.yml": text})

    assert sorted(load_task_registry(folder)) == ["one", "two"]


def test_yaml_problems_are_task_config_errors(tmp_path: Path) -> None:
    repeated = GOOD_TASK.format(name="t") + "metrics: [cer]\n"
    with pytest.raises(TaskConfigError, match="key 'metrics' appears twice"):
        load_task_registry(_registry(tmp_path / "a", {"t.yaml": repeated})).check()
    with pytest.raises(TaskConfigError, match="not valid YAML"):
        load_task_registry(_registry(tmp_path / "b", {"t.yaml": "name: [unclosed\n"})).check()
    with pytest.raises(TaskConfigError, match="expected one entry"):
        load_task_registry(_registry(tmp_path / "c", {"t.yaml": "just a string\n"})).check()


def test_task_for_dataset_detects_format_and_names_the_task(sample_data: Path) -> None:
    task = task_for_dataset(sample_data / "snils_json")

    assert task.name.startswith("snils_json-") and len(task.name) == len("snils_json-") + 6
    assert task.dataset.format == "json_fields"
    assert Path(task.dataset.path) == (sample_data / "snils_json").resolve()
    assert task.metrics == ["anls", "exact_match", "cer"]
    assert task_for_dataset(sample_data / "demo_mini" / "annotation.csv", metrics=["cer"]).name.startswith(
        "demo_mini-"
    )
    assert task_for_dataset(sample_data / "demo_mini", name="my-demo").name == "my-demo"
    with pytest.raises(TaskConfigError, match="name: String should match pattern"):
        task_for_dataset(sample_data / "demo_mini", name="a/b")


def test_sanitized_names_are_valid_partition_keys() -> None:
    assert sanitize_task_name("My Dataset (v2)") == "my_dataset_v2"
    assert sanitize_task_name("Паспорта РФ") == "pasporta_rf"
    assert sanitize_task_name("|,/").startswith("dataset_")


def test_repo_root_is_the_checkout() -> None:
    assert (REPO_ROOT / "registry" / "tasks").is_dir()


def test_two_dataset_folders_with_the_same_name_get_different_tasks(
    tmp_path: Path, sample_data: Path
) -> None:
    # Issue 7: two `--dataset` folders both called demo_mini overwrote each other's results.
    import shutil

    first, second = tmp_path / "a" / "demo_mini", tmp_path / "b" / "demo_mini"
    shutil.copytree(sample_data / "demo_mini", first)
    shutil.copytree(sample_data / "demo_mini", second)
    assert task_for_dataset(first).name != task_for_dataset(second).name
    assert task_for_dataset(first).name == task_for_dataset(first).name  # stable


def test_a_broken_task_file_leaves_the_other_tasks_loadable(tmp_path: Path) -> None:
    # Issue 7: one bad task YAML broke unrelated commands.
    folder = _registry(
        tmp_path,
        {
            "good.yaml": GOOD_TASK.format(name="good"),
            "bad.yaml": GOOD_TASK.format(name="bad") + "metrics: [x]\n",
        },
    )
    registry = load_task_registry(folder)
    assert list(registry) == ["good"]
    assert len(registry.errors) == 1 and "bad.yaml" in str(registry.errors[0])
    assert registry.require("good").name == "good"
    with pytest.raises(TaskConfigError, match="key 'metrics' appears twice"):
        registry.require("bad")


def test_registry_dir_moves_the_tasks_and_the_models_together(tmp_path: Path, monkeypatch) -> None:
    # Issue 7: VLMBENCH_REGISTRY_DIR moved the models but not the tasks.
    from vlm_pipelines.model_registry import load_model_registry

    _registry(tmp_path, {"only.yaml": GOOD_TASK.format(name="only")})
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.yaml").write_text("- name: mine\n  model: ocr-rules\n")
    monkeypatch.setenv("VLMBENCH_REGISTRY_DIR", str(tmp_path))
    assert list(load_task_registry()) == ["only"]
    assert list(load_model_registry()) == ["mine"]
