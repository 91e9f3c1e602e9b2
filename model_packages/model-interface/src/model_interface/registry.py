"""Model registry: packages register `ModelSpec`s under the `vlmbench.models` entry-point group."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from model_interface.model import VisionLanguageModel

ENTRY_POINT_GROUP = "vlmbench.models"
_DISCOVERY_ERRORS: dict[str, str] = {}


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Resolution:
    """What a model's `auto` settings resolve to on this machine (OCR engine and its version and languages,
    dtype, attention implementation, device, library versions), and what the model cannot do here.

    `settings` is part of the model's identity: it goes into the hash that keys predictions and results,
    and reports show it. `limitations` are human notes ("reads no Cyrillic") shown beside results."""

    settings: Mapping[str, str] = field(default_factory=dict)
    limitations: tuple[str, ...] = ()

    def summary(self) -> str:
        return ", ".join(f"{key} {value}" for key, value in self.settings.items())


@dataclass(frozen=True)
class ModelSpec:
    """A model id the application can refer to.

    `factory(model_id, params)` builds the (unloaded) model; `check(params)` tells whether it can
    run here without loading weights; `resolve(params)` says what its `auto` settings become here
    (cheap: no weights; it may import torch to look for a GPU). The model must use the same resolution
    when it loads.
    """

    model_id: str
    package: str
    description: str
    params_model: type[BaseModel]
    factory: Callable[[str, BaseModel], VisionLanguageModel]
    check: Callable[[BaseModel], Availability]
    default_params: Mapping[str, Any] = None  # type: ignore[assignment]
    modality: str = "vision"  # "vision" or "text"
    resolve: Callable[[BaseModel], Resolution] | None = None
    # Other model packages whose code runs when this model answers (ocr-smollm2 uses model-hf's SmolLM2):
    # a release of any of them invalidates cached answers and re-evaluates the model.
    uses_packages: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        return package_version(self.package)

    @property
    def packages(self) -> tuple[str, ...]:
        """This model's package, then the packages it uses."""
        return (self.package, *self.uses_packages)

    @property
    def versions(self) -> dict[str, str]:
        """The installed version of every package in `packages`."""
        return {package: package_version(package) for package in self.packages}

    def validate_params(self, params: Mapping[str, Any] | None = None) -> BaseModel:
        merged = {**(self.default_params or {}), **(params or {})}
        try:
            return self.params_model(**merged)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
            )
            raise ModelParamsError(f"bad params for model {self.model_id!r}: {problems}") from None

    def availability(self, params: Mapping[str, Any] | None = None) -> Availability:
        try:
            return self.check(self.validate_params(params))
        except ModelParamsError as error:
            return Availability(False, str(error))

    def resolution(self, params: Mapping[str, Any] | None = None) -> Resolution:
        """What `params` resolve to on this machine (empty when the package resolves nothing)."""
        if self.resolve is None:
            return Resolution()
        return self.resolve(self.validate_params(params))

    def create(self, params: Mapping[str, Any] | None = None) -> VisionLanguageModel:
        return self.factory(self.model_id, self.validate_params(params))


class UnknownModelError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class ModelParamsError(ValueError):
    pass


RELEASE_SOURCE = "release-source.json"  # beside a package's pyproject.toml: {"version", "source_hash"}


@functools.cache
def package_version(distribution: str) -> str:
    """The one label of an installed package's version, used in result keys and wherever a version is shown.

    A wheel (or any non-editable install) is its release: `0.1.0`. An editable install (a workspace member)
    is the release only when its source hashes to what `release-source.json` recorded for this version at
    release time (`vlmbench release` writes it); otherwise, edited or never released, it is `0.1.0+src.1a2b3c4d`
    (a hash of the source), so results made with edited code never pass for the release's, nor for each other.
    Git is not needed: a fresh clone, a shallow CI checkout and a wheel all get the same answer."""
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0+unknown"
    root = editable_root(distribution)
    if root is None:
        source, released = installed_source(distribution, version)
    else:
        source, released = source_hash(root), released_source_hash(root / RELEASE_SOURCE, version)
    if released == source:
        return version
    return f"{version}+src.{source[:8]}"


def editable_root(distribution: str) -> Path | None:
    """The project folder of an editable install (where its pyproject.toml is); None when not editable."""
    from urllib.parse import unquote, urlparse

    try:
        direct_url = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not direct_url:
        return None
    info = json.loads(direct_url)
    if not info.get("dir_info", {}).get("editable"):
        return None
    return Path(unquote(urlparse(info["url"]).path))


def source_hash(root: Path) -> str:
    """sha256 (hex) over the Python files of a project's source (`src/` when it has one), by relative path:
    the same files, with the same paths, as its wheel installs."""
    source = root / "src" if (root / "src").is_dir() else root
    files = []
    for folder, subfolders, names in os.walk(source):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d not in _NOT_SOURCE)
        files += [Path(folder) / name for name in names if name.endswith(".py") and name != "conftest.py"]
    return _hash_files({path.relative_to(source).as_posix(): path for path in files})


def _hash_files(files: Mapping[str, Path]) -> str:
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0" + files[relative].read_bytes() + b"\0")
    return digest.hexdigest()


def installed_source(distribution: str, version: str) -> tuple[str, str | None]:
    """A non-editable install's source hash (its installed Python files) and the hash its wheel's
    `release-source.json` recorded for `version` (None when it ships none): an image built from edited code
    is no release either."""
    dist = metadata.distribution(distribution)
    python_files, recorded = {}, None
    for file in dist.files or []:
        parts = file.parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".data")):
            continue
        if file.suffix == ".py" and file.name != "conftest.py" and not set(parts[1:-1]) & _NOT_SOURCE:
            python_files[file.as_posix()] = Path(dist.locate_file(file))
        elif file.name == RELEASE_SOURCE and len(parts) == 2:
            recorded = released_source_hash(Path(dist.locate_file(file)), version)
    return _hash_files(python_files), recorded


def released_source_hash(path: Path, version: str) -> str | None:
    """The source hash recorded for `version` in a `release-source.json`, if any."""
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or recorded.get("version") != version:
        return None
    return recorded.get("source_hash")


def record_release_source(root: Path, version: str) -> Path:
    """Writes `release-source.json` for `version` (the release's source as it is now); returns its path."""
    path = root / RELEASE_SOURCE
    record = {"version": version, "source_hash": source_hash(root)}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


_NOT_SOURCE = {"tests", "__pycache__", "node_modules", "data", "model_packages", "bench", "docs"}


@functools.cache
def discover() -> dict[str, ModelSpec]:
    """Every spec registered by an installed package, by model id.

    A package whose entry point fails to load is skipped with a warning (see `discovery_errors`),
    so one broken package does not hide the others.
    """
    specs: dict[str, ModelSpec] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            package_specs = list(entry_point.load()())
        except Exception as error:  # noqa: BLE001 - reported, not fatal
            _DISCOVERY_ERRORS[entry_point.name] = f"{type(error).__name__}: {error}"
            warnings.warn(f"model package {entry_point.name!r} failed to register: {error}", stacklevel=2)
            continue
        for spec in package_specs:
            if spec.model_id in specs:
                raise RuntimeError(
                    f"model id {spec.model_id!r} is registered twice "
                    f"({specs[spec.model_id].package} and {spec.package})"
                )
            specs[spec.model_id] = spec
    return dict(sorted(specs.items()))


def discovery_errors() -> dict[str, str]:
    """Entry points that failed to load during `discover`, by name."""
    discover()
    return dict(_DISCOVERY_ERRORS)


def get_spec(model_id: str) -> ModelSpec:
    specs = discover()
    if model_id not in specs:
        known = ", ".join(specs) or "none (is a model package installed?)"
        raise UnknownModelError(f"unknown model id {model_id!r}; known ids: {known}")
    return specs[model_id]


def create_model(model_id: str, params: Mapping[str, Any] | None = None) -> VisionLanguageModel:
    """Builds a model by id; weights load on first `generate`."""
    return get_spec(model_id).create(params)


@functools.cache
def _shared_model(model_id: str, params_key: str) -> VisionLanguageModel:
    return create_model(model_id, json.loads(params_key))


def shared_model(model_id: str, params: Mapping[str, Any] | None = None) -> VisionLanguageModel:
    """One instance per (id, params) in this process, so loaded weights are reused."""
    return _shared_model(model_id, json.dumps(dict(params or {}), sort_keys=True))
