"""The sample explorer of one task: a single self-contained HTML page (images as data URIs, inline script
and style, nothing fetched) built from the results archive. It filters the task's samples by result,
document type, field, score range and parse failure, shows a sample's zoomable image beside its question,
gold answers and every result's raw answer, extracted answer and scores, and diffs two results (two models,
or two keys of one model) on their shared samples, sorted by score difference.

Everything from documents and model output travels in one JSON block (`tojson` escapes `<`, `>`, `&` and
`'`) and the page inserts it as text only.

    python -m vlm_pipelines.reports.explorer --task demo_mini_vqa [--data-dir D] [--out FILE]
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from vlm_pipelines.evaluation.archive import ArchivedResult
from vlm_pipelines.evaluation.records import iso, now_ns
from vlm_pipelines.reports.tables import render

MAX_SIDE = 1600  # px, the long side of an embedded page
MAX_IMAGES = 400  # pages embedded in one page at most; the rest are named, not shown
JPEG_QUALITY = 85
SAMPLE_COLUMNS = ("doc_type", "field_name", "split", "question", "answers", "image_paths")


def task_results(results_root: Path, task: str) -> list[ArchivedResult]:
    """The task's archived results, one per result id, oldest first."""
    from vlm_pipelines.results import find_results

    return find_results(results_root, task=task, history=True)


def result_label(result: ArchivedResult) -> str:
    record = result.record
    return f"{record.model_name} · {record.result_id[:8]} · {record.key.package_version} · {record.created}"


def _number(value: Any) -> float | None:
    """A JSON-safe score: NaN and missing are None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def encode_page(page: Image.Image, max_side: int = MAX_SIDE) -> str:
    """A page downscaled to `max_side` as a data URI: PNG when it has few colours (rendered documents),
    else JPEG. The PNG holds its colours in a palette, exactly: a rendered A4 page at 1600 px is 134 KB
    against 302 KB as optimised RGB, encoded in 91 ms against 219 ms (docs/benchmarks.md)."""
    page = page.convert("RGB")
    page.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    colors = page.getcolors(maxcolors=256)
    if colors is not None:
        page.convert("P", palette=Image.Palette.ADAPTIVE, colors=len(colors)).save(buffer, format="PNG")
        kind = "png"
    else:
        page.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        kind = "jpeg"
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@functools.lru_cache(maxsize=256)  # a few MB: thumbnails
def _page_uris(path: str, mtime_ns: int, size: int, max_side: int) -> tuple[str, ...]:
    """The data URIs of a file's pages, encoded once per process for each version of the file (the explorers
    of every task are rewritten with each leaderboard)."""
    from model_interface import load_pages

    return tuple(encode_page(page, max_side) for page in load_pages(path, copy=False))


def page_uris(path: str, max_side: int = MAX_SIDE) -> tuple[str, ...]:
    """The data URIs of a file's pages, encoded once per process for each version of the file (the task
    report and the explorers share them)."""
    stat = Path(path).stat()
    return _page_uris(path, stat.st_mtime_ns, stat.st_size, max_side)


class _Images:
    """Each distinct image file read once; its pages become data URIs, up to `max_images` pages."""

    def __init__(self, max_side: int, max_images: int) -> None:
        self.max_side, self.max_images = max_side, max_images
        self.uris: list[str] = []
        self.by_path: dict[str, list[dict[str, Any]]] = {}

    def pages(self, path: str) -> list[dict[str, Any]]:
        """[{name, image (index into uris) or None, problem}] for each page of `path`."""
        if path not in self.by_path:
            self.by_path[path] = self._read(path)
        return self.by_path[path]

    def _read(self, path: str) -> list[dict[str, Any]]:
        name = Path(path).name
        try:
            pages = page_uris(path, self.max_side)
        except Exception as error:  # noqa: BLE001 - a page that cannot be read is named, not shown
            return [{"name": name, "image": None, "problem": str(error)}]
        shown = []
        for number, uri in enumerate(pages, start=1):
            label = f"{name} p{number}" if len(pages) > 1 else name
            if len(self.uris) >= self.max_images:
                shown.append(
                    {"name": label, "image": None, "problem": f"not embedded: over {self.max_images} pages"}
                )
                continue
            self.uris.append(uri)
            shown.append({"name": label, "image": len(self.uris) - 1, "problem": ""})
        return shown


def explorer_data(
    results: list[ArchivedResult], task: str, *, max_side: int = MAX_SIDE, max_images: int = MAX_IMAGES
) -> dict[str, Any]:
    """What the page shows, as plain JSON-ready data: the results, the samples (the union of the results'
    sample sets) with each result's answers and scores, and the embedded pages."""
    from vlm_pipelines.metrics import get_metric

    metrics = list(dict.fromkeys(metric for result in results for metric in result.record.metrics))
    samples: dict[str, dict[str, Any]] = {}
    for result in reversed(results):  # a sample's question, gold and pages from the newest result that has it
        scores = result.sample_metrics
        for row in scores.iter_rows(named=True):
            sample = samples.setdefault(
                row["sample_id"],
                {"id": row["sample_id"], **{column: row.get(column) for column in SAMPLE_COLUMNS}, "by": {}},
            )
            sample["by"][result.record.result_id] = {
                "raw": row.get("prediction_raw"),
                "extracted": row.get("prediction"),
                "parsed": bool(row.get("parsed", True)),
                "failed": bool(row.get("failed", False)),
                "error": row.get("error"),
                "scores": {
                    metric: _number(row.get(metric)) for metric in metrics if metric in scores.columns
                },
            }
    images = _Images(max_side, max_images)
    for sample in samples.values():
        sample["answers"] = [str(answer) for answer in sample["answers"] or []]
        sample["pages"] = [page for path in sample.pop("image_paths") or [] for page in images.pages(path)]
    return {
        "task": task,
        "generated": iso(now_ns()),
        "metrics": [
            {"name": metric, "higher_is_better": get_metric(metric).higher_is_better} for metric in metrics
        ],
        "results": [
            {
                "id": result.record.result_id,
                "short": result.record.result_id[:8],
                "model": result.record.model_name,
                "version": result.record.key.package_version,
                "date": result.record.created,
                "label": result_label(result),
                "n": result.record.n,
                "means": {metric: _number(value) for metric, value in result.record.means.items()},
            }
            for result in results
        ],
        "samples": sorted(samples.values(), key=lambda sample: sample["id"]),
        "images": images.uris,
    }


def write_explorer(
    results_root: Path,
    task: str,
    out_path: Path,
    *,
    max_side: int = MAX_SIDE,
    max_images: int = MAX_IMAGES,
) -> Path:
    """Writes the explorer of `task`'s archived results under `results_root` to `out_path` (see
    `write_task_explorer`)."""
    results = task_results(results_root, task)
    if not results:
        raise FileNotFoundError(f"no results of task {task!r} in {results_root}: run the task first")
    return write_task_explorer(results, task, out_path, max_side=max_side, max_images=max_images)


def write_task_explorer(
    results: list[ArchivedResult],
    task: str,
    out_path: Path,
    *,
    max_side: int = MAX_SIDE,
    max_images: int = MAX_IMAGES,
) -> Path:
    """Writes the explorer of `results` (one task's, newest of each key, at least one) to `out_path`, unless
    the file there already shows exactly these results (its sidecar `.key` says which), as after a run of
    another task."""
    key_path = out_path.with_name(out_path.name + ".key")
    key = _contents_key(results, max_side, max_images)
    if out_path.exists() and key_path.exists() and key_path.read_text(encoding="utf-8") == key:
        return out_path
    data = explorer_data(results, task, max_side=max_side, max_images=max_images)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render("explorer.html.j2", task=task, data=data), encoding="utf-8")
    key_path.write_text(key, encoding="utf-8")
    return out_path


def _contents_key(results: list[ArchivedResult], max_side: int, max_images: int) -> str:
    """What the page is made of: the results (ids and dates), the limits and this module's own code."""
    code = [Path(__file__), Path(__file__).parent / "templates" / "explorer.html.j2"]
    payload = [[(r.record.result_id, r.record.created_ns) for r in results], max_side, max_images]
    digest = hashlib.sha256(json.dumps(payload).encode())
    for path in code:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    from vlm_pipelines.evaluation.layout import EvaluationPaths, default_paths

    parser = argparse.ArgumentParser(
        prog="python -m vlm_pipelines.reports.explorer",
        description="Write the sample explorer of a task (one self-contained HTML file).",
    )
    parser.add_argument("--task", required=True, help="task name, e.g. demo_mini_vqa")
    parser.add_argument("--data-dir", type=Path, help="the data folder (default: VLMBENCH_DATA_DIR)")
    parser.add_argument(
        "--out", type=Path, help="the HTML file (default: <data dir>/reports/<task>/explorer.html)"
    )
    args = parser.parse_args(argv)
    paths = EvaluationPaths(args.data_dir.resolve()) if args.data_dir else default_paths()
    out = args.out or paths.root / "reports" / args.task / "explorer.html"
    try:
        written = write_explorer(paths.results, args.task, out)
    except FileNotFoundError as error:
        print(f"explorer: {error}", file=sys.stderr)
        return 1
    print(f"explorer of {args.task}: {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
