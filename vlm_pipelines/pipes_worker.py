"""The inference worker inside a release tag's environment, run through Dagster Pipes.

Started as a file by `PipesSubprocessClient` (or in a tag's image by `PipesDockerClient`) with the tag
environment's Python, where only model-interface, the tagged model packages and dagster-pipes are
installed: it imports nothing of vlm_pipelines. Pipes carries its logs back to the run; batches come
and go as JSON files in the session's work folder (extras `workdir`):
  ready.json            written once the model is built: package version, resolved settings, versions
  inbox/000001.json     a batch: {"requests": [...], "config": {...}}; `inbox/stop` ends the session
  outbox/000001.json    its results, written atomically (a crash loses at most the batch in flight)
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

POLL_S = 0.05


def _write_atomically(path: Path, payload: dict) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def _resolved_versions(packages: tuple[str, ...]) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location(
        "vlmbench_provenance", Path(__file__).with_name("provenance.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.resolved_versions(packages)


def serve_batches(pipes, workdir: Path, model_id: str, params: dict) -> int:
    from model_interface import GenerationConfig, GenerationRequest, get_spec

    spec = get_spec(model_id)
    model = spec.create(params)
    ready = {
        "model_id": model_id,
        "package": spec.package,
        "package_version": spec.version,
        "package_versions": spec.versions,
        "resolved": dict(spec.resolution(params).settings),
        "limitations": list(spec.resolution(params).limitations),
        "versions": _resolved_versions(spec.packages),
    }
    _write_atomically(workdir / "ready.json", ready)
    pipes.log.info(f"tag environment: {spec.package} {spec.version} ({model_id}); loading the model")
    model.load()
    pipes.log.info(f"model loaded in {model.load_seconds or 0:.1f} s")
    inbox, outbox = workdir / "inbox", workdir / "outbox"
    answered = 0
    while True:
        batches = sorted(path for path in inbox.glob("*.json"))
        if not batches:
            if (inbox / "stop").exists():
                break
            time.sleep(POLL_S)
            continue
        for path in batches:
            batch = json.loads(path.read_text(encoding="utf-8"))
            requests = [GenerationRequest(**request) for request in batch["requests"]]
            results = model.generate(requests, GenerationConfig(**batch["config"]))
            _write_atomically(outbox / path.name, {"results": [result.model_dump() for result in results]})
            path.unlink()
            answered += len(results)
            pipes.log.info(f"batch {path.stem}: {len(results)} answers ({answered} in all)")
    pipes.report_custom_message({"answered": answered, **ready})
    return answered


def main() -> None:
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        serve_batches(pipes, Path(extras["workdir"]), extras["model_id"], extras["params"])


if __name__ == "__main__":
    main()
