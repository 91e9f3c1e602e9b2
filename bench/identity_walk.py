"""Issue 14's model-based test for longer: `tests/pipeline/identity_walk.py`'s seeded random walk, with
every invariant checked after every step. Prints the steps, the invariant checks and the wall time.

    uv run python bench/identity_walk.py --steps 2000 --seed 7
    uv run python bench/identity_walk.py --steps 300 --seed 14 --tolerate "float() argument must be"

`--tolerate TEXT` lets the walk go past a step that failed with TEXT in its output (a known bug), to look
for others; a failed invariant prints the seed, the step and every step before it, and exits 1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pipeline.identity_walk import InvariantError, run_walk  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, action="append", help="repeatable (default: 1)")
    parser.add_argument(
        "--expensive",
        type=int,
        default=None,
        help="kills, subprocess and dagster reruns each (default: 1 per 100 steps)",
    )
    parser.add_argument("--tolerate", action="append", default=[], metavar="TEXT")
    parser.add_argument("--keep", action="store_true", help="keep the walk's data folder")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    failed = 0
    for seed in args.seed or [1]:
        root = Path(tempfile.mkdtemp(prefix=f"identity-walk-{seed}-"))
        try:
            report = run_walk(root, seed, args.steps, expensive=args.expensive, tolerate=tuple(args.tolerate))
            print(report.summary(), flush=True)
        except InvariantError as error:
            failed += 1
            print(f"INVARIANT FAILED: {error}", flush=True)
        finally:
            if args.keep:
                print(f"data folder: {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
