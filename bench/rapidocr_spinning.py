"""RapidOCR's CPU and wall time with ONNX Runtime's spinning threads (RapidOCR's own sessions) and without
(`model_ocr.engines.build_rapidocr`), on demo_mini's three pages, alone and beside CPU-bound processes.

    uv run python bench/rapidocr_spinning.py --repeats 3 --busy 1

Each measurement runs in a fresh process (one engine, one warm-up page, then the three pages); the two kinds
alternate, and the lines read must be the same.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
from pathlib import Path

PAGES = Path(__file__).resolve().parents[1] / "data" / "vlmhyperbench_sample" / "demo_mini" / "images"
MEASURE = """
import hashlib, json, resource, sys, time
import numpy as np
from PIL import Image
from rapidocr_onnxruntime import RapidOCR
from model_ocr.engines import build_rapidocr

engine = build_rapidocr() if sys.argv[1] == "no-spin" else RapidOCR()
pages = [np.asarray(Image.open(path).convert("RGB")) for path in sys.argv[2:]]
engine(pages[-1])
before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
lines = [engine(page)[0] for page in pages]
wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
digest = hashlib.sha256(json.dumps(lines, default=str).encode()).hexdigest()[:12]
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "lines": digest}))
"""


def burn() -> None:
    while True:
        pass


def measure(kind: str) -> dict:
    pages = [str(PAGES / name) for name in ("1.jpg", "2.jpg", "3.png")]
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, kind, *pages], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=1, help="CPU-bound processes beside the measurement")
    args = parser.parse_args()
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(args.busy)]
    for process in burners:
        process.start()
    try:
        runs: dict[str, list[dict]] = {"spinning": [], "no-spin": []}
        for _ in range(args.repeats):
            for kind in runs:
                runs[kind].append(measure(kind))
                print(kind, runs[kind][-1], flush=True)
    finally:
        for process in burners:
            process.terminate()
    digests = {run["lines"] for kind_runs in runs.values() for run in kind_runs}
    for kind, kind_runs in runs.items():
        wall = statistics.median(run["wall_s"] for run in kind_runs)
        cpu = statistics.median(run["cpu_s"] for run in kind_runs)
        print(f"{kind}: median wall {wall:.2f} s, CPU {cpu:.2f} s ({args.busy} busy processes beside it)")
    print("the same lines in every run" if len(digests) == 1 else f"DIFFERENT LINES: {sorted(digests)}")


if __name__ == "__main__":
    main()
