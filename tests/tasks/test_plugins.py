"""A task YAML may name a prompt builder and post-processing steps from an installed package, by dotted
path or entry point: a new task type needs no edit to the core (issue 8). The package here is a real one
on sys.path, with a real dist-info folder declaring its entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vlm_pipelines.postprocess import postprocess
from vlm_pipelines.tasks import TaskConfigError, load_task_registry

PLUGIN = """
def build(row):
    return f"[{row['doc_type']}] {row['question']} (image count: {row['image_count']})"


def shout(text, field_name):
    return text.upper()
"""
TASK = """\
name: plugged
dataset: {{path: data/vlmhyperbench_sample/demo_mini}}
prompt: {{strategy: builder, builder: {builder}}}
postprocess: [{step}, normalize_whitespace]
metrics: [anls]
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    (site / "docplugin").mkdir(parents=True)
    (site / "docplugin" / "__init__.py").write_text(PLUGIN)
    info = site / "docplugin-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: docplugin\nVersion: 0.3.0\n")
    (info / "top_level.txt").write_text("docplugin\n")
    (info / "entry_points.txt").write_text(
        "[vlmbench.prompt_builders]\ntagged = docplugin:build\n\n[vlmbench.postprocess]\nshout = docplugin:shout\n"
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("docplugin", None)


def _registry(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir(parents=True)
    (folder / "t.yaml").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("builder", "step"),
    [("docplugin:build", "docplugin:shout"), ("tagged", "shout")],
    ids=["dotted", "entry-point"],
)
def test_a_task_uses_a_builder_and_a_step_from_an_installed_package(
    installed_plugin: Path, tmp_path: Path, sample_data: Path, builder: str, step: str
) -> None:
    from vlm_pipelines.readers import read_dataset
    from vlm_pipelines.settings import REPO_ROOT

    task = load_task_registry(_registry(tmp_path, TASK.format(builder=builder, step=step))).check()["plugged"]
    samples = read_dataset(sample_data / "demo_mini").samples
    prompts = task.prompts(samples, REPO_ROOT).prompts["prompt"].to_list()
    assert prompts[0] == "[passport] Напиши Серия и номер паспорта (image count: 1)"
    assert postprocess("  ОсипоВ  ", task.postprocess) == "ОСИПОВ"
    plain = TASK.format(builder=builder, step=step).replace(
        f"strategy: builder, builder: {builder}", "strategy: question"
    )
    plain_task = load_task_registry(_registry(tmp_path / "plain", plain)).check()["plugged"]
    assert task.prompt_hash(REPO_ROOT) != plain_task.prompt_hash(
        REPO_ROOT
    )  # the builder's code is in the hash


@pytest.mark.parametrize(
    ("builder", "step", "message"),
    [
        ("docplugin:nope", "shout", "module 'docplugin' has no 'nope'"),
        ("nowhere.module:build", "shout", "cannot import module 'nowhere.module'"),
        ("tagged", "shoutt", "unknown post-processing step(s) ['shoutt']"),
        (
            "taged",
            "shout",
            "'taged' is neither a built-in name, a `module:function` path, nor an entry point",
        ),
    ],
)
def test_a_wrong_reference_fails_at_load_in_one_line(
    installed_plugin: Path, tmp_path: Path, builder: str, step: str, message: str
) -> None:
    with pytest.raises(TaskConfigError) as caught:
        load_task_registry(_registry(tmp_path, TASK.format(builder=builder, step=step))).check()
    assert message in str(caught.value) and "t.yaml" in str(caught.value)
    assert "\n" not in str(caught.value)
