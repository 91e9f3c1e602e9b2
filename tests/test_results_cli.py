"""`vlmbench results`: list, show, compare and export past results, read from a results archive that a real
run of two cheap models (ocr-rules, tiny-qwen2.5-vl) on four СНИЛС samples made."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.conftest import SAMPLE_DATA
from vlm_pipelines import cli
from vlm_pipelines.aggregate import group_scores, paired_difference
from vlm_pipelines.evaluation.archive import ArchivedResult, archive_result, list_results
from vlm_pipelines.results import ResultLookupError, compare, resolve

REPO_ROOT = SAMPLE_DATA.parents[1]


def _vlmbench(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(args)
        except SystemExit as stop:
            code = stop.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict[str, ArchivedResult]:
    """The archive of `vlmbench run --model ocr-rules,tiny-qwen2.5-vl --task snils_vqa --limit 4`, by model."""
    root = tmp_path_factory.mktemp("results_cli")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_bytes((REPO_ROOT / "dagster.yaml").read_bytes())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMBENCH_DATA_DIR", str(root / "data"))
        patch.setenv("DAGSTER_HOME", str(dagster_home))
        code, out, err = _vlmbench(
            ["run", "--model", "ocr-rules,tiny-qwen2.5-vl", "--task", "snils_vqa", "--limit", "4", "--quiet"]
        )
        assert code == 0, out + err
        yield {result.model_name: result for result in list_results(root / "data" / "results")}


@pytest.fixture
def data_dir(archive, monkeypatch) -> Path:
    folder = next(iter(archive.values())).folder.parents[3]
    monkeypatch.setenv("VLMBENCH_DATA_DIR", str(folder))
    return folder


def test_list_shows_each_result_with_its_key_and_main_score(archive, data_dir) -> None:
    code, out, err = _vlmbench(["results", "list"])
    assert code == 0, err
    assert out.startswith("| task | model | version | n | main score | date | key |")
    for model, result in archive.items():
        anls = result.record.means["anls"]
        assert f"| snils_vqa | {model} | {result.record.key.package_version} | 4 | anls {anls:.3f} |" in out
        assert f"| {result.record.result_id} |" in out
    code, out, _ = _vlmbench(["results", "list", "--model", "ocr-rules", "--all"])
    assert archive["ocr-rules"].record.result_id in out
    assert archive["tiny-qwen2.5-vl"].record.result_id not in out
    code, out, _ = _vlmbench(["results", "list", "--task", "no_such_task"])
    assert code == 0 and "no results" in out


def test_show_prints_the_record_with_intervals_and_file_paths(archive, data_dir) -> None:
    result = archive["ocr-rules"]
    code, out, err = _vlmbench(["results", "show", result.record.result_id[:6], "--json"])
    assert code == 0, err
    shown = json.loads(out)
    assert shown["key"] == result.record.result_id
    assert shown["key parts"]["config_hash"] == result.record.key.config_hash
    assert shown["resolved settings"] == result.record.model.resolved
    assert (shown["n"], shown["quarantined"]) == (4, 0)
    expected = group_scores(result.sample_metrics, ["anls", "exact_match", "cer"], by=[])
    for row in expected.iter_rows(named=True):
        assert shown["metrics"][row["metric"]] == {k: row[k] for k in ("mean", "ci_low", "ci_high", "n")}
    assert Path(shown["per-sample records"]) == result.folder / "sample_metrics.parquet"
    assert Path(shown["report"]).is_file()
    code, text, _ = _vlmbench(["results", "show", result.record.result_id])
    assert f"per-sample records: {result.folder / 'sample_metrics.parquet'}" in text


@pytest.mark.parametrize("metric", ["anls", "cer"])
def test_compare_gives_the_paired_tests_numbers(archive, data_dir, metric) -> None:
    a, b = archive["ocr-rules"], archive["tiny-qwen2.5-vl"]
    code, out, err = _vlmbench(
        ["results", "compare", a.record.result_id, b.record.result_id, "--metric", metric]
    )
    assert code == 0, err
    direct = paired_difference(a.sample_metrics, b.sample_metrics, metric, higher_is_better=metric != "cer")
    assert f"{metric} on {direct.n} shared samples" in out and direct.n == 4
    assert (
        f"mean difference A - B {direct.diff:+.4f}, 95% CI [{direct.ci_low:+.4f}, {direct.ci_high:+.4f}]"
        in out
    )
    assert f"p-value {direct.p_value:.4f} ({direct.method})" in out
    scores = a.sample_metrics.join(b.sample_metrics, on="sample_id", suffix="_b")
    diff = scores[metric].to_numpy() - scores[f"{metric}_b"].to_numpy()
    a_better, b_better = (diff > 0).sum(), (diff < 0).sum()
    if metric == "cer":
        a_better, b_better = b_better, a_better
    assert f"samples: A better {a_better}, B better {b_better}, equal {(diff == 0).sum()}" in out


def test_an_unknown_or_ambiguous_key_is_one_line(archive, data_dir, tmp_path) -> None:
    code, _, err = _vlmbench(["results", "show", "zzzz"])
    assert code == 2 and err.count("\n") == 1 and "no result with key 'zzzz'" in err
    # Two keys sharing a prefix: a copy of a real result re-keyed by hand (result ids are hashes, so two
    # real ones share a prefix only by chance).
    result = archive["ocr-rules"]
    twin_id = result.record.result_id[:-1] + ("0" if result.record.result_id[-1] != "0" else "1")
    root = tmp_path / "results"
    archive_result(root, result.record, result.sample_metrics)
    archive_result(root, result.record.model_copy(update={"result_id": twin_id}), result.sample_metrics)
    with pytest.raises(ResultLookupError) as error:
        resolve(root, result.record.result_id[:-1])
    assert str(error.value).startswith(f"result key {result.record.result_id[:-1]!r} is ambiguous: ")
    assert result.record.result_id in str(error.value) and twin_id in str(error.value)
    assert resolve(root, result.record.result_id).record.result_id == result.record.result_id


def _read_back(path: Path, fmt: str) -> pl.DataFrame:
    if fmt == "parquet":
        return pl.read_parquet(path)
    if fmt == "jsonl":
        return pl.read_ndjson(path)
    frame = pl.read_csv(path, infer_schema=False)  # all text: ids stay ids
    return frame.with_columns(
        pl.col("anls", "exact_match", "cer").cast(pl.Float64),
        pl.col("answers").map_elements(json.loads, return_dtype=pl.List(pl.String)),
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_round_trips_the_per_sample_scores(archive, data_dir, tmp_path, fmt) -> None:
    keys = [result.record.result_id for result in archive.values()]
    out = tmp_path / f"export.{fmt}"
    code, stdout, err = _vlmbench(["results", "export", *keys, "--out", str(out)])
    assert code == 0, err
    assert f"wrote 8 per-sample records of 2 result(s) to {out}" in stdout
    exported = _read_back(out, fmt)
    columns = [
        "result_id",
        "sample_id",
        "answers",
        "prediction_raw",
        "prediction",
        "anls",
        "exact_match",
        "cer",
    ]
    stored = pl.concat([result.sample_metrics.select(columns) for result in archive.values()])
    assert (
        exported.select(columns).sort("result_id", "sample_id").to_dicts()
        == stored.sort("result_id", "sample_id").to_dicts()
    )
    assert np.isfinite(exported["cer"].to_numpy()).all()


def test_export_needs_a_known_format(archive, data_dir, tmp_path) -> None:
    key = archive["ocr-rules"].record.result_id
    code, _, err = _vlmbench(["results", "export", key, "--out", str(tmp_path / "scores.xlsx")])
    assert code == 2 and "give --format csv, jsonl or parquet" in err
    code, _, _ = _vlmbench(["results", "export", key, "--out", str(tmp_path / "scores"), "--format", "csv"])
    assert code == 0 and (tmp_path / "scores").is_file()


def test_the_results_core_imports_without_dagster() -> None:
    check = (
        "import sys, vlm_pipelines.results, vlm_pipelines.evaluation.steps; "
        "sys.exit(any(name.split('.')[0] == 'dagster' for name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO_ROOT, env=dict(os.environ), timeout=120)
    assert done.returncode == 0


def test_compare_refuses_other_gold_and_names_what_else_differs(archive, tmp_path) -> None:
    a, b = archive["ocr-rules"], archive["tiny-qwen2.5-vl"]
    root = tmp_path / "results"
    other_data = b.record.sample_set.model_copy(update={"dataset_hash": "0" * 16})
    relabelled = archive_result(
        root, b.record.model_copy(update={"sample_set": other_data}), b.sample_metrics
    )
    with pytest.raises(ResultLookupError, match=r"another dataset .* other gold answers"):
        compare(a, relabelled)

    # B scored one sample fewer, under another task config: compared on the 3 shared samples, with both noted.
    kept = sorted(b.record.sample_set.sample_ids)[:-1]
    fewer = b.record.sample_set.model_copy(update={"sample_ids": tuple(kept), "task_hash": "f" * 16})
    scores = b.sample_metrics.filter(pl.col("sample_id").is_in(kept))
    subset = archive_result(root, b.record.model_copy(update={"sample_set": fewer}), scores)
    compared = compare(a, subset, "anls")
    direct = paired_difference(a.sample_metrics, scores, "anls", higher_is_better=True)
    assert compared.paired.n == direct.n == 3 and compared.paired.diff == direct.diff
    assert any("task configs differ" in note for note in compared.notes)
    assert any("1 only in A and 0 only in B" in note for note in compared.notes)
