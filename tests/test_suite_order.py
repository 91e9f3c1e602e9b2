"""The suite hands out its slowest files first (conftest.py's ordering from tests/file_durations.json), and
`--store-file-durations` writes what a run measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DURATIONS_VARIABLE = "VLMBENCH_TEST_DURATIONS"  # conftest.py reads and writes the file it names
FOLDERS = ["tests/readers", "tests/reports", "tests/metrics"]


def _collected_files() -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-n", "0", *FOLDERS],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    files = [line.split("::")[0] for line in done.stdout.splitlines() if "::" in line]
    pieces = [path for index, path in enumerate(files) if index == 0 or files[index - 1] != path]
    assert len(pieces) == len(set(pieces)), "a file's tests were split apart"
    return pieces


def test_files_are_collected_slowest_first_each_in_one_piece():
    seconds = json.loads((REPO / "tests" / "file_durations.json").read_text(encoding="utf-8"))
    files = _collected_files()
    known = [path for path in files if path in seconds]
    assert len(known) >= 3, files
    assert [seconds[path] for path in known] == sorted((seconds[path] for path in known), reverse=True)


def test_store_file_durations_writes_every_file_it_ran(tmp_path):
    durations = tmp_path / "file_durations.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "--store-file-durations",
         "tests/test_components.py"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, DURATIONS_VARIABLE: str(durations)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    written = json.loads(durations.read_text(encoding="utf-8"))
    assert list(written) == ["tests/test_components.py"] and written["tests/test_components.py"] > 0
