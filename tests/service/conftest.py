"""Real servers for the service tests: a `vlmbench serve` process, or an app served by uvicorn in a thread
of the test process; a client that leaves; what /metrics says."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import free_port, stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[2]


def service_log(port: int | str) -> Path:
    """Where `running_service` keeps the output of the server on `port` while it runs."""
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"vlmbench-serve-{port}.log"


@contextlib.contextmanager
def running_service(
    args: list[str], env: dict[str, str] | None = None, timeout_s: float = 120
) -> Iterator[str]:
    """Starts `vlmbench serve ARGS --port P` in its own process group; yields its API root (…/v1)."""
    port = free_port()
    log = open(service_log(port), "w+")  # noqa: SIM115
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
        Path(log.name).unlink(missing_ok=True)


@contextlib.contextmanager
def serving(app, timeout_s: float = 30) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1 in a thread of this process; yields its root URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout_s, "uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Polls `condition` until it holds; the deadline only bounds a hang."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s} s for {what}")
        time.sleep(0.05)


def post_and_leave(root: str, path: str, body: dict, headers: dict[str, str] | None = None) -> socket.socket:
    """Sends a POST on a raw connection and returns it unread: closing it is a client that gave up."""
    host, port = root.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]  # fmt: skip
    connection = socket.create_connection((host, int(port)), timeout=30)
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
    return connection


def metric(root: str, name: str, headers: dict[str, str] | None = None, **labels: str) -> float:
    """A sample of the service's /metrics (0 when absent), e.g. `metric(root, "vlmbench_service_requests_total",
    status="200")`; labels not given may take any value (their samples are summed)."""
    text = httpx.get(f"{root}/metrics", headers=headers, timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())
    )
