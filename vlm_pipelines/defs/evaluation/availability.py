"""Which registered models cannot run where the definitions load, and why, for the UI to say before a launch.

The model packages' availability checks look for an engine, weights in the Hugging Face cache, a GPU or an
endpoint; none loads weights (0.1 s for the seven models of the registry, measured). They run in threads
with one deadline, so a slow check (an endpoint that does not answer) cannot hold up the code location.
"""

from __future__ import annotations

import concurrent.futures
import socket
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
    """Model name -> why it cannot run on this machine, for each registered model that cannot."""
    if not models:
        return {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(models)))
    checks = {name: pool.submit(_problem, entry) for name, entry in models.items()}
    concurrent.futures.wait(checks.values(), timeout=deadline_s)
    pool.shutdown(wait=False, cancel_futures=True)
    problems = {}
    for name, check in checks.items():
        if not check.done():
            problems[name] = f"not known: its availability check took over {deadline_s:g} s"
        elif (problem := check.result()) is not None:
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
