"""The exact versions a result was produced with: our packages and the inference libraries.

Standard library only: the Pipes worker loads this file by path inside a tag's environment (where
vlm_pipelines is not installed), and `python -m vlm_pipelines.provenance` writes an image's versions.json.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata

LIBRARIES = ("torch", "transformers", "vllm", "flash-attn", "onnxruntime", "rapidocr-onnxruntime")


def resolved_versions(packages: tuple[str, ...] = ()) -> dict[str, str]:
    """`packages` (default: every installed vlmbench package) and the inference libraries, by name."""
    if not packages:
        packages = tuple(
            sorted(
                dist.metadata["Name"]
                for dist in metadata.distributions()
                if dist.metadata["Name"]
                and (dist.metadata["Name"].startswith("model-") or dist.metadata["Name"] == "vlm-pipelines")
            )
        )
    versions = {}
    for name in (*packages, *LIBRARIES):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["python"] = sys.version.split()[0]
    return versions


if __name__ == "__main__":
    print(json.dumps(resolved_versions(), indent=2, sort_keys=True))
