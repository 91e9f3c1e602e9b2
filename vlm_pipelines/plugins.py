"""Code a task YAML names from an installed package: a prompt builder or a post-processing step.

A reference is either a dotted path, `package.module:function`, or the name of an entry point in the
group for that kind (`vlmbench.prompt_builders`, `vlmbench.postprocess`). It is resolved when the task is
loaded, so a typo fails there, in one line naming the reference. `callable_identity` hashes what the code
is (its module, name, package version and source), so changing a plugin changes the prompt hash.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from functools import cache
from importlib import metadata
from typing import Any

PROMPT_BUILDERS_GROUP = "vlmbench.prompt_builders"
POSTPROCESS_GROUP = "vlmbench.postprocess"


def is_reference(name: str) -> bool:
    """Whether `name` is a dotted path (`module:function`) rather than a built-in name."""
    return ":" in name


@cache
def load_callable(reference: str, group: str) -> Callable[..., Any]:
    """The callable `reference` names (see the module docstring); ValueError saying what is wrong."""
    if is_reference(reference):
        module_name, _, attribute = reference.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(f"{reference!r}: cannot import module {module_name!r} ({error})") from None
        for part in attribute.split("."):
            if not hasattr(target, part):
                raise ValueError(f"{reference!r}: module {module_name!r} has no {attribute!r}")
            target = getattr(target, part)
    else:
        found = [point for point in metadata.entry_points(group=group) if point.name == reference]
        if not found:
            names = ", ".join(sorted(point.name for point in metadata.entry_points(group=group))) or "none"
            raise ValueError(
                f"{reference!r} is neither a built-in name, a `module:function` path, nor an entry point in "
                f"{group!r} (installed: {names})"
            )
        try:
            target = found[0].load()
        except Exception as error:  # noqa: BLE001 - a broken plugin is reported, with its cause
            raise ValueError(f"entry point {reference!r} in {group!r} failed to load: {error}") from None
    if not callable(target):
        raise ValueError(f"{reference!r} is not callable")
    return target


def callable_identity(function: Callable[..., Any]) -> str:
    """What the code is: its module and name, its distribution's version, and a hash of its source."""
    module = getattr(function, "__module__", "") or ""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = ""
    distributions = metadata.packages_distributions().get(module.split(".")[0], [])
    versions = ",".join(f"{name} {metadata.version(name)}" for name in sorted(set(distributions)))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return f"{module}:{getattr(function, '__qualname__', repr(function))} [{versions}] {digest}"
