"""Test-suite plugin for every test folder (tests/ and model_packages/*/tests).

`@pytest.mark.requires("tesseract", ...)` names system components (see `vlm_pipelines.components`). When one
is missing the test skips with the reason and the install command; under CI (`CI=true`) it fails instead,
because `.ci/run` installs them, except for what no command can install here (a CUDA GPU), which stays a
skip with its reason. `@pytest.mark.gpu` is short for `requires("cuda")`; what no command can install is
checked first, so a GPU test stays a skip under CI. What only a test knows it lacks (a checkpoint it is
pointed to) goes through the `skip_or_fail` fixture, under the same rule.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import stat
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

# Seconds each test file took (setup, call and teardown of all its tests) in a two-worker run of this
# suite: `uv run pytest --store-file-durations` rewrites it (VLMBENCH_TEST_DURATIONS names another file).
# Only the order of the files depends on it.
FILE_DURATIONS = Path(
    os.environ.get("VLMBENCH_TEST_DURATIONS") or Path(__file__).parent / "tests" / "file_durations.json"
)


# The checkout's own Dagster instance and data folder, which the user's `vlmbench` commands fill. Tests keep
# theirs under tmp_path (the `project_env` fixture). If one of these changed during the session, it says so:
# under CI (a fresh clone, nothing else running) as a failure, elsewhere as a warning (a `vlmbench dev` left
# open writes its sensors' ticks there).
PROJECT_STATE = (Path(__file__).parent / ".dagster_home", Path(__file__).parent / ".vlmbench")


def _project_state() -> dict[Path, tuple[int, int]]:
    """Each file of PROJECT_STATE with its modification time and size."""
    files = {}
    for folder in PROJECT_STATE:
        for path in folder.rglob("*"):
            try:
                status = path.stat()
            except FileNotFoundError:  # removed meanwhile
                continue
            if stat.S_ISREG(status.st_mode):
                files[path] = (status.st_mtime_ns, status.st_size)
    return files


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*components): system components the test needs (vlm_pipelines.components)"
    )
    from vlm_pipelines.cli import RUN_GC_THRESHOLD

    # Young objects collected as rarely as in a CLI run: a test process holds torch, transformers and
    # Dagster, which every full collection rescans (5.1-5.5 s of collections per worker in 100 s of pipeline
    # tests, 2.4-3.7 s with this; docs/benchmarks.md). Nothing is frozen: freezing is how a CLI run says so.
    gc.set_threshold(RUN_GC_THRESHOLD, *gc.get_threshold()[1:])


def skip_or_fail_now(message: str) -> None:
    """A test cannot run for want of `message`'s component: a skip, or under CI a failure."""
    if under_ci():
        pytest.fail(f"CI=true and a required component is missing: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def skip_or_fail():
    """`skip_or_fail("what is missing; install: how")` for a component no `requires` probe knows."""
    return skip_or_fail_now


def pytest_runtest_setup(item: pytest.Item) -> None:
    from vlm_pipelines.components import COMPONENTS, missing_message, probe

    names = [name for mark in item.iter_markers("requires") for name in mark.args]
    if item.get_closest_marker("gpu"):
        names.append("cuda")
    names.sort(key=lambda name: name not in COMPONENTS or COMPONENTS[name].installable_in_ci)
    for name in dict.fromkeys(names):
        if name not in COMPONENTS:
            pytest.fail(
                f"unknown component {name!r} in @pytest.mark.requires; known: {', '.join(COMPONENTS)}"
            )
        if probe(name).ok:
            continue
        message = missing_message(name)
        if COMPONENTS[name].installable_in_ci:
            skip_or_fail_now(message)
        pytest.skip(message)


SIGTERM_AT_START = signal.getsignal(signal.SIGTERM)


@pytest.fixture(autouse=True)
def _sigterm_as_at_start():
    """A Dagster run in this process's main thread can leave SIGTERM ignored (Dagster maps SIGTERM to SIGINT's
    handler, and a pytest-xdist worker ignores SIGINT), in a test or in a module fixture (a chat site's first
    ingestion); every process started after it would inherit that and ignore SIGTERM: Dagster's `tail -F` log
    mirrors then outlive their run. Each test runs, and ends, with the disposition the session started with."""

    def as_at_start() -> None:
        if signal.getsignal(signal.SIGTERM) != SIGTERM_AT_START:
            signal.signal(signal.SIGTERM, SIGTERM_AT_START)

    as_at_start()
    yield
    as_at_start()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-file-durations",
        action="store_true",
        help=f"write each test file's seconds to {FILE_DURATIONS}",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest files first. pytest-xdist (`--dist loadfile --no-loadscope-reorder`) hands whole files to
    whichever worker is free, in this order, so no long file starts last while the other worker idles."""
    try:
        seconds = json.loads(FILE_DURATIONS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    unknown = statistics.median(seconds.values()) if seconds else 0.0  # a new file: a typical one
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(item.nodeid.split("::")[0], len(first_seen))

    def file_order(item: pytest.Item) -> tuple[float, int]:
        path = item.nodeid.split("::")[0]
        return -seconds.get(path, unknown), first_seen[path]

    items.sort(key=file_order)  # stable: a file's tests keep their order


_file_seconds: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _file_seconds[report.nodeid.split("::")[0]] += report.duration


_PROJECT_STATE_AT_START = pytest.StashKey[dict[Path, tuple[int, int]]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, before any worker runs a test
        session.config.stash[_PROJECT_STATE_AT_START] = _project_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # the controller, which gets every worker's reports, checks and writes
    before = session.config.stash.get(_PROJECT_STATE_AT_START, None)
    if before is not None:
        after = _project_state()
        changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
        if changed:
            shown = ", ".join(str(path) for path in changed[:5]) + (" ..." if len(changed) > 5 else "")
            writer = session.config.get_terminal_writer()
            if writer.width_of_current_line:  # after the progress dots
                writer.line()
            what = "FAILED (CI=true)" if under_ci() else "WARNING"
            writer.line(
                f"{what}: the checkout's own instance or data folder changed during the tests ({shown}); a "
                "test that runs vlmbench or Dagster must use the project_env fixture, unless a vlmbench "
                "command (such as vlmbench dev) ran in this checkout meanwhile",
                red=under_ci(),
                yellow=not under_ci(),
            )
            if under_ci():
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not session.config.getoption("store_file_durations"):
        return
    seconds = {path: round(total, 1) for path, total in sorted(_file_seconds.items())}
    FILE_DURATIONS.write_text(json.dumps(seconds, indent=1) + "\n", encoding="utf-8")
