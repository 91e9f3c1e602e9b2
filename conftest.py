"""Test-suite plugin for every test folder (tests/ and model_packages/*/tests).

`@pytest.mark.requires("tesseract", ...)` names system components (see `vlm_pipelines.components`). When one
is missing the test skips with the reason and the install command; under CI (`CI=true`) it fails instead,
because `.ci/run` installs them, except for what no command can install here (a CUDA GPU), which stays a
skip with its reason. `@pytest.mark.gpu` is short for `requires("cuda")`; what no command can install is
checked first, so a GPU test stays a skip under CI. What only a test knows it lacks (a checkpoint it is
pointed to) goes through the `skip_or_fail` fixture, under the same rule.
"""

from __future__ import annotations

import os
import signal

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*components): system components the test needs (vlm_pipelines.components)"
    )


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
        if under_ci() and COMPONENTS[name].installable_in_ci:
            pytest.fail(f"CI=true and a required component is missing: {message}", pytrace=False)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _sigterm_as_before():
    """A test that runs Dagster in this process can leave SIGTERM ignored (Dagster maps SIGTERM to SIGINT's
    handler, and a pytest-xdist worker ignores SIGINT); every process a later test starts would inherit that
    and ignore SIGTERM. Each test gets the disposition the one before it had."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    if signal.getsignal(signal.SIGTERM) != before:
        signal.signal(signal.SIGTERM, before)
