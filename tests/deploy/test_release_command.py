"""`vlmbench release` in a temporary clone of this repository: it refuses a file of the package that git
does not track and a release with no change since the last tag, each with one line; promoting a dev release
to its stable version without a further change is a release (its changelog lists the changes since the last
stable one)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.pipeline.conftest import REPO_ROOT, run_vlmbench

PACKAGE = "model-ocr"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone whose model-ocr is tagged at its current version."""
    repo = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO_ROOT}", str(repo)], check=True)
    git(repo, "config", "user.name", "release test")
    git(repo, "config", "user.email", "release@test")
    git(
        repo, "tag", "-f", "-a", f"{PACKAGE}/v{version_of(repo)}", "-m", "first release"
    )  # -f: the clone may hold it
    return repo


def version_of(repo: Path) -> str:
    text = (repo / "model_packages" / PACKAGE / "pyproject.toml").read_text(encoding="utf-8")
    return text.split('version = "')[1].split('"')[0]


def release(repo: Path, part: str, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    return run_vlmbench(["release", PACKAGE, part, "--repo", str(repo)], capsys)


def change_package(repo: Path, message: str) -> None:
    adapter = repo / "model_packages" / PACKAGE / "src" / "model_ocr" / "adapter.py"
    adapter.write_text(adapter.read_text(encoding="utf-8") + f"# {message}\n", encoding="utf-8")
    git(repo, "commit", "-q", "-am", message)


def test_an_untracked_file_in_the_package_stops_the_release(clone: Path, capsys) -> None:
    change_package(clone, "model-ocr: a change to release")
    stray = clone / "model_packages" / PACKAGE / "src" / "model_ocr" / "forgotten.py"
    stray.write_text("ANSWER = 42\n", encoding="utf-8")
    head, tags = git(clone, "rev-parse", "HEAD"), git(clone, "tag", "--list")

    code, out, err = release(clone, "minor", capsys)

    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"vlmbench: error: model_packages/{PACKAGE}/src/model_ocr/forgotten.py is not tracked by git; "
        "commit it or delete it, then release (a release tag holds only committed files)"
    ]
    assert (git(clone, "rev-parse", "HEAD"), git(clone, "tag", "--list")) == (head, tags)
    assert git(clone, "status", "--porcelain", "--untracked-files=no") == ""  # the version is not bumped

    stray.unlink()  # without it the same release goes ahead
    code, out, err = release(clone, "minor", capsys)
    assert code == 0, err


def test_a_release_without_a_change_since_the_last_tag_is_refused(clone: Path, capsys) -> None:
    first = f"{PACKAGE}/v{version_of(clone)}"
    head = git(clone, "rev-parse", "HEAD")

    code, out, err = release(clone, "patch", capsys)

    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"vlmbench: error: nothing changed in model_packages/{PACKAGE} since {first}; no release made"
    ]
    assert git(clone, "rev-parse", "HEAD") == head
    assert git(clone, "tag", "--list", f"{PACKAGE}/*").split() == [first]


def test_a_dev_release_is_promoted_to_stable_once(clone: Path, capsys) -> None:
    major, minor, patch = (int(part) for part in version_of(clone).split(".")[:3])
    change_package(clone, "model-ocr: a fix for staging")
    assert release(clone, "dev", capsys)[0] == 0
    dev = f"{PACKAGE}/v{major}.{minor}.{patch + 1}.dev1"
    assert git(clone, "tag", "--list", dev).strip() == dev

    code, out, err = release(clone, "patch", capsys)  # nothing changed since the dev tag: a promotion
    assert code == 0, err
    stable = f"{PACKAGE}/v{major}.{minor}.{patch + 1}"
    assert f"tagged {stable}" in out
    changelog = (clone / "model_packages" / PACKAGE / "CHANGELOG.md").read_text(encoding="utf-8")
    latest = changelog.split("\n## ")[1]
    assert (
        latest.startswith(f"{major}.{minor}.{patch + 1} (") and "- model-ocr: a fix for staging (" in latest
    )

    code, _, err = release(clone, "patch", capsys)
    assert code == 1
    assert (
        err.strip()
        == f"vlmbench: error: nothing changed in model_packages/{PACKAGE} since {stable}; no release made"
    )


def test_a_clone_without_release_tags_lists_the_changes_since_the_recorded_release(
    clone: Path, capsys
) -> None:
    git(clone, "tag", "-d", f"{PACKAGE}/v{version_of(clone)}")  # as a checkout that fetched no tags
    recorded = git(clone, "log", "-1", "--format=%H", "--", f"model_packages/{PACKAGE}/release-source.json")
    code, _, err = release(clone, "patch", capsys)
    assert code == 1
    assert err.strip() == (
        f"vlmbench: error: nothing changed in model_packages/{PACKAGE} since the release recorded in "
        f"{recorded.strip()[:12]} (no release tags here); no release made"
    )

    change_package(clone, "model-ocr: the one change since")
    code, _, err = release(clone, "patch", capsys)
    assert code == 0, err
    changelog = (clone / "model_packages" / PACKAGE / "CHANGELOG.md").read_text(encoding="utf-8")
    latest = changelog.split("\n## ")[1].strip().splitlines()
    assert [line.rsplit(" (", 1)[0] for line in latest[1:] if line] == ["- model-ocr: the one change since"]
