"""The benchmark catalogue (`vlm_pipelines.benchmarks`, `vlmbench benchmarks`) and its download path.

The Hub cannot be reached from here: downloads go to `tests/hub_stand_in.py`, a real HTTP server on
127.0.0.1 that answers as the Hub does, with `HF_ENDPOINT` pointed at it and the hub cache in tmp_path.
The served parquet is a synthetic 3-row fixture in DocVQA's schema (Pillow images), never real data.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image, ImageDraw

from tests.hub_stand_in import HubStandIn
from vlm_pipelines import benchmarks
from vlm_pipelines.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
VALIDATION = "DocVQA/validation-00000-of-00001.parquet"
TOKEN = "hf_standin_token"


def docvqa_parquet() -> bytes:
    """Three rows in lmms-lab/DocVQA's schema: images as {bytes, path} structs, answers as lists."""

    def png(text: str) -> bytes:
        image = Image.new("RGB", (160, 48), "white")
        ImageDraw.Draw(image).text((8, 16), text, fill="black")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()

    rows = [
        ("What is the total?", ["42.00"], "TOTAL 42.00"),
        ("Who signed the letter?", ["J. Smith", "John Smith"], "Signed J. Smith"),
        ("What is the date?", ["1 May 1999"], "Date 1 May 1999"),
    ]
    table = pa.table(
        {
            "questionId": [str(index) for index in range(len(rows))],
            "question": [question for question, _, _ in rows],
            "question_types": [["form"]] * len(rows),
            "image": [{"bytes": png(text), "path": f"doc{i}.png"} for i, (_, _, text) in enumerate(rows)],
            "docId": list(range(len(rows))),
            "ucsf_document_id": ["fixture"] * len(rows),
            "ucsf_document_page_no": ["1"] * len(rows),
            "answers": [answers for _, answers, _ in rows],
            "data_split": ["val"] * len(rows),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """The hub cache, HF home and VLMEvalKit data folder in tmp_path; no offline mode."""
    import huggingface_hub.constants

    for name, folder in (("HF_HUB_CACHE", "hub"), ("HF_HOME", "hf-home"), ("LMUData", "LMUData")):
        monkeypatch.setenv(name, str(tmp_path / folder))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # read by huggingface_hub at import: an HF_HUB_OFFLINE=1 inherited from the shell would refuse the download
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    return tmp_path


def test_download_from_the_hub_stand_in_lands_in_the_cache_and_the_listing_finds_it(
    hub_env, monkeypatch, capsys
):
    data = docvqa_parquet()
    files = {VALIDATION: data, "DocVQA/test-00000-of-00001.parquet": data, "README.md": b"# DocVQA\n"}
    with HubStandIn({"lmms-lab/DocVQA": files}, token=TOKEN) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        assert main(["benchmarks", "download", "docvqa_val"]) == 0
        commit = hub.commit("lmms-lab/DocVQA")
        hub_requests = [(method, path) for method, path, auth in hub.requests if "/datasets/" in path]
        authorizations = {auth for _, path, auth in hub.requests if "/datasets/" in path}

    shard = hub_env / "hub" / "datasets--lmms-lab--DocVQA" / "snapshots" / commit / VALIDATION
    assert shard.read_bytes() == data
    assert (hub_env / "hub" / "datasets--lmms-lab--DocVQA" / "refs" / "main").read_text() == commit
    snapshot = shard.parents[1]
    assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file()) == [VALIDATION]
    assert ("GET", "/api/datasets/lmms-lab/DocVQA/revision/main") in hub_requests
    assert ("GET", f"/datasets/lmms-lab/DocVQA/resolve/{commit}/{VALIDATION}") in hub_requests
    assert authorizations == {f"Bearer {TOKEN}"}
    out = capsys.readouterr().out
    assert (
        "docvqa_val: 1 file(s) of lmms-lab/DocVQA (config DocVQA), split validation in the hub cache" in out
    )
    assert "3 rows, expected 5349: a partial or different copy" in out
    assert f"--task docvqa_val --set dataset.path={shard}" in out

    assert main(["benchmarks"]) == 0
    listing = capsys.readouterr().out
    docvqa = listing.split("\ndocvqa_val ")[1].split("\ninfovqa_val ")[0]
    assert "here: hf parquet in hub cache, 3 rows, expected 5349: a partial or different copy:" in docvqa
    assert str(shard) in docvqa
    assert "download: vlmbench benchmarks download docvqa_val" in docvqa
    assert "hf download lmms-lab/DocVQA --repo-type dataset --include 'DocVQA/validation-*.parquet'" in docvqa
    assert "https://opencompass.openxlab.space/utils/VLMEval/DocVQA_VAL.tsv" in docvqa
    assert "reference: qwen2.5-vl-3b 92.54 on validation (±1), lmms-eval v0.4 release notes (hf)" in docvqa
    assert "here: not present" in listing.split("\ninfovqa_val ")[1].split("\nchartqa_test ")[0]

    assert main(["benchmarks", "list", "--json"]) == 0
    described = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert described["docvqa_val"]["present"] == [
        {
            "layout": "hf parquet",
            "where": "hub cache",
            "dataset_path": str(shard),
            "files": 1,
            "rows": 3,
            "complete": False,
        }
    ]
    assert described["chartqa_test"]["present"] == []


def test_download_into_a_folder_and_tsv_copies_are_found_there(hub_env, monkeypatch, capsys):
    target = hub_env / "benchmarks"
    (hub_env / "LMUData").mkdir()
    (hub_env / "LMUData" / "OCRBench.tsv").write_text("index\tquestion\n", encoding="utf-8")
    with HubStandIn({"lmms-lab/DocVQA": {VALIDATION: docvqa_parquet()}}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert main(["benchmarks", "download", "docvqa_val", "--to", str(target)]) == 0
    assert (target / VALIDATION).is_file()
    assert not (hub_env / "hub").exists()
    capsys.readouterr()

    assert main(["benchmarks", "--dir", str(target), "--json"]) == 0
    described = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert [(c["where"], c["dataset_path"], c["rows"]) for c in described["docvqa_val"]["present"]] == [
        ("folder", str(target / VALIDATION), 3)
    ]
    assert [(c["layout"], c["where"], c["rows"]) for c in described["ocrbench"]["present"]] == [
        ("vlmevalkit tsv", "VLMEvalKit data", None)
    ]


def test_an_unreachable_hub_is_one_clear_line(hub_env, monkeypatch, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert main(["benchmarks", "download", "docvqa_val"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(
        f"vlmbench: error: cannot download lmms-lab/DocVQA from http://127.0.0.1:{port} (ConnectError: "
    )
    assert (
        "`hf download lmms-lab/DocVQA --repo-type dataset --include 'DocVQA/validation-*.parquet'`"
        in captured.err
    )


def test_a_bad_flag_shows_the_subcommand_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmarks", "download", "docvqa_val", "--bogus"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("usage: vlmbench benchmarks download [-h] [--to DIR] NAME")


def test_the_catalogue_agrees_with_the_task_registry():
    for name, benchmark in benchmarks.BENCHMARKS.items():
        task = yaml.safe_load((REPO_ROOT / "registry" / "tasks" / f"{name}.yaml").read_text(encoding="utf-8"))
        assert task["dataset"]["expected"]["rows"] == benchmark.expected_rows, name
        assert benchmark.metrics[0] in task["metrics"], name
        assert benchmark.repo_id in task["description"] and benchmark.tsv_name in task["description"], name


def scores_file(tmp_path: Path, name: str, frame: pl.DataFrame) -> str:
    path = tmp_path / f"{name}.parquet"
    frame.write_parquet(path)
    return str(path)


def test_our_figures_next_to_the_references(tmp_path, capsys):
    docvqa = pl.DataFrame({"sample_id": ["a", "b", "c", "d"], "anls": [1.0, 0.9, 0.86, float("nan")]})
    hme = "Handwritten Mathematical Expression Recognition"
    ocr = pl.DataFrame(
        {
            "sample_id": ["1", "2", "3", "4"],
            "doc_type": ["Regular Text Recognition", hme, hme, "Doc-oriented VQA"],
            "ocrbench": [1.0, 0.0, 1.0, 0.0],
            "ocrbench_formula": [1.0, 1.0, 0.0, 0.0],
        }
    )
    summary = {
        "results": [
            {"model": "tiny-qwen2.5-vl", "task": "docvqa_val-1a2b3c4d",
             "per_sample_parquet": scores_file(tmp_path, "docvqa", docvqa)},
            {"model": "tiny-qwen2.5-vl", "task": "ocrbench", "per_sample_parquet": scores_file(tmp_path, "ocr", ocr)},
        ]
    }  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps(summary), encoding="utf-8")
    tasks = ["docvqa_val", "ocrbench", "chartqa_test"]
    figures = benchmarks.figures_from_summary([summary], None, tasks)
    assert figures["docvqa_val"] == (pytest.approx(92.0), 3)  # the NaN sample has no score
    assert figures["ocrbench"] == (pytest.approx(500.0), 4)  # each sample by its category's rule: 2 of 4

    rows = benchmarks.compare(figures, "qwen2.5-vl-3b", "hf", tasks)
    tolerance = {name: benchmark.tolerance for name, benchmark in benchmarks.BENCHMARKS.items()}
    verdicts = [
        (r.benchmark, r.reference.figure, r.reference.split, r.verdict(tolerance[r.benchmark])) for r in rows
    ]
    assert verdicts == [
        ("docvqa_val", 93.9, "test", "off (other split)"),
        ("docvqa_val", 92.54, "validation", "ok"),
        ("ocrbench", 791, "test", "off"),
        ("chartqa_test", 83.44, "test", "no result"),
    ]

    assert benchmarks.main(["compare", "--reference-model", "qwen2.5-vl-3b", "--backend", "vllm",
                            "--tasks", "docvqa_val", "--results", str(tmp_path / "results.json"),
                            "--stand-in", "the tiny random Qwen answered"]) == 0  # fmt: skip
    table = capsys.readouterr().out
    assert table.startswith("STAND-IN: the tiny random Qwen answered\n")
    assert (
        "| docvqa_val | 92 | 3 | 92.81 | validation | lmms-eval v0.4 release notes (vllm) | ±1 | ok |"
        in table
    )
    assert "92.54" not in table  # the hf reproduction is not this backend's


@pytest.mark.slow
def test_reproduce_sh_runs_the_tiny_stand_in_end_to_end(tmp_path, project_env):
    """bench/reproduce.sh on the 3-row fixture with the tiny random Qwen2.5-VL (no real weights here)."""
    fixture = tmp_path / "benchmarks"
    (fixture / VALIDATION).parent.mkdir(parents=True)
    (fixture / VALIDATION).write_bytes(docvqa_parquet())
    venv = REPO_ROOT / ".venv" / "bin"
    env = {
        **project_env,  # its own data folder and Dagster instance
        "VLMBENCH": str(venv / "vlmbench"),
        "PYTHON": str(venv / "python"),
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "LMUData": str(tmp_path / "LMUData"),
    }
    command = [str(REPO_ROOT / "bench" / "reproduce.sh"), "qwen2.5-vl-3b", "--tasks", "docvqa_val",
               "--limit", "2", "--dir", str(fixture), "--stand-in", "--out", str(tmp_path / "out")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.startswith("reproduce: STAND-IN: the tiny random Qwen2.5-VL (tiny-qwen2.5-vl) answered")
    assert f"reproduce: docvqa_val reads {fixture / VALIDATION}" in out
    row = next(line for line in out.splitlines() if line.startswith("| docvqa_val |") and "92.54" in line)
    ours, n = (cell.strip() for cell in row.split("|")[2:4])
    assert n == "2" and 0.0 <= float(ours) <= 100.0
