"""Predictions of a release-tag run, made inside the tag's own environment through Dagster Pipes.

A run started for `<package>/v<version>` (the release sensor tags it) evaluates exactly that release:
`vlm_pipelines.release_env` gives the tag's cached environment, and `PipesWorkerModel` runs
`vlm_pipelines/pipes_worker.py` there with `PipesSubprocessClient` for the whole predictions step. The
usual resumable batch loop (`run_predictions`) hands it one batch at a time; the worker's logs stream
into the run, and the package version and resolved settings it reports key the predictions, so the
results of each release are kept apart and both appear in the leaderboard history.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from model_interface import (
    GenerationConfig,
    GenerationRequest,
    GenerationResult,
    ModelUnavailableError,
    VisionLanguageModel,
)

from vlm_pipelines.release_env import TagEnvironment

RELEASE_TAG = "vlmbench/release_tag"
RELEASE_COMMIT = "vlmbench/release_commit"
WORKER = Path(__file__).resolve().parents[2] / "pipes_worker.py"
PROVENANCE = WORKER.with_name("provenance.py")
POLL_S = 0.05


class PipesWorkerModel(VisionLanguageModel):
    """A model whose batches are answered by the Pipes worker in a tag's environment."""

    def __init__(
        self, model_id: str, params: dict[str, Any], environment: TagEnvironment, context, workdir: Path
    ) -> None:
        super().__init__(model_id, "unknown until the worker reports it")
        self.model_params = params
        self.environment = environment
        self.context = context
        self.workdir = workdir
        self.ready: dict[str, Any] = {}
        self._batches = 0
        self._thread: threading.Thread | None = None
        self._invocation: Any = None
        self._error: BaseException | None = None

    def _load(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        for folder in ("inbox", "outbox", "bin"):
            (self.workdir / folder).mkdir(parents=True)
        # The worker runs from a copy: a script's own folder goes first on sys.path, and ours holds
        # modules (settings, tasks, service...) that must not shadow anything in the tag's environment.
        for source in (WORKER, PROVENANCE):
            shutil.copy(source, self.workdir / "bin" / source.name)
        self._thread = threading.Thread(target=self._session, name="pipes-worker", daemon=True)
        self._thread.start()
        ready = self.workdir / "ready.json"
        while not ready.exists():
            if not self._thread.is_alive():
                raise ModelUnavailableError(
                    f"the worker in {self.environment.tag.name}'s environment stopped: {self._error}"
                )
            time.sleep(POLL_S)
        self.ready = json.loads(ready.read_text(encoding="utf-8"))
        self.package_version = self.ready["package_version"]

    def _session(self) -> None:
        client = dg.PipesSubprocessClient(cwd=str(self.environment.worktree))
        isolated = {"PYTHONPATH": "", "PYTHONNOUSERSITE": "1", "VIRTUAL_ENV": str(self.environment.venv)}
        try:
            self._invocation = client.run(
                context=self.context,
                command=[str(self.environment.python), str(self.workdir / "bin" / WORKER.name)],
                extras={"workdir": str(self.workdir), "model_id": self.model_id, "params": self.model_params},
                env=isolated,
            )
        except BaseException as error:  # noqa: BLE001 - reported by the caller waiting on the worker
            self._error = error

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], config: GenerationConfig
    ) -> list[GenerationResult]:
        self._batches += 1
        name = f"{self._batches:06d}.json"
        payload = {
            "requests": [request.model_dump(mode="json") for request in requests],
            "config": config.model_dump(mode="json"),
        }
        partial = self.workdir / "inbox" / f"{name}.partial"
        partial.write_text(json.dumps(payload, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(partial, self.workdir / "inbox" / name)
        answer = self.workdir / "outbox" / name
        while not answer.exists():
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError(
                    f"the worker in {self.environment.tag.name}'s environment stopped: {self._error}"
                )
            time.sleep(POLL_S)
        return [
            GenerationResult(**result) for result in json.loads(answer.read_text(encoding="utf-8"))["results"]
        ]

    def close(self) -> list[Any]:
        """Ends the session; the worker's Pipes messages (its summary)."""
        if self._thread is None:
            return []
        (self.workdir / "inbox" / "stop").touch()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._invocation.get_custom_messages() if self._invocation else []


def release_of_run(context) -> Any:
    """The release tag a run evaluates (None for an ordinary run), at the commit the sensor saw."""
    from vlm_pipelines import settings
    from vlm_pipelines.release_tags import list_release_tags

    name = context.run.tags.get(RELEASE_TAG)
    if not name:
        return None
    commit = context.run.tags.get(RELEASE_COMMIT)
    for tag in list_release_tags(settings.release_repo()):
        if tag.name == name and (commit is None or tag.commit == commit):
            return tag
    raise dg.Failure(
        description=f"release tag {name} ({commit or 'any commit'}) is not in {settings.release_repo()}"
    )


def predict_in_tag_environment(context, entry, task, paths, tag, **options):
    """`predict` with the model answering in `tag`'s environment; (Predicted, metadata for the asset)."""
    from model_interface import Resolution, get_spec

    from vlm_pipelines import settings
    from vlm_pipelines.evaluation import ReportedIdentity, predict
    from vlm_pipelines.release_env import tag_environment

    spec = get_spec(entry.model)
    environment = tag_environment(
        tag, settings.release_repo(), paths.cache / "tag-envs", packages=spec.uses_packages
    )
    context.log.info(
        f"{tag.name}: environment {'reused' if environment.reused else f'built in {environment.build_s:.1f} s'} "
        f"({environment.venv})"
    )
    workdir = paths.cache / "pipes" / context.run.run_id / entry.name
    model = PipesWorkerModel(entry.model, entry.params, environment, context, workdir)

    def identity() -> ReportedIdentity:
        ready = model.ready
        resolution = Resolution(settings=ready["resolved"], limitations=tuple(ready["limitations"]))
        return ReportedIdentity(ready["package_version"], ready["package_versions"], resolution)

    try:
        predicted = predict(entry, task, paths, model=model, identity=identity, **options)
    finally:
        messages = model.close() if model.is_loaded else []
    summary = messages[-1] if messages else model.ready
    metadata = {
        "release_tag": tag.name,
        "release_commit": tag.commit,
        "tag_environment": dg.MetadataValue.path(str(environment.venv)),
        "tag_environment_build_s": environment.build_s if environment.build_s is not None else 0.0,
        "tag_environment_reused": environment.reused,
        "resolved_versions": dg.MetadataValue.json(summary.get("versions", environment.versions())),
    }
    return predicted, metadata
