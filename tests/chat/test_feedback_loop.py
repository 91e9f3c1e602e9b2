"""Rated chat answers become an evaluation task: rate three answers (real SmolLM2), materialize the
feedback asset with the real `dagster` CLI, evaluate the task with `vlmbench run`, and find it on the
leaderboard next to the document tasks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.chat.conftest import REPO_ROOT, chat_environment, seed_site
from tests.pipeline.conftest import run_vlmbench

QUESTIONS = [
    "What is the warranty period of the ZX-900 pump?",
    "Which invoice was paid on 12 March 2026?",
    "What is the maintenance code for the cooling unit?",
]


def test_rated_answers_become_a_task_that_vlmbench_evaluates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import dagster as dg

    from ui.engine import ChatEngine
    from vlm_pipelines.chat.store import Store

    data_dir = chat_environment(monkeypatch, tmp_path)
    handbook, _ = seed_site(data_dir)
    with dg.DagsterInstance.get() as instance:  # the app's ingestion ran as the Dagster job
        record = instance.get_latest_materialization_event(dg.AssetKey("knowledge_base_index"))
        assert record is not None and record.dagster_event.partition == "handbook"
        assert record.asset_materialization.metadata["documents"].value == 5
    store = Store(Store.default_url(data_dir))
    engine = ChatEngine(store, data_dir)
    answers = []
    for question in [*QUESTIONS, "Where is the Riverside office?"]:
        conversation = store.new_conversation("alice", handbook)
        reply = list(engine.ask("alice", conversation.id, question))[-1]
        answers.append(reply.message)
    for message in answers[:3]:
        store.rate_message("alice", message.id, 1)
    store.rate_message("alice", answers[3].id, -1)  # a thumbs-down is not a reference

    env = dict(os.environ)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "vlm_pipelines.definitions",
         "-a", "defs", "--select", "chat_feedback_tasks"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    task_file = data_dir / "tasks" / "chat_feedback_handbook_helper.yaml"
    task = yaml.safe_load(task_file.read_text(encoding="utf-8"))
    assert task["metrics"] == ["token_f1", "anls", "citation_match"]
    manifest = (
        (data_dir / "tasks" / "chat_feedback_handbook_helper" / "manifest.jsonl").read_text().splitlines()
    )
    assert len(manifest) == 3 and all("Source:" in line for line in manifest)  # the prompt, frozen
    records = [json.loads(line) for line in manifest]
    # The reference is what the user was given, without its citation marker: the model's own words, or the
    # sentence the chat quoted; the stored answer stays in metadata.
    from vlm_pipelines.chat import MODEL_SPAN

    own_words = [m.notes["answer"] == MODEL_SPAN for m in answers[:3]]
    assert any(own_words), [m.content for m in answers[:3]]
    assert [r["answers"] for r in records] == [[m.notes["answer_text"]] for m in answers[:3]]
    assert all(not re.search(r"\[\d+\]", m.notes["answer_text"]) for m in answers[:3])
    assert [r["metadata"]["answer"] for r in records] == [m.content for m in answers[:3]]

    code, out, err = run_vlmbench(
        ["run", "--model", "smollm2-135m", "--task", "chat_feedback_handbook_helper"], capsys
    )
    assert code == 0, err
    assert "3 computed" in out
    import polars as pl

    (metrics_file,) = (data_dir / "results" / "chat_feedback_handbook_helper" / "smollm2-135m").rglob(
        "sample_metrics.parquet"
    )
    table = pl.read_parquet(metrics_file)
    assert table.height == 3
    # The same model with the same prompt and settings gives back its own accepted words.
    # The same model, prompt and settings give back its own accepted words (the chat only trims them).
    reproduced = sum(score >= 0.8 for score in table["token_f1"].to_list())
    assert reproduced >= sum(own_words), table["token_f1"].to_list()
    assert 0.0 <= table["citation_match"].mean() <= 1.0
    board = (data_dir / "reports" / "leaderboard" / "leaderboard.md").read_text(encoding="utf-8")
    assert "## chat_feedback_handbook_helper" in board
