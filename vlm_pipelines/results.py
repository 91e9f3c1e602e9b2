"""The results archive: per-sample metrics and speed of every (task, model, package version, params hash)
evaluated. The params hash covers the entry's params and what their `auto` settings resolved to (the OCR
engine, dtype, device...), so a result made with RapidOCR and one made with Tesseract never overwrite
each other.

Layout: `<data_dir>/results/<task>/<model>/<package_version>/<params_hash>/{sample_metrics.parquet,speed.json}`.
Older versions stay, which gives the leaderboard its history.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class ArchivedResult:
    task: str
    model_name: str
    package_version: str
    params_hash: str
    folder: Path

    @property
    def sample_metrics(self) -> pl.DataFrame:
        return pl.read_parquet(self.folder / "sample_metrics.parquet")

    @property
    def speed(self) -> dict[str, float]:
        path = self.folder / "speed.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def written_at(self) -> float:
        return (self.folder / "sample_metrics.parquet").stat().st_mtime


def _safe(part: str) -> str:
    return part.replace("/", "_")


def archive_result(
    root: Path,
    *,
    task: str,
    model_name: str,
    package_version: str,
    params_hash: str,
    metrics: pl.DataFrame,
    speed: dict,
) -> ArchivedResult:
    folder = root / _safe(task) / _safe(model_name) / _safe(package_version) / _safe(params_hash)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "sample_metrics.parquet.tmp"
    metrics.write_parquet(partial)
    os.replace(partial, folder / "sample_metrics.parquet")
    (folder / "speed.json").write_text(json.dumps(speed, indent=2, sort_keys=True))
    return ArchivedResult(task, model_name, package_version, params_hash, folder)


def list_results(root: Path) -> list[ArchivedResult]:
    found = []
    for path in sorted(root.glob("*/*/*/*/sample_metrics.parquet")):
        folder = path.parent
        version, model, task = folder.parent, folder.parent.parent, folder.parent.parent.parent
        found.append(ArchivedResult(task.name, model.name, version.name, folder.name, folder))
    return found


def latest_results(root: Path) -> list[ArchivedResult]:
    """The most recently written version of each (task, model)."""
    latest: dict[tuple[str, str], ArchivedResult] = {}
    for result in list_results(root):
        key = (result.task, result.model_name)
        if key not in latest or result.written_at > latest[key].written_at:
            latest[key] = result
    return sorted(latest.values(), key=lambda r: (r.task, r.model_name))
