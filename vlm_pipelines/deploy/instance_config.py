"""The deployment's dagster.yaml, with the per-GPU limits filled in from the GPUs found at start.

`python -m vlm_pipelines.deploy.instance_config docker/dagster.yaml > $DAGSTER_HOME/dagster.yaml` (the
daemon's and webserver's entrypoint): the `vlmbench/inference` run limit becomes this host's GPU count,
so N GPUs run up to N inference runs at once; the launcher then pins each run to its own devices.
Dagster reads the limit as a plain integer (no env var), hence the file is written, not templated.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from vlm_pipelines.gpus import discover_gpus

INFERENCE_TAG = "vlmbench/inference"


def with_gpu_limit(config: dict[str, Any], gpu_count: int) -> dict[str, Any]:
    """`config` with the `vlmbench/inference` tag limit set to `gpu_count` (at least 1: a CPU-only host
    still runs one inference at a time)."""
    config = copy.deepcopy(config)
    limits = (
        config.setdefault("concurrency", {}).setdefault("runs", {}).setdefault("tag_concurrency_limits", [])
    )
    limit = max(gpu_count, 1)
    for entry in limits:
        if entry.get("key") == INFERENCE_TAG:
            entry["limit"] = limit
            break
    else:
        limits.append({"key": INFERENCE_TAG, "limit": limit})
    return config


def main(argv: list[str] | None = None) -> int:
    (source,) = argv if argv is not None else sys.argv[1:]
    config = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    gpus = discover_gpus()
    print(f"# written at start for {len(gpus)} GPU(s): {', '.join(g.uuid for g in gpus) or 'none'}")
    print(yaml.safe_dump(with_gpu_limit(config, len(gpus)), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
