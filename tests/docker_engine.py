"""A throw-away Docker engine for tests: dockerd with vfs storage, no bridge and no iptables rules, its
data and socket under a temporary folder; stopped by PID and removed afterwards. Nothing is pulled: the
test image is built locally (`skeleton_image`)."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.processes import stop_process_group


@contextlib.contextmanager
def running_dockerd() -> Iterator[str]:
    """Yields the engine's DOCKER_HOST (unix socket)."""
    root = Path(tempfile.mkdtemp(prefix="vlmbench-dockerd-"))
    socket = root / "docker.sock"
    log = open(root / "dockerd.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [shutil.which("dockerd") or "dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "dockerd.pid"), "-H", f"unix://{socket}", "--storage-driver=vfs",
         "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    host = f"unix://{socket}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"dockerd exited: {(root / 'dockerd.log').read_text()[-2000:]}")
            if (
                socket.exists()
                and subprocess.run(["docker", "-H", host, "version"], capture_output=True).returncode == 0
            ):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("dockerd did not answer within 60 s")
            time.sleep(0.2)
        yield host
    finally:
        stop_process_group(process)
        log.close()
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def unmount_under(root: Path) -> None:
    """Unmounts what dockerd leaves mounted under `root` (its default network namespace, an nsfs mount at
    exec/netns/default), innermost first, so that the folder can be removed."""
    points = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(f"{root}/")), key=len, reverse=True):
        subprocess.run(["umount", point], capture_output=True)


def skeleton_image(client, tag: str) -> str:
    """A root file system of directories and Debian's merged-/usr links, imported as an image: the test's
    containers bind-mount this host's /usr and /etc (read-only) into it, so they run this machine's
    Python and the project's venv without any image being pulled."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("usr", "etc", "tmp", "proc", "sys", "dev", "work", "srv", "root", "var/tmp", "run"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder in ("tmp", "var/tmp") else 0o755
            tar.addfile(info)
        for link, target in (
            ("bin", "usr/bin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
            ("sbin", "usr/sbin"),
        ):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    repository, _, version = tag.partition(":")
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=version or "latest")
    return tag
