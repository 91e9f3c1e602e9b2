"""The typed records that cross step boundaries: a prepared dataset, a prediction manifest, a result.

Each is a pydantic model written as JSON next to what it describes and read back as the same type; the
Dagster layer turns them into metadata in one place (`defs/evaluation/metadata.py`), and the CLI and the
reports read their fields. Nothing is joined into a string to be split again.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from vlm_pipelines.evaluation.identity import ModelIdentity, PredictionKey, SampleSet, manifest_id, result_id


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


Record = TypeVar("Record", bound=BaseModel)


def write_record(record: BaseModel, path: Path) -> Path:
    """Writes `record` as JSON to `path`, atomically (a temp file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(record.model_dump_json(indent=2), encoding="utf-8")
    os.replace(partial, path)
    return path


def read_record(kind: type[Record], path: Path) -> Record:
    return kind.model_validate_json(path.read_text(encoding="utf-8"))


def now_ns() -> int:
    return time.time_ns()


def iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- dataset ---------------------------------------------------------------------------------------


class CheckRecord(_Record):
    passed: bool
    summary: str
    blocking: bool = True  # a failed non-blocking check is a warning: the dataset is still evaluated


class DatasetRecord(_Record):
    """A task's prepared dataset: what was read, what was refused and why, and its blocking checks."""

    task: str
    format: str
    source: str
    hash: str  # the content hash of the stored sample table ("" when nothing usable was read)
    encoding: str | None = None
    encoding_confidence: float | None = None  # 1.0 when given or UTF-8; low: see warnings
    records: int
    rows: int
    quarantined: int
    skipped_rows: int = 0  # empty rows (blank lines, Excel's ";;;;;;;"): not records, not quarantined
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    checks: dict[str, CheckRecord] = Field(default_factory=dict)
    # What a user should look at although the dataset is evaluated: a low-confidence encoding guess, NUL
    # characters removed, a failed non-blocking check.
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None  # why the dataset cannot be evaluated at all (no usable rows)
    prepared_ns: int = Field(default_factory=now_ns)

    @property
    def failed_checks(self) -> list[str]:
        """'<check>: <summary>' for each blocking check that failed."""
        return [
            f"{name}: {check.summary}"
            for name, check in self.checks.items()
            if check.blocking and not check.passed
        ]

    @property
    def problem(self) -> str:
        """Why this dataset is not evaluated ('' when it is)."""
        return self.error or "; ".join(self.failed_checks)

    def reasons_text(self) -> str:
        return ", ".join(f"{reason} x{count}" for reason, count in self.quarantine_reasons.items()) or "none"


# --- predictions -----------------------------------------------------------------------------------


class RunFigures(_Record):
    """One predictions run of a manifest: three honest speed figures. Loading the model (imports and
    weights; `load_wait_s` says how long the step waited for a background load), generation throughput
    (samples per second of the batch loop) and the end-to-end rate of the whole step."""

    run_id: str = ""
    started_ns: int = Field(default_factory=now_ns)
    computed: int
    reused: int
    failures: int = 0
    load_s: float
    load_wait_s: float = 0.0
    generate_s: float
    wall_s: float

    @property
    def samples_per_s(self) -> float:
        return per_second(self.computed, self.generate_s)

    @property
    def end_to_end_samples_per_s(self) -> float:
        return per_second(self.computed, self.wall_s)

    def describe(self) -> str:
        return (
            f"model load {self.load_s:.1f}s (waited {self.load_wait_s:.1f}s), generation "
            f"{self.samples_per_s:.2f} samples/s, end-to-end {self.end_to_end_samples_per_s:.2f} samples/s"
        )


def per_second(count: int, seconds: float) -> float:
    """A rate that is 0, not a division error, when nothing was done or no time passed."""
    return count / seconds if seconds > 0 and count else 0.0


class SpeedFigures(_Record):
    """A manifest's speed over the runs that computed its answers (a run that only reused stored answers
    measures nothing). None when no run of this manifest computed anything."""

    computed: int
    runs: int
    load_s: float | None
    samples_per_s: float | None
    end_to_end_samples_per_s: float | None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    ttft_p50_s: float | None = None
    tpot_p50_s: float | None = None
    peak_memory_mb: float | None = None
    output_tokens_total: float | None = None


class _Keyed(_Record):
    """What made a number: the model entry's answers (key, identity, generation config) on a sample set."""

    model_name: str
    task: str
    key: PredictionKey
    sample_set: SampleSet
    model: ModelIdentity
    generation: dict[str, Any]


class PredictionManifest(_Keyed):
    """One model entry's predictions of one sample set, and every run that made them."""

    runs: list[RunFigures] = Field(default_factory=list)
    failures: int = 0  # answers of the last run that failed (kept with their error)
    updated_ns: int = Field(default_factory=now_ns)

    @property
    def manifest_id(self) -> str:
        return manifest_id(self.model_name, self.key, self.sample_set)

    @property
    def result_id(self) -> str:
        return result_id(self.model_name, self.key, self.sample_set)

    def speed(self, latency: dict[str, float] | None = None) -> SpeedFigures:
        computing = [run for run in self.runs if run.computed]
        computed = sum(run.computed for run in computing)
        measured = bool(computing)
        latency = latency or {}
        return SpeedFigures(
            computed=computed,
            runs=len(computing),
            load_s=computing[-1].load_s if measured else None,
            samples_per_s=per_second(computed, sum(r.generate_s for r in computing)) if measured else None,
            end_to_end_samples_per_s=per_second(computed, sum(r.wall_s for r in computing))
            if measured
            else None,
            **{name: latency.get(name) for name in _LATENCY_FIELDS},
        )


_LATENCY_FIELDS = (
    "latency_p50_s",
    "latency_p95_s",
    "ttft_p50_s",
    "tpot_p50_s",
    "peak_memory_mb",
    "output_tokens_total",
)


# --- results ---------------------------------------------------------------------------------------


class ResultRecord(_Keyed):
    """An archived result: what made it (the whole key) and its headline figures."""

    result_id: str
    metrics: list[str]
    means: dict[str, float | None]
    n: int
    failed: int
    speed: SpeedFigures
    manifest_id: str
    created_ns: int = Field(default_factory=now_ns)
    migrated_from: str | None = None  # the folder of a result written before results were records

    @property
    def created(self) -> str:
        return iso(self.created_ns)

    @property
    def limitations(self) -> tuple[str, ...]:
        return self.model.limitations
