"""The embedded instance's compute logs: Dagster's local ones, mirrored to the terminal by a thread.

Dagster's `LocalComputeLogManager` points a run's stdout and stderr at files (the UI's stdout and stderr
tabs) and, on POSIX, copies each file back to the terminal with a `tail -F` process and a Python process that
kills the tail if the run's process dies: four processes started and stopped for every run (31 ms of CPU and
40 ms of the run's time, measured), and lines printed just before the end can be lost (dagster-io/dagster
#23336; docs/benchmarks.md). This manager writes the same files in the same folders, and a thread of
the run's own process copies what lands in them to where the output went before; it ends with the capture,
or with the process, so nothing is left behind. `dagster.yaml` names it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

from dagster import Field, Float, StringSource
from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager

MIRROR_POLL_S = 0.05  # how often the thread looks for new output while the run goes on


class ThreadMirroredComputeLogManager(LocalComputeLogManager):
    """`LocalComputeLogManager` with the mirror in a thread. `base_dir` defaults to Dagster's own choice,
    `$DAGSTER_HOME/storage`, so an instance folder keeps showing the logs its runs wrote before."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            "base_dir": Field(StringSource, is_required=False),
            "polling_timeout": Field(Float, is_required=False),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> ThreadMirroredComputeLogManager:
        if "base_dir" in config_value:
            return cls(inst_data=inst_data, **config_value)
        home = os.environ.get("DAGSTER_HOME")
        if not home:
            raise RuntimeError(
                "dagster.yaml: compute_logs: set config.base_dir, or DAGSTER_HOME for its default"
                " ($DAGSTER_HOME/storage)"
            )
        return cls(inst_data=inst_data, base_dir=str(Path(home) / "storage"), **config_value)

    @contextmanager
    def capture_logs(self, log_key) -> Iterator[CapturedLogContext]:
        with ExitStack() as captures:
            for stream, io_type in ((sys.stdout, ComputeIOType.STDOUT), (sys.stderr, ComputeIOType.STDERR)):
                path = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[io_type])
                captures.enter_context(captured_and_mirrored(stream, Path(path)))
            yield CapturedLogContext(log_key)
        Path(self.complete_artifact_path(log_key)).touch()  # the UI's sign that the capture is complete


@contextmanager
def captured_and_mirrored(stream: IO[str], path: Path) -> Iterator[None]:
    """Points `stream`'s file descriptor at `path` (appending) for the block, so that what the process and its
    children write there lands in the file, and copies the file's new bytes to where the descriptor pointed
    before. A stream without a descriptor (a test's captured output) is left alone, as Dagster leaves it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        yield
        return
    before = os.dup(descriptor)
    done = threading.Event()
    mirror = threading.Thread(target=_copy_as_written, args=(path, before, done), name="compute-log-mirror")
    mirror.daemon = True
    mirror.start()
    try:
        stream.flush()
        with path.open("ab") as capture:
            os.dup2(capture.fileno(), descriptor)
            try:
                yield
            finally:
                stream.flush()
                os.dup2(before, descriptor)
    finally:
        done.set()
        mirror.join()
        os.close(before)


def _copy_as_written(path: Path, out: int, done: threading.Event) -> None:
    """Copies `path` to descriptor `out` from its start as it grows, until `done` is set and all is copied."""
    with path.open("rb") as source:
        while True:
            # taken before reading, so the last read sees all that came before `done`
            finished = done.is_set()
            chunk = source.read(1 << 16)
            if chunk:
                view = memoryview(chunk)
                while view:
                    try:
                        view = view[os.write(out, view) :]
                    except OSError:  # the terminal went away: the file keeps everything
                        return
            elif finished:
                return
            else:
                done.wait(MIRROR_POLL_S)
