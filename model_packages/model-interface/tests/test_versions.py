"""The version label (`package_version`): a release is its plain version; an install (editable or a wheel)
whose source differs from what was recorded at release time gets `+src.<hash>`, so edited code never passes
for a release.

Each test installs a real (tiny) distribution: a `.dist-info` folder on `sys.path`, with a `direct_url.json`
that marks it editable, as `uv sync` writes it for a workspace member."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from model_interface.registry import RELEASE_SOURCE, package_version, record_release_source

NAME = "vlmbench-label-probe"
EDITED = re.compile(r"^1\.2\.0\+src\.[0-9a-f]{8}$")


def install(site: Path, version: str, project: Path | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installs NAME `version` into the new folder `site`, first on sys.path: editable from `project`, or
    (None) as a wheel would be."""
    dist_info = site / f"{NAME.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n")
    if project is not None:
        url = {"url": project.as_uri(), "dir_info": {"editable": True}}
        (dist_info / "direct_url.json").write_text(json.dumps(url))
    monkeypatch.syspath_prepend(str(site))
    package_version.cache_clear()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project with `src/probe/*.py`, installed editable as NAME 1.2.0."""
    root = tmp_path / "project"
    (root / "src" / "probe").mkdir(parents=True)
    (root / "src" / "probe" / "__init__.py").write_text("ANSWER = 1\n")
    (root / "src" / "probe" / "model.py").write_text("def answer():\n    return 'release'\n")
    install(tmp_path / "site", "1.2.0", root, monkeypatch)
    yield root
    package_version.cache_clear()


def test_an_editable_install_never_released_carries_its_source_hash(project: Path) -> None:
    assert EDITED.match(package_version(NAME))


def test_a_clean_release_checkout_reports_the_release_version(project: Path) -> None:
    record_release_source(project, "1.2.0")
    package_version.cache_clear()
    assert package_version(NAME) == "1.2.0"
    recorded = json.loads((project / RELEASE_SOURCE).read_text())
    assert recorded["version"] == "1.2.0" and re.fullmatch(r"[0-9a-f]{64}", recorded["source_hash"])


def test_edited_code_never_passes_for_the_release(project: Path) -> None:
    record_release_source(project, "1.2.0")
    model = project / "src" / "probe" / "model.py"
    released = model.read_text()
    model.write_text(released.replace("'release'", "'edited'"))
    package_version.cache_clear()
    edited = package_version(NAME)
    assert EDITED.match(edited)

    (project / "src" / "probe" / "extra.py").write_text("X = 2\n")  # a new file is an edit too
    package_version.cache_clear()
    assert EDITED.match(package_version(NAME)) and package_version(NAME) != edited

    (project / "src" / "probe" / "extra.py").unlink()
    model.write_text(released)  # back to the release's source: the release again
    package_version.cache_clear()
    assert package_version(NAME) == "1.2.0"

    (project / "README.md").write_text("docs are not code\n")
    package_version.cache_clear()
    assert package_version(NAME) == "1.2.0"


def test_a_hash_recorded_for_another_version_does_not_count(project: Path) -> None:
    record_release_source(project, "1.1.0")  # e.g. the version was bumped by hand, without a release
    package_version.cache_clear()
    assert EDITED.match(package_version(NAME))
    (project / RELEASE_SOURCE).write_text("{not json")
    package_version.cache_clear()
    assert EDITED.match(package_version(NAME))


def install_wheel(
    site: Path, version: str, sources: dict[str, str], monkeypatch, recorded: str | None
) -> None:
    """Installs NAME `version` as a wheel does: its files under `site/probe/`, listed in the dist-info's RECORD,
    with the `release-source.json` the release recorded (`recorded` is the source it was recorded from)."""
    install(site, version, None, monkeypatch)
    files = [f"probe/{name}" for name in sources]
    for name, text in sources.items():
        (site / "probe").mkdir(exist_ok=True)
        (site / "probe" / name).write_text(text)
    if recorded is not None:
        released = site.parent / "released" / "src" / "probe"
        released.mkdir(parents=True)
        for name in sources:
            (released / name).write_text(recorded if name == "model.py" else sources[name])
        record_release_source(released.parent.parent, version)
        (site / "probe" / RELEASE_SOURCE).write_text((released.parent.parent / RELEASE_SOURCE).read_text())
        files.append(f"probe/{RELEASE_SOURCE}")
    dist_info = next(site.glob("*.dist-info"))
    (dist_info / "RECORD").write_text("".join(f"{file},,\n" for file in [*files, f"{dist_info.name}/RECORD"]))
    package_version.cache_clear()


RELEASED = {"__init__.py": "ANSWER = 1\n", "model.py": "def answer():\n    return 'release'\n"}


def test_a_wheel_of_the_released_source_is_its_release(tmp_path: Path, monkeypatch) -> None:
    install_wheel(tmp_path / "site", "1.2.0", RELEASED, monkeypatch, recorded=RELEASED["model.py"])
    assert package_version(NAME) == "1.2.0"


def test_a_wheel_built_from_edited_code_is_no_release(tmp_path: Path, monkeypatch) -> None:
    edited = {**RELEASED, "model.py": "def answer():\n    return 'edited'\n"}
    install_wheel(tmp_path / "site", "1.2.0", edited, monkeypatch, recorded=RELEASED["model.py"])
    assert EDITED.match(package_version(NAME))


def test_a_wheel_without_a_recorded_release_is_no_release(tmp_path: Path, monkeypatch) -> None:
    install_wheel(tmp_path / "site", "1.2.0", RELEASED, monkeypatch, recorded=None)
    assert EDITED.match(package_version(NAME))


def test_an_absent_package_is_unknown() -> None:
    assert package_version("vlmbench-no-such-package") == "0+unknown"
