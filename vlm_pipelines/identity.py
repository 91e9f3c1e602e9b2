"""What identifies a model's answers: the versions of every package whose code produces them, what its
`auto` settings resolved to, and the prompts; plus the code version Dagster uses to mark `predictions`
stale. Plain Python, cheap: loading the definitions calls `predictions_code_version`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from vlm_pipelines.settings import REPO_ROOT


def identity_settings(
    spec: Any, resolved: Mapping[str, str], versions: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The settings that key a model's answers besides its own package version: what `auto` resolved to,
    and the version of each package it uses (`ModelSpec.uses_packages`; `versions` when they come from
    elsewhere than this environment, e.g. a release tag's)."""
    versions = spec.versions if versions is None else versions
    uses = {f"uses {package}": version for package, version in versions.items() if package != spec.package}
    return {**dict(resolved), **uses}


def predictions_code_version(models: Mapping[str, Any], tasks: Mapping[str, Any]) -> str:
    """Changes when a package any model uses changes version, or any prompt configuration changes."""
    from model_interface import discover

    specs = discover()
    parts = []
    for name, entry in sorted(models.items()):
        spec = specs.get(entry.model)
        versions = sorted(spec.versions.items()) if spec else [("not-installed", "")]
        parts.append(f"{name}=" + ",".join(f"{package} {version}" for package, version in versions))
    for name, task in sorted(tasks.items()):
        try:
            parts.append(f"{name}:{task.prompt_hash(REPO_ROOT)}")
        except (OSError, ValueError) as error:  # e.g. a missing prompt collection: fails that task's run only
            parts.append(f"{name}:unreadable:{error}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
