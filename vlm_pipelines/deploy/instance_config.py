"""The deployment's dagster.yaml, with the GPU limit of the run queue filled in from the GPUs found at start.

`python -m vlm_pipelines.deploy.instance_config docker/dagster.yaml > $DAGSTER_HOME/dagster.yaml` (the
daemon's and webserver's entrypoint): the run queue's limit on runs tagged `vlmbench/gpu-run: true` becomes
the number of this host's GPUs that runs may take (all but `VLMBENCH_RESERVED_GPUS`), so N GPUs run up to N
GPU runs at once; the launcher then pins each run to its own devices, and a run needing more devices than are
free waits in the queue. CPU and HTTP-client runs are not counted. Dagster reads the limit as a plain
integer (no env var), hence the file is written, not templated.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from vlm_pipelines.gpus import GPU_RUN_TAG, run_gpus_of_host


def with_gpu_limit(config: dict[str, Any], gpu_count: int) -> dict[str, Any]:
    """`config` with the queue's limit on GPU runs set to `gpu_count`. With no GPU for runs there is no
    limit: a GPU run then fails at launch with the reason instead of waiting for ever."""
    config = copy.deepcopy(config)
    runs = config.setdefault("concurrency", {}).setdefault("runs", {})
    limits = [entry for entry in runs.get("tag_concurrency_limits", []) if entry.get("key") != GPU_RUN_TAG]
    if gpu_count > 0:
        limits.append({"key": GPU_RUN_TAG, "value": "true", "limit": gpu_count})
    runs["tag_concurrency_limits"] = limits
    return config


def main(argv: list[str] | None = None) -> int:
    (source,) = argv if argv is not None else sys.argv[1:]
    config = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    gpus = run_gpus_of_host()
    print(f"# written at start for {len(gpus)} GPU(s) for runs: {', '.join(g.uuid for g in gpus) or 'none'}")
    print(yaml.safe_dump(with_gpu_limit(config, len(gpus)), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
