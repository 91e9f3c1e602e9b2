"""A real `vlmbench serve` process for the service tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.processes import free_port, stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_service(
    args: list[str], env: dict[str, str] | None = None, timeout_s: float = 120
) -> Iterator[str]:
    """Starts `vlmbench serve ARGS --port P` in its own process group; yields its API root (…/v1)."""
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"vlmbench-serve-{port}.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "vlm_pipelines.cli", "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT, env=env or dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"vlmbench serve exited with {process.returncode}: {log.read()[-3000:]}")
            try:
                if httpx.get(f"{root}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"vlmbench serve did not answer /health within {timeout_s} s")
            time.sleep(0.3)
        yield f"{root}/v1"
    finally:
        stop_process_group(process)
        log.close()
