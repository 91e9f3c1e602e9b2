"""Issue 14, "Every number is one keyed record": the findings a new user saw, each pinned through the real
CLI (in process), the real `ocr-rules` model, the real archive and the definitions the Dagster UI loads.

Findings 6 (leaderboard freshness) and 9 (code versions per partition) are pinned next to `vlm_pipelines/defs`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.pipeline.conftest import demo_mini_copy
from tests.pipeline.conftest import run_vlmbench as main
from vlm_pipelines.evaluation import EvaluationPaths, dataset_record, load_manifest
from vlm_pipelines.evaluation.archive import RECORD, SCORES, ArchivedResult, list_results

TASK = "synth_vqa_en"
TASK_ROWS = 62  # synth_vqa_en's whole dataset: 8 synthetic documents, one question per field
VARIANT_PARAM = ["--model-param", "label_score_cutoff=60"]  # a valid ocr-rules param that keeps the engine
HEX12 = re.compile(r"[0-9a-f]{12}")

pytestmark = pytest.mark.requires("tesseract")


# --- helpers ---------------------------------------------------------------------------------------


def paths() -> EvaluationPaths:
    return EvaluationPaths(Path(os.environ["VLMBENCH_DATA_DIR"]))


def run(args: list[str], capsys) -> tuple[str, str, str]:
    """`vlmbench run ARGS --quiet`, which must succeed: (model entry, task, result id) as the CLI printed them."""
    code, out, err = main(["run", "--model", "ocr-rules", *args, "--quiet"], capsys)
    assert code == 0, out + err
    model, task = re.match(r"vlmbench run: (\S+) on (\S+)\n", out).groups()
    result_id = re.search(r"^result ([0-9a-f]{16}): ", out, re.MULTILINE).group(1)
    return model, task, result_id


def archived() -> dict[str, ArchivedResult]:
    """Every archived result by result id."""
    return {result.record.result_id: result for result in list_results(paths().results)}


def board_section(task: str) -> dict:
    board = json.loads((paths().leaderboard / "leaderboard.json").read_text(encoding="utf-8"))
    return next(section for section in board["sections"] if section["task"] == task)


def runs_of(result: ArchivedResult) -> list[tuple[int, int]]:
    """(computed, reused) of each predictions run of the result's manifest."""
    record = result.record
    manifest = load_manifest(paths(), record.model_name, record.task, record.manifest_id)
    return [(figures.computed, figures.reused) for figures in manifest.runs]


# --- finding 1: a run option never changes the stored dataset ---------------------------------------


def test_max_samples_selects_at_prediction_time_and_a_full_run_keeps_both_results(
    project_env, capsys
) -> None:
    # Issue 14: after `run --max-samples 8` a run with no limit computed nothing, reused 8 and replaced the
    # 62-sample result with an 8-sample one.
    _, _, eight_id = run(["--task", TASK, "--max-samples", "8"], capsys)
    stored = pl.read_parquet(paths().dataset(TASK) / "samples.parquet")
    assert stored.height == dataset_record(TASK, paths()).rows == TASK_ROWS

    _, _, full_id = run(["--task", TASK], capsys)
    assert full_id != eight_id
    results = archived()
    assert set(results) == {eight_id, full_id}
    eight, full = results[eight_id], results[full_id]
    assert (eight.record.n, eight.sample_metrics.height) == (8, 8)
    assert (full.record.n, full.sample_metrics.height) == (TASK_ROWS, TASK_ROWS)
    assert eight.record.sample_set.selection == "first 8 by sample_id"
    assert full.record.sample_set.selection == "all"
    assert set(eight.record.sample_set.sample_ids) < set(full.record.sample_set.sample_ids)
    assert runs_of(full) == [(TASK_ROWS - 8, 8)]  # the 8 answers are reused, the rest computed
    assert pl.read_parquet(paths().dataset(TASK) / "samples.parquet").height == TASK_ROWS

    section = board_section(TASK)
    assert [(row["result"], row["n"]) for row in section["rows"]] == [(full_id, TASK_ROWS)]
    assert [(row["result"], row["n"]) for row in section["others"]] == [(eight_id, 8)]


# --- finding 2: overrides are entries of their own ---------------------------------------------------


def test_gen_and_set_overrides_keep_their_own_entries_and_results(project_env, capsys) -> None:
    # Issue 14: results were kept by params hash only, so runs differing by --gen or --set replaced each
    # other's stored results.
    base = ["--task", TASK, "--max-samples", "3"]
    made = {
        "base": run(base, capsys),
        "gen 16": run([*base, "--gen", "max_new_tokens=16"], capsys),
        "gen 24": run([*base, "--gen", "max_new_tokens=24"], capsys),
        "set 32": run([*base, "--set", "generation.max_new_tokens=32"], capsys),
    }
    assert made["base"][:2] == ("ocr-rules", TASK)
    for label in ("gen 16", "gen 24"):
        model, task, _ = made[label]
        assert re.fullmatch(r"ocr-rules-[0-9a-f]{8}", model) and task == TASK
        assert (paths().root / "models" / f"{model}.yaml").exists()
    assert made["gen 16"][0] != made["gen 24"][0]
    model, task, _ = made["set 32"]
    assert model == "ocr-rules" and re.fullmatch(rf"{TASK}-[0-9a-f]{{8}}", task)
    assert (paths().root / "tasks" / f"{task}.yaml").exists()

    results = archived()
    ids = [result_id for _, _, result_id in made.values()]
    assert len(set(ids)) == 4 and set(results) == set(ids)
    assert len({results[result_id].folder for result_id in ids}) == 4
    tokens = {label: results[made[label][2]].record.generation["max_new_tokens"] for label in made}
    assert tokens == {"base": 48, "gen 16": 16, "gen 24": 24, "set 32": 32}

    assert run([*base, "--gen", "max_new_tokens=16"], capsys) == made["gen 16"]  # the same entry again
    assert set(archived()) == set(ids)


# --- finding 3: task names are unique ---------------------------------------------------------------


def test_set_name_to_another_task_is_a_one_line_error_that_leaves_that_task_alone(
    project_env, capsys
) -> None:
    # Issue 14: `run --task demo_mini_vqa --set name=synth_vqa_en` replaced synth_vqa_en's dataset, and the
    # leaderboard's synth_vqa_en section showed demo_mini's score.
    _, _, result_id = run(["--task", TASK, "--max-samples", "3"], capsys)
    folder = paths().dataset(TASK)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    result = archived()[result_id]
    record_before = (result.folder / RECORD).read_bytes()
    board_before = board_section(TASK)

    code, out, err = main(
        ["run", "--model", "ocr-rules", "--task", "demo_mini_vqa", "--set", f"name={TASK}"], capsys
    )
    assert code == 2
    assert err.startswith(
        f"vlmbench: error: --set name={TASK}: task '{TASK}' already exists with other settings"
    )
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "vlmbench run:" not in out  # nothing ran

    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert not (paths().root / "tasks" / f"{TASK}.yaml").exists()
    assert not paths().dataset("demo_mini_vqa").exists()
    assert set(archived()) == {result_id} and (result.folder / RECORD).read_bytes() == record_before
    assert board_section(TASK) == board_before


# --- finding 4: speed belongs to its key ------------------------------------------------------------


def test_speed_figures_belong_to_the_key_and_the_runs_that_computed_its_answers(project_env, capsys) -> None:
    # Issue 14: a fully reused rerun was listed at another run's speed, and a rerun that computed a few
    # samples replaced the figures.
    base = ["--task", TASK, "--max-samples", "4"]
    _, _, first_id = run(base, capsys)
    first = archived()[first_id].record
    variant, _, variant_id = run([*base, *VARIANT_PARAM], capsys)
    _, _, rerun_id = run(base, capsys)  # every answer reused

    assert rerun_id == first_id
    results = archived()
    rerun, other = results[first_id], results[variant_id]
    assert runs_of(rerun) == [(4, 0), (0, 4)]
    assert rerun.record.speed == first.speed  # a run that computed nothing measures nothing
    assert (rerun.record.speed.computed, rerun.record.speed.runs) == (4, 1)
    assert runs_of(other) == [(4, 0)] and other.record.manifest_id != first.manifest_id
    rows = {row["model"]: row for row in board_section(TASK)["rows"]}
    assert rows["ocr-rules"]["samples/s"] == first.speed.samples_per_s
    assert rows[variant]["samples/s"] == other.record.speed.samples_per_s

    _, _, eight_id = run(["--task", TASK, "--max-samples", "8"], capsys)  # 4 answers stored, 4 new
    eight = archived()[eight_id]
    manifest = load_manifest(paths(), "ocr-rules", TASK, eight.record.manifest_id)
    assert runs_of(eight) == [(4, 4)]
    assert (eight.record.speed.computed, eight.record.speed.runs) == (4, 1)
    assert eight.record.speed.samples_per_s == pytest.approx(4 / manifest.runs[0].generate_s)
    assert archived()[first_id].record.speed == first.speed


def test_a_sample_set_whose_answers_are_all_stored_is_evaluated_with_no_speed_measured(
    project_env, capsys
) -> None:
    # Issue 14: speed figures come from the runs that computed the key's answers; a new sample set whose
    # answers were all computed by an earlier run (here the first 2 of 4) has none, and says so.
    run(["--task", TASK, "--max-samples", "4"], capsys)
    _, _, subset_id = run(["--task", TASK, "--max-samples", "2"], capsys)
    subset = archived()[subset_id]
    assert runs_of(subset) == [(0, 2)]
    speed = subset.record.speed
    assert (speed.computed, speed.runs, speed.samples_per_s, speed.end_to_end_samples_per_s) == (
        0,
        0,
        None,
        None,
    )
    assert (paths().report("ocr-rules", TASK) / "report.md").exists()


# --- finding 5: the leaderboard compares like with like ----------------------------------------------


def test_results_on_different_sample_sets_are_never_ranked_together(project_env, capsys) -> None:
    # Issue 14: with 62 vs 14 samples the leaderboard called one model "best"; the paired comparison on the
    # shared samples found no difference.
    _, _, ranked_id = run(["--task", TASK, "--max-samples", "8"], capsys)
    variant, _, apart_id = run(["--task", TASK, "--max-samples", "4", *VARIANT_PARAM], capsys)
    dataset = dataset_record(TASK, paths()).hash[:12]

    section = board_section(TASK)
    assert [(row["model"], row["n"], row["result"]) for row in section["rows"]] == [
        ("ocr-rules", 8, ranked_id)
    ]
    assert section["best"] == "ocr-rules" and section["comparisons"] == []
    [apart] = section["others"]
    assert (apart["model"], apart["n"], apart["result"]) == (variant, 4, apart_id)
    assert apart["why apart"] == "another sample set (first 4 by sample_id): not comparable, not ranked"
    assert HEX12.fullmatch(dataset) and section["rows"][0]["dataset"] == apart["dataset"] == dataset

    _, _, same_set_id = run(["--task", TASK, "--max-samples", "8", *VARIANT_PARAM], capsys)
    section = board_section(TASK)
    assert sorted((row["model"], row["n"]) for row in section["rows"]) == [("ocr-rules", 8), (variant, 8)]
    assert [({c["best"], c["other"]}, c["n"]) for c in section["comparisons"]] == [
        ({"ocr-rules", variant}, 8)
    ]
    assert [(row["model"], row["n"], row["result"]) for row in section["others"]] == [(variant, 4, apart_id)]
    assert same_set_id not in {row["result"] for row in section["others"]}


def test_each_leaderboard_row_shows_the_dataset_its_own_result_was_scored_on(
    project_env, capsys, tmp_path
) -> None:
    # Issue 14: one dataset hash, the first model's, was printed for all rows.
    folder = demo_mini_copy(tmp_path / "demo_mini")
    _, task, old_id = run(["--dataset", str(folder), "--max-samples", "3"], capsys)
    old_hash = dataset_record(task, paths()).hash
    with (folder / "annotation.csv").open("a", encoding="utf-8") as handle:  # the dataset changes
        handle.write("99;test;images/1.jpg;Напиши Фамилия владельца;Карбаинов;passport;Фамилия;\n")
    variant, same_task, new_id = run(["--dataset", str(folder), "--max-samples", "3", *VARIANT_PARAM], capsys)
    new_hash = dataset_record(task, paths()).hash
    assert same_task == task and new_hash != old_hash

    results = archived()
    assert results[old_id].record.sample_set.dataset_hash == old_hash
    assert results[new_id].record.sample_set.dataset_hash == new_hash
    section = board_section(task)
    assert [(row["model"], row["dataset"]) for row in section["rows"]] == [(variant, new_hash[:12])]
    assert [(row["model"], row["dataset"], row["result"]) for row in section["others"]] == [
        ("ocr-rules", old_hash[:12], old_id)
    ]
    assert section["others"][0]["why apart"].startswith("another sample set")


# --- finding 7: a first-run failure is visible ------------------------------------------------------


def test_a_dataset_failing_its_blocking_check_on_its_first_run_is_a_failed_leaderboard_section(
    project_env, capsys, tmp_path
) -> None:
    # Issue 14: a task whose blocking check failed on its first run was absent from the leaderboard.
    missing = [f"{90 + i};test;images/gone{i}.jpg;Напиши Номер;1;invoice;Номер;" for i in range(30)]
    folder = demo_mini_copy(tmp_path / "demo_mini", missing)
    code, out, err = main(["run", "--model", "ocr-rules", "--dataset", str(folder), "--quiet"], capsys)
    assert code == 1, out + err
    task = re.match(r"vlmbench run: ocr-rules on (\S+)\n", out).group(1)
    assert f"FAIL dataset {task}" in out and "ok   leaderboard" in out
    assert archived() == {}

    section = board_section(task)
    assert section["failed"].startswith("quarantine_share: 30 of 52 rows quarantined (57.7%; bound 20%)")
    assert section["rows"] == [] and section["best"] == ""
    markdown = (paths().leaderboard / "leaderboard.md").read_text(encoding="utf-8")
    assert "Dataset failed its blocking check; results not ranked." in markdown


# --- finding 8: the CLI and the UI see one set of definitions ----------------------------------------


def test_the_ui_definitions_hold_and_rerun_the_partitions_the_cli_evaluated(
    project_env, capsys, tmp_path
) -> None:
    # Issue 14: --dataset tasks and --model-param variants landed on partitions the UI did not show.
    from vlm_pipelines.definitions import build_definitions

    variant, _, variant_result = run(["--task", TASK, *VARIANT_PARAM], capsys)
    _, dataset_task, dataset_result = run(["--dataset", str(demo_mini_copy(tmp_path / "demo_mini"))], capsys)
    before = {result_id: result.record.means for result_id, result in archived().items()}
    assert set(before) == {variant_result, dataset_result}

    defs = build_definitions()  # what `vlmbench dev` loads: the registries, with this data folder's entries
    evaluate, datasets = defs.resolve_job_def("evaluate"), defs.resolve_job_def("datasets")
    rerun = {}
    with dg.DagsterInstance.get() as instance:
        assert f"{variant}|{TASK}" in evaluate.partitions_def.get_partition_keys(
            dynamic_partitions_store=instance
        )
        assert f"ocr-rules|{dataset_task}" in evaluate.partitions_def.get_partition_keys(
            dynamic_partitions_store=instance
        )
        assert dataset_task in datasets.partitions_def.get_partition_keys(dynamic_partitions_store=instance)
        assert datasets.execute_in_process(partition_key=dataset_task, instance=instance).success
        for model, task in ((variant, TASK), ("ocr-rules", dataset_task)):
            result = evaluate.execute_in_process(
                partition_key=dg.MultiPartitionKey({"model": model, "task": task}), instance=instance
            )
            assert result.success
            [materialization] = result.asset_materializations_for_node("sample_metrics")
            rerun[(model, task)] = materialization.metadata["result_id"].value

    assert rerun == {(variant, TASK): variant_result, ("ocr-rules", dataset_task): dataset_result}
    assert {result_id: result.record.means for result_id, result in archived().items()} == before


# --- legacy results ---------------------------------------------------------------------------------


def test_a_legacy_result_folder_is_rekeyed_on_first_read_and_stays_on_the_leaderboard(
    project_env, capsys
) -> None:
    # Issue 14: existing `.vlmbench/` folders keep working; results of the old
    # `<task>/<model>/<version>/<params hash>/` layout are re-keyed on first read.
    _, _, original_id = run(["--task", TASK, "--max-samples", "3"], capsys)
    original = archived()[original_id]
    legacy = paths().results / TASK / "ocr-rules" / "0.1.0" / "abcd1234abcd1234"
    legacy.mkdir(parents=True)
    original.sample_metrics.drop("result_id", "sample_set").write_parquet(legacy / SCORES)
    shutil.rmtree(original.folder)  # a data folder written before results were records

    _, _, newer_id = run(["--task", TASK, "--max-samples", "4"], capsys)  # its leaderboard reads the archive
    assert not legacy.parent.exists()
    results = archived()
    [migrated] = [result for result_id, result in results.items() if result_id != newer_id]
    assert migrated.folder == paths().results / TASK / "ocr-rules" / migrated.record.result_id
    assert sorted(path.name for path in migrated.folder.iterdir()) == [RECORD, SCORES]
    record = migrated.record
    assert record.migrated_from == str(legacy)
    assert record.key == original.record.key
    assert record.sample_set.sample_ids == original.record.sample_set.sample_ids
    assert record.sample_set.dataset_hash == original.record.sample_set.dataset_hash
    assert (record.n, record.means) == (3, original.record.means)
    assert set(archived()) == set(results)  # a second read moves nothing

    section = board_section(TASK)
    listed = {row["result"]: row for row in section["rows"] + section["others"]}
    assert listed[record.result_id]["n"] == 3
    assert listed[record.result_id]["anls"] == original.record.means["anls"]
