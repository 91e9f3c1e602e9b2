#!/usr/bin/env bash
# The GPU check of a host with one GPU: GPU discovery, the HF path (tiny Qwen2.5-VL, bf16 and fp32, batch 1
# and 8, TTFT and TPOT), the model service with an eviction, and the vLLM path where vllm is installed.
# One summary on stdout (bench/gpu_check.py says how each figure is measured; bench/README.md how to run
# it through the device tool).
#
#   bench/gpu_check.sh --prepare          # here (needs PyPI): the service's wheels for a host without them
#   bench/gpu_check.sh [--device cuda|cpu] [--budget-s 420] [--json FILE] [--log-dir DIR] [--sections ...]
#
# It uses the host's own Python, torch and transformers (PYTHON, else this checkout's .venv, else python3)
# and never installs them: the model packages go on PYTHONPATH, and the wheels that --prepare fetched
# (pydantic, fastapi, uvicorn and their few needs) into a throwaway folder.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=.whl/gpu-check # /.whl/ is ignored by git; the device tool's `carry` takes it along

if [[ ${1:-} == --prepare ]]; then
    # Exactly the versions of uv.lock, as wheels for CPython 3.12 on x86-64 Linux.
    mapfile -t pins < <(python3 - <<'EOF'
import tomllib

wanted = ["pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions",
          "fastapi", "starlette", "anyio", "idna", "annotated-doc", "uvicorn", "h11", "click",
          "prometheus-client", "psutil", "pyyaml"]
with open("uv.lock", "rb") as lock:
    versions = {package["name"]: package["version"] for package in tomllib.load(lock)["package"]}
for name in wanted:
    print(f"{name}=={versions[name]}")
EOF
    )
    rm -rf "$WHEELS"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 -d "$WHEELS" "${pins[@]}"
    size_kib=$(du -sk "$WHEELS" | cut -f1)
    if ((size_kib > 16 * 1024)); then
        echo "gpu_check: $WHEELS is ${size_kib} KiB, over the 16 MiB meant for it" >&2
        exit 1
    fi
    echo "gpu_check: $(ls "$WHEELS" | wc -l) wheels, ${size_kib} KiB in $WHEELS (carry it: \"$WHEELS\")"
    exit 0
fi

if [[ -z ${PYTHON:-} ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" bench/gpu_check.py --wheels "$WHEELS" "$@"
