"""The one loader behind both YAML registries (`registry/models/`, `registry/tasks/`).

Both follow the same rules: `VLMBENCH_REGISTRY_DIR` moves both folders, a key written twice in one mapping
is an error, a file holds one entry (a mapping) or a list of entries, and every problem names the file,
the entry, the key and the fix on one line. A broken entry does not break the others: the registry keeps
the valid entries and lists the errors, so only what needs the broken entry fails.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from vlm_pipelines import settings

T = TypeVar("T")


class RegistryError(ValueError):
    """A registry entry that cannot be used. The message is one line: file, entry, key, problem, fix.
    `needs` names what to install where the entry is not broken but waits for an optional package."""

    def __init__(
        self, message: str, *, source: str = "", name: str | None = None, needs: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.source = source
        self.name = name
        self.needs = needs


class UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader (libyaml's where PyYAML has it: about 10x faster) that refuses a key written twice in one
    mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def display_path(path: Path) -> str:
    """The path relative to the repository when it is inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(settings.REPO_ROOT))
    except ValueError:
        return str(path)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# Parsed documents by file text: a registry is read on every lookup (so an edit shows at once), and parsing
# its YAML was a third of a short run's time. Callers get a copy, so nothing they change reaches the cache.
# Bounded (a long-lived process, the Dagster code server or the chat, sees every edit of every file), and
# well above a registry's file count with its command-line variants, so a lookup never parses all again.
@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Any:
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506


def _parse_yaml(text: str) -> Any:
    return copy.deepcopy(_parsed(text))


def read_entries(path: Path) -> list[tuple[str, Any]]:
    """(source label, raw entry) for each entry of one YAML file; RegistryError for an unreadable file."""
    label = display_path(path)
    try:
        document = _parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RegistryError(f"{label}: not valid YAML: {_one_line(error)}", source=label) from None
    except (OSError, UnicodeDecodeError) as error:
        raise RegistryError(f"{label}: cannot be read: {_one_line(error)}", source=label) from None
    if document is None:
        return []
    if isinstance(document, dict):
        return [(label, document)]
    if isinstance(document, list):
        return [(f"{label}[{index}]", entry) for index, entry in enumerate(document)]
    raise RegistryError(
        f"{label}: expected one entry (a mapping) or a list of entries, found {type(document).__name__}",
        source=label,
    )


# ---- pydantic errors as one line ----------------------------------------------------------------

_HINTS = {
    "missing": "add this key",
    "literal_error": "use one of the values listed",
    "string_pattern_mismatch": "use lowercase letters, digits, '_' and '-' only (the name is a Dagster partition key)",
    "too_short": "give at least one item",
    "greater_than_equal": "use a larger number",
    "less_than_equal": "use a smaller number",
    "greater_than": "use a larger number",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "string_type": "write a string (quote it in YAML if needed)",
    "list_type": "write a YAML list, e.g. [a, b]",
    "model_type": "write a YAML mapping (key: value lines)",
    "dict_type": "write a YAML mapping (key: value lines)",
}


def _model_at(root: type[BaseModel], location: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that holds the key at `location` (for listing the keys allowed there)."""
    model: type[BaseModel] = root
    for part in location:
        if not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [item for item in candidates if isinstance(item, type) and issubclass(item, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def key_path(location: tuple[str | int, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe_validation_error(error: ValidationError, root: type[BaseModel]) -> list[str]:
    """One item per problem: `<key path>: <problem>. Fix: <hint>`."""
    lines = []
    for item in error.errors():
        location = tuple(item["loc"])
        message = _one_line(item["msg"].removeprefix("Value error, "))
        if item["type"] == "extra_forbidden":
            parent = _model_at(root, location[:-1])
            allowed = ", ".join(parent.model_fields) if parent else "see the documentation"
            hint = f"remove '{location[-1]}' or correct its spelling; keys allowed here: {allowed}"
        elif item["type"] == "value_error":  # our validators' messages already say how to fix it
            lines.append(f"{key_path(location)}: {message}")
            continue
        else:
            hint = _HINTS.get(item["type"], "check the value's type and spelling")
        lines.append(f"{key_path(location)}: {message}. Fix: {hint}")
    return lines


def validate_entry(
    model: type[BaseModel], entry: Any, source: str, kind: str, check: Callable[[Any], None] | None = None
) -> Any:
    """`model.model_validate(entry)` with errors as one RegistryError line naming `source`."""
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(entry, dict):
        raise RegistryError(
            f"{source}: a {kind} must be a mapping of keys (name: ..., ...), got {_one_line(repr(entry))[:80]}",
            source=source,
        )
    try:
        value = model.model_validate(entry)
    except ValidationError as error:
        problems = "; ".join(describe_validation_error(error, model))
        raise RegistryError(f"{source}: {kind} {name!r}: {problems}", source=source, name=name) from None
    if check is not None:
        try:
            check(value)
        except ValueError as error:
            raise RegistryError(
                f"{source}: {kind} {name!r}: {error}",
                source=source,
                name=name,
                needs=getattr(error, "needs", ()),
            ) from None
    return value


@dataclass
class Registry(Mapping[str, T], Generic[T]):
    """The valid entries by name, plus the errors of the entries that could not be loaded."""

    kind: str
    folder: Path
    entries: dict[str, T] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    errors: list[RegistryError] = field(default_factory=list)

    def __getitem__(self, name: str) -> T:
        return self.entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def broken(self) -> list[RegistryError]:
        """The errors of entries that are wrong, not those that wait for an optional package."""
        return [error for error in self.errors if not error.needs]

    @property
    def not_installed(self) -> list[RegistryError]:
        """The errors of entries whose model comes with an optional package that is not installed."""
        return [error for error in self.errors if error.needs]

    def check(self) -> Registry[T]:
        """Raises the first error, if any (for callers that need the whole registry valid)."""
        if self.errors:
            raise self.errors[0]
        return self

    def require(self, name: str) -> T:
        """The entry `name`, or one RegistryError line: its own load error, or the known names."""
        if name in self.entries:
            return self.entries[name]
        for error in self.errors:
            if error.name == name:
                raise error
        known = ", ".join(self.entries) or "none"
        unnamed = [error for error in self.errors if error.name is None]
        note = f" (also, {len(unnamed)} file(s) failed to load: {unnamed[0]})" if unnamed else ""
        raise RegistryError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}{note}")


def load_registry(
    subfolder: str,
    kind: str,
    parse: Callable[[Any, str], Any],
    folder: Path | None = None,
) -> Registry:
    """Every entry of `<registry dir>/<subfolder>/*.y*ml` (or of `folder`), validated by `parse`."""
    folder = Path(folder) if folder is not None else settings.registry_dir() / subfolder
    registry: Registry = Registry(kind=kind, folder=folder)
    if not folder.is_dir():
        registry.errors.append(
            RegistryError(
                f"{display_path(folder)}: the {kind} registry folder does not exist "
                f"(VLMBENCH_REGISTRY_DIR={settings.registry_dir()})",
                source=str(folder),
            )
        )
        return registry
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            entries = read_entries(path)
        except RegistryError as error:
            registry.errors.append(error)
            continue
        for source, raw in entries:
            try:
                entry = parse(raw, source)
            except RegistryError as error:
                registry.errors.append(error)
                continue
            name = entry.name
            if name in registry.entries:
                registry.errors.append(
                    RegistryError(
                        f"{source}: {kind} name {name!r} is already defined in {registry.sources[name]}; "
                        f"rename one of them (names must be unique across the registry)",
                        source=source,
                        name=None,
                    )
                )
                continue
            registry.entries[name] = entry
            registry.sources[name] = source
    return registry


def join_generated(registry: Registry, generated: Registry) -> Registry:
    """Adds the entries of a generated folder (`<data dir>/tasks/`, `<data dir>/models/`) to `registry`; a
    generated entry never replaces a registry one (that is listed in `.errors`)."""
    if not generated.folder.is_dir():
        return registry
    registry.errors.extend(generated.errors)
    for name, entry in generated.items():
        if name in registry.entries:
            registry.errors.append(
                RegistryError(
                    f"{generated.sources[name]}: generated {registry.kind} {name!r} is also defined in "
                    f"{registry.sources[name]}; the registry's entry is used (rename the generated one)",
                    source=generated.sources[name],
                )
            )
            continue
        registry.entries[name] = entry
        registry.sources[name] = generated.sources[name]
    return registry
