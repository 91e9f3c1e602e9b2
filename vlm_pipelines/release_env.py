"""An isolated environment per release tag (the EnvManager of the original design).

`tag_environment(tag)` gives a uv virtual environment holding exactly the code of `<package>/v<version>`:
- a `git worktree` of the tag's commit (detached), so the working checkout is never touched;
- the third-party dependencies exported from *that commit's* uv.lock (`uv export --package`), so the
  versions are the ones the release was locked with, plus the requirements of every extra of the root
  project that brings one of its packages in (`vllm = ["model-vllm", "vllm==..."]`), pinned to the lock;
- the tagged package, the packages its models use and model-interface, built from the worktree
  (non-editable), plus dagster-pipes for the worker that runs the inference inside it.
Both are cached per tag and commit under `<data dir>/cache/tag-envs/`: a second run reuses them (a
moved tag is a new commit, hence a new environment). Builds of one tag are serialised by a file lock.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from vlm_pipelines.release_tags import ReleaseTag

READY = ".vlmbench-ready.json"


class TagEnvironmentError(RuntimeError):
    pass


@dataclass(frozen=True)
class TagEnvironment:
    tag: ReleaseTag
    worktree: Path
    venv: Path
    build_s: float | None  # None: reused from the cache

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def reused(self) -> bool:
        return self.build_s is None

    def versions(self) -> dict[str, str]:
        """The resolved versions recorded when the environment was built."""
        return json.loads((self.venv / READY).read_text(encoding="utf-8"))["versions"]


def _run(command: Sequence[str], cwd: Path | None = None) -> str:
    done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise TagEnvironmentError(
            f"{' '.join(command[:4])} ... failed: {(done.stderr or done.stdout).strip()[-1500:]}"
        )
    return done.stdout


def uv_executable() -> str:
    """uv on PATH or beside this interpreter (release environments and `vlmbench release` call it)."""
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        raise TagEnvironmentError(
            "uv is needed for release tags (their environments, `vlmbench release`); install it: pip install uv"
        )
    return uv


def _key(tag: ReleaseTag) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{tag.package}-{tag.version}-{tag.commit[:12]}")


def tag_environment(
    tag: ReleaseTag, repo: Path, cache_root: Path, packages: Sequence[str] = ()
) -> TagEnvironment:
    """The (cached) environment of `tag`. `packages` are further workspace packages its models use."""
    key = _key(tag)
    worktree, venv = cache_root / "worktrees" / key, cache_root / "envs" / key
    cache_root.mkdir(parents=True, exist_ok=True)
    with open(cache_root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / READY).exists():
            return TagEnvironment(tag, worktree, venv, build_s=None)
        started = time.perf_counter()
        _build(tag, repo, worktree, venv, [tag.package, *packages])
        return TagEnvironment(tag, worktree, venv, build_s=time.perf_counter() - started)


@dataclass(frozen=True)
class TagRequirements:
    """What a tag environment installs besides its own packages: `requirements` (`uv pip install -r`), and
    `constraints` (`-c`), the lock's versions for the dependencies of the root extras' requirements."""

    requirements: Path
    constraints: Path | None
    extras: dict[str, list[str]]  # root extra -> its third-party requirements


def root_extras(checkout: Path, packages: Sequence[str]) -> dict[str, list[str]]:
    """The root project's extras that bring in one of `packages`, each with its third-party requirements
    (`vllm = ["model-vllm", "vllm==0.32.0"]` gives {"vllm": ["vllm==0.32.0"]} for model-vllm)."""
    project = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    members = {
        canonicalize_name(path.parent.name) for path in checkout.glob("model_packages/*/pyproject.toml")
    }
    wanted = {canonicalize_name(name) for name in packages}
    extras = {}
    for extra, lines in project.get("optional-dependencies", {}).items():
        requirements = [Requirement(line) for line in lines]
        if any(canonicalize_name(requirement.name) in wanted for requirement in requirements):
            extras[extra] = [str(req) for req in requirements if canonicalize_name(req.name) not in members]
    return extras


def export_requirements(checkout: Path, packages: Sequence[str], folder: Path) -> TagRequirements:
    """The locked third-party requirements of `packages` (workspace members of `checkout`) and of the root
    extras that bring them in, written under `folder`."""
    export = [uv_executable(), "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-workspace",
              "--no-header", "--no-annotate", "--quiet"]  # fmt: skip
    requirements = folder / "requirements.txt"
    by_package = [argument for name in packages for argument in ("--package", name)]
    _run([*export, *by_package, "-o", str(requirements)], cwd=checkout)
    extras = root_extras(checkout, packages)
    if not extras:
        return TagRequirements(requirements, None, extras)
    # The whole root project with those extras, as constraints: it pins what the extras' requirements pull
    # in to the lock, and installs nothing by itself. dagster-pipes follows the orchestrator instead.
    locked = _run([*export, *(argument for extra in extras for argument in ("--extra", extra))], cwd=checkout)
    constraints = folder / "constraints.txt"
    constraints.write_text(
        "".join(line + "\n" for line in locked.splitlines() if not line.startswith("dagster-pipes==")),
        encoding="utf-8",
    )
    with requirements.open("a", encoding="utf-8") as file:
        file.writelines(f"{line}\n" for lines in extras.values() for line in lines)
    return TagRequirements(requirements, constraints, extras)


def install_command(python: str, needed: TagRequirements) -> list[str]:
    """`uv pip install` of a tag's third-party requirements, with the orchestrator's dagster-pipes (the
    worker inside the environment speaks Pipes with it)."""
    constraints = ["-c", str(needed.constraints)] if needed.constraints else []
    return [uv_executable(), "pip", "install", "--python", python, "-r", str(needed.requirements), *constraints,
            f"dagster-pipes=={metadata.version('dagster-pipes')}"]  # fmt: skip


def _build(tag: ReleaseTag, repo: Path, worktree: Path, venv: Path, packages: list[str]) -> None:
    uv = uv_executable()
    if not (worktree / ".git").exists():
        _run(["git", "-C", str(repo), "worktree", "prune"])
        _run(["git", "-C", str(repo), "worktree", "add", "--detach", "--force", str(worktree), tag.commit])
    members = worktree / "model_packages"
    wanted = ["model-interface", *dict.fromkeys(packages)]
    missing = [name for name in wanted if not (members / name / "pyproject.toml").exists()]
    if missing:
        raise TagEnvironmentError(f"{tag.name} ({tag.commit[:12]}) has no model_packages/{missing[0]}")
    folder = worktree / ".vlmbench-requirements"
    folder.mkdir(exist_ok=True)
    needed = export_requirements(worktree, wanted[1:], folder)
    shutil.rmtree(venv, ignore_errors=True)
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = str(venv / "bin" / "python")
    _run([*install_command(python, needed), "--quiet"])
    _run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            "--no-deps",
            *(str(members / name) for name in wanted),
        ]
    )
    versions = json.loads(_run([python, str(Path(__file__).with_name("provenance.py"))]))
    (venv / READY).write_text(
        json.dumps({"tag": tag.name, "commit": tag.commit, "versions": versions}, indent=2), encoding="utf-8"
    )
