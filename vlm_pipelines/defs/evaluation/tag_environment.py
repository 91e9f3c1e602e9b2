"""Predictions of a release-tag run, made inside the tag's own environment through Dagster Pipes.

A run started for `<package>/v<version>` (the release sensor tags it) evaluates exactly that release:
`vlm_pipelines.release_env` gives the tag's cached environment, and `PipesWorkerModel` runs
`vlm_pipelines/pipes_worker.py` there with `PipesSubprocessClient` for the whole predictions step. The
usual resumable batch loop (`run_predictions`) hands it one batch at a time; the worker's logs stream
into the run, and the package version and resolved settings it reports key the predictions, so the
results of each release are kept apart and both appear in the leaderboard history.

With `VLMBENCH_TAG_RUNNER=docker` the worker runs in the tag's image instead (`PipesDockerClient`; the
image `VLMBENCH_TAG_IMAGE`, default `vlmbench:{package}-{version}`, built from the tag's worktree with
docker/Dockerfile's prod target), on the host network, pinned to the GPUs the run holds.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
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

from vlm_pipelines.gpus import DEVICES_TAG
from vlm_pipelines.release_env import TagEnvironment

RELEASE_TAG = "vlmbench/release_tag"
RELEASE_COMMIT = "vlmbench/release_commit"
VERSION_TAG_PREFIX = "vlmbench/version/"  # + a package or library name: its resolved version
WORKER = Path(__file__).resolve().parents[2] / "pipes_worker.py"
PROVENANCE = WORKER.with_name("provenance.py")
POLL_S = 0.05


# How a Pipes session is started: (context, worker script path, extras) -> the completed invocation.
SessionStarter = Callable[[Any, Path, dict[str, Any]], Any]


def subprocess_session(environment: TagEnvironment) -> SessionStarter:
    """The worker as a subprocess of this run, with the tag environment's Python (PipesSubprocessClient)."""

    def start(context, worker: Path, extras: dict[str, Any]):
        client = dg.PipesSubprocessClient(cwd=str(environment.worktree))
        isolated = {"PYTHONPATH": "", "PYTHONNOUSERSITE": "1", "VIRTUAL_ENV": str(environment.venv)}
        return client.run(
            context=context, command=[str(environment.python), str(worker)], extras=extras, env=isolated
        )

    return start


def docker_session(image: str, python: str, volumes: list[str], devices: list[str]) -> SessionStarter:
    """The worker in the tag's image (PipesDockerClient): the work folder and data mounted at their own
    paths, host networking (never the default bridge), and the run's GPUs, if it holds any."""

    def start(context, worker: Path, extras: dict[str, Any]):
        from dagster_docker import PipesDockerClient

        from vlm_pipelines.gpus import device_request

        container_kwargs: dict[str, Any] = {"volumes": volumes, "network_mode": "host", "auto_remove": False}
        if devices:
            container_kwargs["device_requests"] = [device_request(devices)]
        return PipesDockerClient().run(
            context=context, image=image, command=[python, str(worker)], extras=extras,
            env={"PYTHONNOUSERSITE": "1", "HOME": "/tmp"}, container_kwargs=container_kwargs,
        )  # fmt: skip

    return start


class PipesWorkerModel(VisionLanguageModel):
    """A model whose batches are answered by the Pipes worker in a tag's environment."""

    def __init__(
        self, model_id: str, params: dict[str, Any], tag: Any, start: SessionStarter, context, workdir: Path
    ) -> None:
        super().__init__(model_id, "unknown until the worker reports it")
        self.model_params = params
        self.tag = tag
        self.start_session = start
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
        self.ready = self._read_when_written(self.workdir / "ready.json", ModelUnavailableError)
        self.package_version = self.ready["package_version"]

    def _session(self) -> None:
        extras = {"workdir": str(self.workdir), "model_id": self.model_id, "params": self.model_params}
        try:
            self._invocation = self.start_session(self.context, self.workdir / "bin" / WORKER.name, extras)
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
        answer = self._read_when_written(self.workdir / "outbox" / name, RuntimeError)
        return [GenerationResult(**result) for result in answer["results"]]

    def _read_when_written(self, path: Path, error: type[Exception]) -> Any:
        """The JSON the worker writes (atomically) to `path`; `error` if the worker stops first."""
        while not path.exists():
            if self._thread is None or not self._thread.is_alive():
                raise error(f"the worker in {self.tag.name}'s environment stopped: {self._error}")
            time.sleep(POLL_S)
        return json.loads(path.read_text(encoding="utf-8"))

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

    workdir = paths.cache / "pipes" / context.run.run_id / entry.name
    if settings.tag_runner() == "docker":
        image = settings.tag_image().format(package=tag.package, version=tag.version)
        data = [str(paths.root), str(settings.REPO_ROOT / "data")]
        volumes = [f"{workdir}:{workdir}", *(f"{path}:{path}:ro" for path in data), *settings.tag_volumes()]
        devices = [uuid for uuid in context.run.tags.get(DEVICES_TAG, "").split(",") if uuid]
        start, environment = docker_session(image, settings.tag_python(), volumes, devices), None
        context.log.info(f"{tag.name}: inference in the image {image}")
    else:
        spec = get_spec(entry.model)
        environment = tag_environment(
            tag, settings.release_repo(), paths.cache / "tag-envs", packages=spec.uses_packages
        )
        built = "reused" if environment.reused else f"built in {environment.build_s:.1f} s"
        context.log.info(f"{tag.name}: environment {built} ({environment.venv})")
        start = subprocess_session(environment)
    model = PipesWorkerModel(entry.model, entry.params, tag, start, context, workdir)

    def identity() -> ReportedIdentity:
        ready = model.ready
        resolution = Resolution(settings=ready["resolved"], limitations=tuple(ready["limitations"]))
        return ReportedIdentity(ready["package_version"], ready["package_versions"], resolution)

    try:
        predicted = predict(entry, task, paths, model=model, identity=identity, **options)
    finally:
        messages = model.close() if model.is_loaded else []
    summary = messages[-1] if messages else model.ready
    versions = summary.get("versions", {})
    # The exact versions also go into the run's tags, where the runs list shows and filters them.
    context.instance.add_run_tags(
        context.run.run_id, {f"{VERSION_TAG_PREFIX}{name}": version for name, version in versions.items()}
    )
    metadata: dict[str, Any] = {
        "release_tag": tag.name,
        "release_commit": tag.commit,
        "resolved_versions": dg.MetadataValue.json(versions),
    }
    if environment is not None:
        metadata |= {
            "tag_environment": dg.MetadataValue.path(str(environment.venv)),
            "tag_environment_build_s": environment.build_s if environment.build_s is not None else 0.0,
            "tag_environment_reused": environment.reused,
        }
    else:
        metadata["tag_image"] = image
    return predicted, metadata
