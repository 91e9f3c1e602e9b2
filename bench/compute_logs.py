"""Dagster's compute-log capture against the embedded instance's (`vlm_pipelines/defs/compute_logs.py`): the
cost of one capture (a run makes one) and how many of its lines reach the terminal.

    uv run python bench/compute_logs.py dagster 2>dagster.err; uv run python bench/compute_logs.py thread

Each capture prints one line to stdout and one to stderr. The figures go to stderr, after the mirrored lines;
count the `err N` lines there to see how many reached the terminal.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_seconds() -> tuple[float, float]:
    """(this process, its reaped children)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manager", choices=["dagster", "thread"])
    parser.add_argument("--captures", type=int, default=50)
    options = parser.parse_args()
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="compute-logs-home-"))
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    from vlm_pipelines.defs.compute_logs import ThreadMirroredComputeLogManager

    folder = tempfile.mkdtemp(prefix="compute-logs-")
    manager = (LocalComputeLogManager if options.manager == "dagster" else ThreadMirroredComputeLogManager)(
        folder
    )
    started, (own, children) = time.perf_counter(), cpu_seconds()
    for number in range(options.captures):
        with manager.capture_logs(["run", f"capture{number}"]):
            print(f"line {number}")
            sys.stderr.write(f"err {number}\n")
    wall, (own_after, children_after) = time.perf_counter() - started, cpu_seconds()
    per = 1000 / options.captures
    print(
        f"{options.manager}: per capture {wall * per:.1f} ms wall, {(own_after - own) * per:.1f} ms CPU here, "
        f"{(children_after - children) * per:.1f} ms CPU in helper processes",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
