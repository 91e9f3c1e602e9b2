from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vlm_pipelines.prompts import load_prompt_collection
from vlm_pipelines.readers import read_dataset
from vlm_pipelines.tasks import REPO_ROOT, TaskConfig


@pytest.fixture(scope="module")
def demo_samples(sample_data: Path):
    return read_dataset(sample_data / "demo_mini").samples


def _task(prompt: dict[str, object]) -> TaskConfig:
    return TaskConfig.model_validate(
        {"name": "prompt-test", "dataset": {"path": "x"}, "metrics": ["anls"], "prompt": prompt}
    )


def test_question_strategy_keeps_the_dataset_question(demo_samples) -> None:
    prompts = _task({"strategy": "question"}).prompts(demo_samples, REPO_ROOT)

    assert prompts.prompts["prompt"].to_list() == demo_samples["question"].to_list()
    assert prompts.prompts["sample_id"].to_list() == demo_samples["sample_id"].to_list()
    assert set(prompts.prompts["system_prompt"]) == {""}
    assert prompts.fallback_count == 0


def test_real_prompt_collections_replace_the_questions(sample_data: Path, demo_samples) -> None:
    covered = {}
    for collection in sorted((sample_data / "demo_mini" / "prompt_collections").glob("*.csv")):
        prompt_set = _task({"strategy": "collection", "collection": str(collection)}).prompts(
            demo_samples, REPO_ROOT
        )
        from_collection = set(load_prompt_collection(collection).values())
        covered[collection.name] = sum(prompt in from_collection for prompt in prompt_set.prompts["prompt"])
        assert covered[collection.name] == demo_samples.height - prompt_set.fallback_count

    assert len(covered) == 4
    assert covered == dict.fromkeys(covered, 22)  # every real collection covers every demo_mini row


def test_collection_prompt_for_a_known_key(sample_data: Path, demo_samples) -> None:
    collection = sample_data / "demo_mini" / "prompt_collections" / "JuliaJu_Qwen2-VL-2B_demo_mini_cer0.csv"
    prompt_set = _task({"strategy": "collection", "collection": str(collection)}).prompts(
        demo_samples, REPO_ROOT
    )

    by_field = dict(zip(demo_samples["field_name"], prompt_set.prompts["prompt"], strict=False))
    assert by_field["Фамилия"] == "Напиши Фамилия. Пример: Куликов."


def test_keys_missing_from_the_collection_fall_back_and_are_counted(
    sample_data: Path, demo_samples, tmp_path: Path
) -> None:
    source = sample_data / "demo_mini" / "prompt_collections" / "JuliaJu_Qwen2-VL-2B_demo_mini_cer0.csv"
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(line for line in lines if ";invoice " not in line), encoding="utf-8")

    prompt_set = _task({"strategy": "collection", "collection": str(partial)}).prompts(
        demo_samples, REPO_ROOT
    )

    invoice_rows = demo_samples["doc_type"].to_list().count("invoice")
    assert prompt_set.fallback_count == invoice_rows == 8
    assert sorted(prompt_set.missing_keys) == [
        "invoice Дата счет-фактуры",
        "invoice Номер счет-фактуры",
        "invoice Покупатель",
        "invoice Продавец",
    ]
    invoice = prompt_set.prompts.filter(demo_samples["doc_type"] == "invoice")
    assert invoice["prompt"].to_list() == demo_samples.filter(doc_type="invoice")["question"].to_list()


def test_prompt_hash_follows_every_prompt_text(sample_data: Path, demo_samples, tmp_path: Path) -> None:
    source = sample_data / "demo_mini" / "prompt_collections" / "JuliaJu_Qwen2-VL-2B_demo_mini_cer0.csv"
    copy = tmp_path / "copy.csv"
    shutil.copy(source, copy)
    edited = tmp_path / "edited.csv"
    edited.write_bytes(source.read_bytes().replace("Куликов".encode(), "Петров".encode()))

    def hash_of(prompt: dict[str, object]) -> str:
        return _task(prompt).prompts(demo_samples, REPO_ROOT).prompt_hash

    original = hash_of({"strategy": "collection", "collection": str(source)})
    assert hash_of({"strategy": "collection", "collection": str(copy)}) == original  # content, not path
    assert hash_of({"strategy": "collection", "collection": str(edited)}) != original
    assert (
        hash_of({"strategy": "collection", "collection": str(source), "system_prompt": "Be brief."})
        != original
    )
    assert hash_of({"strategy": "question"}) != original
    assert hash_of({"strategy": "template", "template": "{{ question }}"}) != hash_of(
        {"strategy": "template", "template": "{{ question }}!"}
    )


def test_template_sees_the_row_and_its_metadata(demo_samples) -> None:
    template = "[{{ doc_type }}/{{ field_name }} bbox={{ metadata.bbox[0] }} images={{ image_count }}] {{ question }}"
    prompt_set = _task(
        {"strategy": "template", "template": template, "system_prompt": "Answer in Russian."}
    ).prompts(demo_samples, REPO_ROOT)

    assert prompt_set.prompts["prompt"][1] == "[passport/Фамилия bbox=780 images=1] Напиши Фамилия"
    assert set(prompt_set.prompts["system_prompt"]) == {"Answer in Russian."}


def test_template_errors_name_the_task_and_the_variables(demo_samples) -> None:
    with pytest.raises(
        ValueError,
        match=r"task 'prompt-test': prompt.template failed .*'answers' is undefined.*available: question",
    ):
        _task({"strategy": "template", "template": "{{ answers }}"}).prompts(demo_samples, REPO_ROOT)


def test_json_schema_prompt_lists_the_dataset_fields(sample_data: Path) -> None:
    samples = read_dataset(sample_data / "snils_json").samples
    original = json.loads((sample_data / "snils_json" / "extraction_prompt.json").read_text(encoding="utf-8"))

    prompt_set = _task(
        {"strategy": "json_schema", "system_prompt": original["prompt_config"]["system_prompt"]}
    ).prompts(samples, REPO_ROOT)

    prompt = prompt_set.prompts["prompt"][0]
    fields = list(dict.fromkeys(samples["field_name"]))
    assert len(fields) == 6
    assert all(f"- {field}" in prompt for field in fields)
    assert all(
        field in original["prompt_config"]["user_prompt"] for field in fields
    )  # same fields as the original
    assert prompt_set.prompts["system_prompt"][0].startswith("Ты — эксперт по анализу документов")


def test_json_schema_prompt_with_an_explicit_schema(demo_samples) -> None:
    schema = {"type": "object", "properties": {"seller": {"type": "string"}, "total": {"type": "number"}}}

    prompt = _task({"strategy": "json_schema", "json_schema": schema}).prompts(demo_samples, REPO_ROOT)

    text = prompt.prompts["prompt"][0]
    assert "- seller\n- total" in text
    assert '"total": {\n      "type": "number"' in text


def test_missing_collection_file_names_the_task(demo_samples) -> None:
    with pytest.raises(FileNotFoundError, match="task 'prompt-test': prompt.collection 'no/such.csv'"):
        _task({"strategy": "collection", "collection": "no/such.csv"}).prompts(demo_samples, REPO_ROOT)


def test_broken_collection_files_are_clear_errors(tmp_path: Path) -> None:
    wrong_header = tmp_path / "wrong.csv"
    wrong_header.write_text("text;key\nhi;passport Имя\n", encoding="utf-8")
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("prompt;doc_class_question_type\nA;passport Имя\nB;passport Имя\n", encoding="utf-8")

    with pytest.raises(ValueError, match="expected columns 'prompt;doc_class_question_type"):
        load_prompt_collection(wrong_header)
    with pytest.raises(ValueError, match=r"repeated.csv:3: key 'passport Имя' appears twice"):
        load_prompt_collection(repeated)
