"""A `vlmbench run` process ends once its work is written (issue 21: it spent 2 s in the garbage collector
after its last write): it leaves no process behind, loses none of its output, and exits within a bound
after its last write (the bound only catches a hang; no speed is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl

from tests.pipeline.conftest import REPO_ROOT

MODEL, TASK, SAMPLES = "ocr-rules", "synth_classification_en", 2
HANG_S = 60


def newest_write(*folders: Path) -> float:
    return max(path.stat().st_mtime for folder in folders for path in folder.rglob("*") if path.is_file())


def group_is_empty(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_run_leaves_nothing_behind_and_exits_after_its_last_write(project_env: dict[str, str]) -> None:
    data_dir, home = Path(project_env["VLMBENCH_DATA_DIR"]), Path(project_env["DAGSTER_HOME"])
    process = subprocess.Popen(  # as the console script runs it: `main()` without arguments
        [sys.executable, "-m", "vlm_pipelines.cli", "run", "--model", MODEL, "--task", TASK,
         "--max-samples", str(SAMPLES)],
        cwd=REPO_ROOT,
        env=project_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: whatever it starts stays in it
    )  # fmt: skip
    out, err = process.communicate(timeout=600)
    exited = time.time()
    assert process.returncode == 0, out + err
    assert "Warning" not in err, err  # no library warning on the console (Dagster's BetaWarning, twice a run)

    deadline = time.monotonic() + 30
    while not group_is_empty(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_is_empty(process.pid), "a process of the run outlived it"
    assert exited - newest_write(data_dir, home) < HANG_S

    # Nothing was lost on the way out: the piped (block-buffered) stdout up to its last line, the scores,
    # the report and the Dagster runs, all recorded as finished.
    assert out.rstrip().splitlines()[-1].startswith("Sample explorers: ")
    (scores,) = (data_dir / "results" / TASK / MODEL).glob("*/sample_metrics.parquet")
    assert pl.read_parquet(scores).height == SAMPLES
    assert (data_dir / "reports" / TASK / MODEL / "report.html").is_file()
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert runs and {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}


# A process of its own: freezing objects cannot be undone in the test worker.
COLLECTOR_DURING_A_LOAD = """
import gc, json
from vlm_pipelines.defs.runner import collector_paused_for_the_run

seen = {}
with collector_paused_for_the_run():  # a process that froze nothing: the collector stays on
    seen["unfrozen_process"] = gc.isenabled()
gc.freeze()  # as a CLI run does after its imports
frozen_before = gc.get_freeze_count()
with collector_paused_for_the_run():
    seen["during_the_load"] = gc.isenabled()
    weights = [[index] for index in range(50_000)]  # what the load keeps
seen["after_the_load"] = gc.isenabled()
seen["kept_objects_frozen"] = gc.get_freeze_count() - frozen_before >= len(weights)
try:
    with collector_paused_for_the_run():
        raise RuntimeError("the load failed")
except RuntimeError:
    seen["after_a_failed_load"] = gc.isenabled()
print(json.dumps(seen))
"""


def test_the_collector_is_off_while_a_cli_run_loads_its_model_and_on_after() -> None:
    done = subprocess.run(
        [sys.executable, "-c", COLLECTOR_DURING_A_LOAD],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=HANG_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "unfrozen_process": True,
        "during_the_load": False,
        "after_the_load": True,
        "kept_objects_frozen": True,
        "after_a_failed_load": True,
    }
