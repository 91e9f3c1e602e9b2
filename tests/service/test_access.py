"""API keys: where the key comes from, what counts as loopback, and `vlmbench serve` refusing to listen
beyond loopback without one (the 401s themselves are tested in test_app.py and over HTTP)."""

from __future__ import annotations

import pytest

from tests.processes import free_port
from vlm_pipelines.service.access import API_KEY_ENV, api_key, authorized, bind_problem, is_loopback


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert (api_key("from-flag"), api_key()) == ("from-flag", "from-env")
    monkeypatch.setenv(API_KEY_ENV, "  ")
    assert api_key() is None  # a blank key is no key


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("no-such-host.invalid", False)],
)  # fmt: skip
def test_only_addresses_that_mean_this_machine_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_bearer_token_must_match_exactly() -> None:
    assert authorized("Bearer k3y", "k3y") and authorized("bearer k3y", "k3y")
    assert not any(authorized(header, "k3y") for header in (None, "", "k3y", "Bearer k3", "Basic k3y"))


def test_serve_beyond_loopback_without_a_key_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from vlm_pipelines.cli import main

    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert main(["serve", "--model", "ocr-rules", "--host", "0.0.0.0", "--port", str(free_port())]) == 2
    assert capsys.readouterr().err == (
        "vlmbench: error: --host 0.0.0.0 reaches beyond this machine, so the service needs an API key: pass "
        f"--api-key or set {API_KEY_ENV} (clients send it as 'Authorization: Bearer <key>')\n"
    )
    assert bind_problem("0.0.0.0", "k3y") == "" and bind_problem("127.0.0.1", None) == ""
