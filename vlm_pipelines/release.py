"""`vlmbench release <package> <major|minor|patch|dev>`: bump a model package's version, write its
changelog entry from the commits that touched it, commit, and tag `<package>/v<version>`. It refuses
uncommitted changes, untracked files in the package (the tag would not hold them) and an empty release (no
commit touched the package since its last tag; for a stable release, its last stable tag).

Model packages are versioned independently. Dev tags (`0.2.1.dev1`) are what staging evaluates; stable
tags are what prod images are built from (docs/deploy.md). The release sensor turns a new tag into runs,
each evaluating the tag's code in its own environment (`vlm_pipelines.release_env`).
"""

from __future__ import annotations

import datetime
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from model_interface.registry import RELEASE_SOURCE, record_release_source
from packaging.version import Version

PARTS = ("major", "minor", "patch", "dev")
VERSION_LINE = re.compile(r'^version\s*=\s*"(?P<version>[^"]+)"\s*$', re.MULTILINE)


class ReleaseError(ValueError):
    pass


def bumped(version: str, part: str) -> str:
    """major/minor/patch: the next release (a dev version's patch is that release itself);
    dev: the next dev release (0.2.0 -> 0.2.1.dev1, 0.2.1.dev1 -> 0.2.1.dev2)."""
    current = Version(version)
    major, minor, patch = (list(current.release) + [0, 0, 0])[:3]
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch}" if current.is_devrelease else f"{major}.{minor}.{patch + 1}"
    if part == "dev":
        if current.is_devrelease:
            return f"{major}.{minor}.{patch}.dev{(current.dev or 0) + 1}"
        return f"{major}.{minor}.{patch + 1}.dev1"
    raise ReleaseError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")


@dataclass(frozen=True)
class Release:
    package: str
    previous: str
    version: str
    tag: str
    commit: str
    changes: list[str]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def _previous_tag(repo: Path, package: str, stable: bool) -> str | None:
    """The package's latest tag; for a stable release the latest stable one (so promoting a dev release
    counts, and lists, the changes since the last stable release)."""
    from vlm_pipelines.release_tags import list_release_tags

    tags = [tag for tag in list_release_tags(repo) if tag.package == package]
    if stable:
        tags = [tag for tag in tags if not Version(tag.version).is_devrelease]
    return max(tags, key=lambda tag: Version(tag.version)).name if tags else None


def _previous_release(repo: Path, package: str, stable: bool) -> tuple[str, str] | None:
    """(revision, how to name it) of the package's previous release: its latest tag (`_previous_tag`) or, in
    a clone without the release tags, the commit that last recorded a release's source (`release-source.json`,
    written only by a release)."""
    tag = _previous_tag(repo, package, stable)
    if tag is not None:
        return tag, tag
    recorded = _git(
        repo, "log", "-1", "--format=%H", "--", f"model_packages/{package}/{RELEASE_SOURCE}"
    ).strip()
    return (recorded, f"the release recorded in {recorded[:12]} (no release tags here)") if recorded else None


def _relock(repo: Path) -> None:
    """uv.lock records each workspace member's version: refresh it (offline first)."""
    from vlm_pipelines.release_env import uv_executable

    uv = uv_executable()
    for command in ([uv, "lock", "--offline"], [uv, "lock"]):
        done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            return
    raise ReleaseError(f"uv lock failed: {done.stderr.strip()[-500:]}")


def release(repo: Path, package: str, part: str, today: datetime.date | None = None) -> Release:
    folder = repo / "model_packages" / package
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        known = sorted(path.parent.name for path in (repo / "model_packages").glob("*/pyproject.toml"))
        raise ReleaseError(f"no model package {package!r} in {repo}; packages: {', '.join(known)}")
    if _git(repo, "status", "--porcelain", "--untracked-files=no").strip():
        raise ReleaseError("the working tree has uncommitted changes; commit or stash them, then release")
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "--", f"model_packages/{package}")
    if untracked.strip():
        raise ReleaseError(
            f"{untracked.splitlines()[0]} is not tracked by git; commit it or delete it, then release "
            "(a release tag holds only committed files)"
        )
    text = pyproject.read_text(encoding="utf-8")
    match = VERSION_LINE.search(text)
    if match is None:
        raise ReleaseError(f'{pyproject}: no `version = "..."` line under [project]')
    previous, version = match["version"], bumped(match["version"], part)
    tag = f"{package}/v{version}"
    if _git(repo, "tag", "--list", tag).strip():
        raise ReleaseError(f"tag {tag} exists already")
    since = _previous_release(repo, package, stable=not Version(version).is_devrelease)
    span = [f"{since[0]}..HEAD"] if since else ["HEAD"]
    changes = _git(repo, "log", "--format=- %s (%h)", *span, "--", f"model_packages/{package}").splitlines()
    if not changes:
        raise ReleaseError(
            f"nothing changed in model_packages/{package} since {since[1] if since else 'the first commit'}; "
            "no release made"
        )
    pyproject.write_text(
        text[: match.start("version")] + version + text[match.end("version") :], encoding="utf-8"
    )
    changelog = folder / "CHANGELOG.md"
    old = changelog.read_text(encoding="utf-8") if changelog.exists() else f"# {package} changelog\n"
    head, _, rest = old.partition("\n")
    date = (today or datetime.date.today()).isoformat()
    entry = f"\n## {version} ({date})\n\n" + "\n".join(changes) + "\n"
    changelog.write_text(f"{head}\n{entry}{rest}", encoding="utf-8")
    if (repo / "uv.lock").exists():
        _relock(repo)
    source = record_release_source(folder, version)  # this source is the release: no `+src` label for it
    lock = ["uv.lock"] if (repo / "uv.lock").exists() else []
    _git(repo, "add", str(pyproject), str(changelog), str(source), *lock)
    _git(repo, "commit", "-q", "-m", f"release {package} v{version}")
    _git(repo, "tag", "-a", tag, "-m", f"{package} {version}")
    commit = _git(repo, "rev-parse", "HEAD").strip()
    return Release(package, previous, version, tag, commit, changes)
