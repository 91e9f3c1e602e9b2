"""A throw-away PostgreSQL cluster for tests: initdb + pg_ctl on 127.0.0.1 (as the `postgres` user when
run as root), removed afterwards. The `postgres_url` fixture (tests/conftest.py) yields its SQLAlchemy URL."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.processes import free_port
from vlm_pipelines.components import postgres_bin_dir


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, the command runs as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--", *command]


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    binaries = Path(postgres_bin_dir() or "/nonexistent")
    root = Path(tempfile.mkdtemp(prefix="vlmbench-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]),
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    options = f"-p {port} -k {root} -h 127.0.0.1"
    subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start"]),
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(root, ignore_errors=True)
