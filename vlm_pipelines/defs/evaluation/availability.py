"""Which registered models cannot run where the definitions load, and why, for the UI to say before a launch.

The model packages' availability checks look for an engine, weights in the Hugging Face cache, a GPU or an
endpoint; none loads weights (0.1 s for the seven models of the registry, measured). They run in threads
with one deadline, so a slow check (an endpoint that does not answer) cannot hold up the code location.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping

from vlm_pipelines.model_registry import EvaluatedModel

CHECK_DEADLINE_S = 3.0


def _problem(entry: EvaluatedModel) -> str | None:
    from model_interface import get_spec

    try:
        availability = get_spec(entry.model).availability(entry.params)
    except Exception as error:  # noqa: BLE001 - a broken check is a reason, not a broken code location
        return f"its availability check failed: {error}"
    return None if availability.ok else availability.reason


def unrunnable_models(
    models: Mapping[str, EvaluatedModel], deadline_s: float = CHECK_DEADLINE_S
) -> dict[str, str]:
    """Model name -> why it cannot run on this machine, for each registered model that cannot. Each check
    runs in a daemon thread: one past the deadline is reported as unknown and never holds up the exit."""
    results: dict[str, str | None] = {}

    def check(name: str, entry: EvaluatedModel) -> None:
        results[name] = _problem(entry)

    threads = [
        threading.Thread(target=check, args=(name, entry), daemon=True, name=f"availability:{name}")
        for name, entry in models.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + deadline_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    problems = {}
    for name in models:
        if name not in results:
            problems[name] = f"not known: its availability check took over {deadline_s:g} s"
        elif (problem := results[name]) is not None:
            problems[name] = problem
    return problems


def unrunnable_note(problems: Mapping[str, str]) -> str:
    """Markdown for an asset's description: the models a launch here would fail on, with the reason."""
    if not problems:
        return ""
    lines = [f"- `{name}`: {reason}" for name, reason in sorted(problems.items())]
    return (
        f"\n\n**Cannot run on {socket.gethostname()}** (where these definitions loaded); their partitions "
        "fail at once with this reason, so leave them out of a launch:\n" + "\n".join(lines)
    )
