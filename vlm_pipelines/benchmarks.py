"""The standard document benchmarks: where each one's data comes from, whether it is here, the figures
published for it, and how our figure compares with them. No Dagster; `vlmbench benchmarks` prints this.

Data comes in the layouts users already have:
- the Hugging Face dataset that lmms-eval reads, as parquet shards: in the hub cache (`HF_HUB_CACHE`, else
  `HF_HOME/hub`, else `~/.cache/huggingface/hub`; `datasets--<org>--<name>/snapshots/<commit>/...`) or in a
  folder of the user's (`hf download ... --local-dir DIR`);
- VLMEvalKit's TSV, in its data folder (`LMUData`, else `~/LMUData`) or a folder of the user's.

`download` fetches a benchmark's split with `huggingface_hub.snapshot_download`, which honours `HF_ENDPOINT`
(a mirror) and `HF_TOKEN`; `tests/hub_stand_in.py` is a loopback Hub that the tests download from.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VLMEVALKIT_TSV_BASE = "https://opencompass.openxlab.space/utils/VLMEval"
LMMS_EVAL_04 = "https://github.com/EvolvingLMMs-Lab/lmms-eval/blob/main/docs/lmms-eval-0.4.md"
CARD = "https://huggingface.co/Qwen/{}"


class BenchmarkError(Exception):
    """An unknown benchmark, a download that cannot happen, a results file that is not one: the user's
    to fix, printed as one line."""


@dataclass(frozen=True)
class Reference:
    """One published figure, in the benchmark's own units (points out of 100; OCRBench out of 1000)."""

    model: str  # our model registry name (`registry/models`), e.g. qwen2.5-vl-3b
    figure: float
    split: str  # the split the figure was measured on
    source: str
    url: str
    backend: str | None = None  # "hf" or "vllm" where the source says; a model card does not

    def label(self) -> str:
        return f"{self.source}" + (f" ({self.backend})" if self.backend else "")


@dataclass(frozen=True)
class Benchmark:
    name: str  # the task name in registry/tasks
    title: str
    repo_id: str  # the Hugging Face dataset lmms-eval reads
    config: str | None
    split: str
    shards: tuple[str, ...]  # the split's parquet shards in the repo (allow_patterns)
    expected_rows: int
    tsv_name: str  # VLMEvalKit's dataset name and file (<name>.tsv)
    tsv_md5: str  # VLMEvalKit's DATASET_MD5 for it
    metrics: tuple[str, ...]  # the task metric the figure is made of (the first one present is used)
    scale: float  # our mean (0..1 per sample) times this gives the figure's units
    tolerance: float  # how far our figure may be from a reference on the same split
    references: tuple[Reference, ...] = field(default=())

    @property
    def tsv_url(self) -> str:
        return f"{VLMEVALKIT_TSV_BASE}/{self.tsv_name}.tsv"

    @property
    def source(self) -> str:
        return (
            f"{self.repo_id}" + (f" (config {self.config})" if self.config else "") + f", split {self.split}"
        )

    def download_command(self) -> str:
        """What fetches the split on a machine with hub access (`hf` comes with huggingface_hub)."""
        includes = " ".join(f"--include {shlex.quote(pattern)}" for pattern in self.shards)
        return f"hf download {self.repo_id} --repo-type dataset {includes}"

    def vlmbench_command(self) -> str:
        return f"vlmbench benchmarks download {self.name}"

    def tsv_command(self) -> str:
        return f'wget -P "${{LMUData:-$HOME/LMUData}}" {self.tsv_url}'


def _card(model: str, repo: str, figure: float, split: str) -> Reference:
    return Reference(model, figure, split, f"{repo} model card", CARD.format(repo))


def _lmms(figure: float, split: str, backend: str) -> Reference:
    return Reference("qwen2.5-vl-3b", figure, split, "lmms-eval v0.4 release notes", LMMS_EVAL_04, backend)


Q2_2B, Q25_3B, Q25_7B = "Qwen2-VL-2B-Instruct", "Qwen2.5-VL-3B-Instruct", "Qwen2.5-VL-7B-Instruct"

BENCHMARKS: dict[str, Benchmark] = {
    benchmark.name: benchmark
    for benchmark in (
        Benchmark(
            name="docvqa_val",
            title="DocVQA val (ANLS)",
            repo_id="lmms-lab/DocVQA",
            config="DocVQA",
            split="validation",
            shards=("DocVQA/validation-*.parquet",),
            expected_rows=5349,
            tsv_name="DocVQA_VAL",
            tsv_md5="d5ee77e1926ff10690d469c56b73eabf",
            metrics=("anls",),
            scale=100,
            tolerance=1.0,
            references=(
                _card("qwen2-vl-2b", Q2_2B, 90.1, "test"),
                _card("qwen2.5-vl-3b", Q25_3B, 93.9, "test"),
                _card("qwen2.5-vl-7b", Q25_7B, 95.7, "test"),
                _lmms(92.54, "validation", "hf"),
                _lmms(92.81, "validation", "vllm"),
            ),
        ),
        Benchmark(
            name="infovqa_val",
            title="InfographicVQA val (ANLS)",
            repo_id="lmms-lab/DocVQA",
            config="InfographicVQA",
            split="validation",
            shards=("InfographicVQA/validation-*.parquet",),
            expected_rows=2801,
            tsv_name="InfoVQA_VAL",
            tsv_md5="2342e9c225222f0ef4dec545ebb126fe",
            metrics=("anls",),
            scale=100,
            tolerance=1.0,
            references=(
                _card("qwen2-vl-2b", Q2_2B, 65.5, "test"),
                _card("qwen2.5-vl-3b", Q25_3B, 77.1, "test"),
                _card("qwen2.5-vl-7b", Q25_7B, 82.6, "test"),
            ),
        ),
        Benchmark(
            name="chartqa_test",
            title="ChartQA test (relaxed accuracy, human + augmented)",
            repo_id="lmms-lab/ChartQA",
            config=None,
            split="test",
            shards=("data/test-*.parquet",),
            expected_rows=2500,
            tsv_name="ChartQA_TEST",
            tsv_md5="c902e0aa9be5582a7aad6dcf52734b42",
            metrics=("relaxed_accuracy",),
            scale=100,
            tolerance=1.0,
            references=(
                _card("qwen2-vl-2b", Q2_2B, 73.5, "test"),
                _card("qwen2.5-vl-7b", Q25_7B, 87.3, "test"),
                _lmms(83.44, "test", "hf"),
                _lmms(83.68, "test", "vllm"),
            ),
        ),
        Benchmark(
            name="ocrbench",
            title="OCRBench v1 (score out of 1000)",
            repo_id="echo840/OCRBench",
            config=None,
            split="test",
            shards=("data/test-*.parquet",),
            expected_rows=1000,
            tsv_name="OCRBench",
            tsv_md5="e953d98a987cc6e26ef717b61260b778",
            metrics=("ocrbench",),
            scale=1000,
            tolerance=15.0,
            references=(
                _card("qwen2-vl-2b", Q2_2B, 794, "test"),
                _card("qwen2.5-vl-7b", Q25_7B, 864, "test"),
                _lmms(791, "test", "hf"),
                _lmms(781, "test", "vllm"),
            ),
        ),
        Benchmark(
            name="textvqa_val",
            title="TextVQA val (VQA accuracy)",
            repo_id="lmms-lab/textvqa",
            config=None,
            split="validation",
            shards=("data/validation-*.parquet",),
            expected_rows=5000,
            tsv_name="TextVQA_VAL",
            tsv_md5="b233b31f551bbf4056f2f955da3a92cd",
            metrics=("vqa_accuracy",),
            scale=100,
            tolerance=1.0,
            references=(
                _card("qwen2-vl-2b", Q2_2B, 79.7, "validation"),
                _card("qwen2.5-vl-3b", Q25_3B, 79.3, "validation"),
                _card("qwen2.5-vl-7b", Q25_7B, 84.9, "validation"),
            ),
        ),
        Benchmark(
            name="mtvqa_ru",
            title="MTVQA test, Russian part (answer contained)",
            repo_id="ByteDance/MTVQA",
            config=None,
            split="test",
            shards=("data/test-*.parquet",),
            # questions in all nine languages (the parquet has 2116 rows, one per image; not yet readable here)
            expected_rows=6778,
            tsv_name="MTVQA_TEST",
            tsv_md5="d87c17dbab934b7cd89c0a3c1c5657f4",
            metrics=("mtvqa_accuracy",),
            scale=100,
            tolerance=2.0,
            # The model card gives the average over all nine languages, never the Russian part alone.
            references=(_card("qwen2-vl-2b", Q2_2B, 20.0, "test, all 9 languages (not RU)"),),
        ),
    )
}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r}; use one of {', '.join(BENCHMARKS)}") from None


# --- where the data is here ------------------------------------------------------------------------


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, by huggingface_hub's rules, read now (not at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "huggingface" / "hub"


def vlmevalkit_data_dir() -> Path:
    """VLMEvalKit's data folder: `LMUData`, else ~/LMUData."""
    return Path(os.environ.get("LMUData") or Path.home() / "LMUData").expanduser()


@dataclass(frozen=True)
class Copy:
    """One copy of a benchmark's data found here."""

    layout: str  # "hf parquet" or "vlmevalkit tsv"
    where: str  # "hub cache", "folder" or "VLMEvalKit data"
    path: Path  # what to give as dataset.path: the split's first shard, or the TSV
    files: tuple[Path, ...]
    rows: int | None  # None: not counted (a TSV is only checked for its presence)

    def rows_note(self, expected: int) -> str:
        if self.rows is None:
            return "rows not counted"
        if self.rows == expected:
            return f"{self.rows} rows, as expected"
        return f"{self.rows} rows, expected {expected}: a partial or different copy"


def _shards_under(root: Path, patterns: Sequence[str]) -> list[Path]:
    if not root.is_dir():
        return []
    found = [path for pattern in patterns for path in root.glob(pattern) if path.is_file()]
    return sorted(set(found))


def _parquet_rows(files: Iterable[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)


def _parquet_copy(where: str, root: Path, benchmark: Benchmark) -> Copy | None:
    files = _shards_under(root, benchmark.shards)
    if not files:
        return None
    # the first shard stands for its split (readers/hf_parquet.py reads all of the split's shards)
    return Copy("hf parquet", where, files[0], tuple(files), _parquet_rows(files))


def hub_snapshot(repo_id: str, cache_dir: Path | None = None, revision: str = "main") -> Path | None:
    """The cached snapshot folder of dataset `repo_id` at `revision` (the hub cache's layout)."""
    storage = (cache_dir or hub_cache_dir()) / f"datasets--{repo_id.replace('/', '--')}"
    ref = storage / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = storage / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def find_copies(benchmark: Benchmark, folders: Sequence[Path] = ()) -> list[Copy]:
    """Every copy of the benchmark here: in the hub cache, in VLMEvalKit's data folder and in `folders`
    (each searched for the repo's shard layout and for the TSV)."""
    copies: list[Copy] = []
    snapshot = hub_snapshot(benchmark.repo_id)
    if snapshot is not None and (copy := _parquet_copy("hub cache", snapshot, benchmark)):
        copies.append(copy)
    tsv_dirs = [("VLMEvalKit data", vlmevalkit_data_dir())] + [("folder", Path(f)) for f in folders]
    for folder in folders:
        if copy := _parquet_copy("folder", Path(folder), benchmark):
            copies.append(copy)
    for where, folder in tsv_dirs:
        tsv = folder / f"{benchmark.tsv_name}.tsv"
        if tsv.is_file():
            copies.append(Copy("vlmevalkit tsv", where, tsv, (tsv,), None))
    return copies


# --- download --------------------------------------------------------------------------------------


def download(name: str, to: Path | None = None) -> Copy:
    """Downloads the benchmark's split (its parquet shards only) into the hub cache, or into folder `to`;
    returns the copy now here. `HF_ENDPOINT` and `HF_TOKEN` are honoured, as huggingface_hub does."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    benchmark = get_benchmark(name)
    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    where = f"{benchmark.repo_id} from {endpoint}"
    try:
        folder = snapshot_download(
            benchmark.repo_id,
            repo_type="dataset",
            allow_patterns=list(benchmark.shards),
            local_dir=to,
            cache_dir=None if to is not None else hub_cache_dir(),
            endpoint=endpoint,
        )
    except (GatedRepoError, RepositoryNotFoundError) as error:
        raise BenchmarkError(
            f"cannot download {where}: {type(error).__name__} (a private or gated repository needs "
            "HF_TOKEN, or `hf auth login`)"
        ) from None
    except (OfflineModeIsEnabled, LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        reason = _first_line(error)
        if isinstance(error.__cause__, OfflineModeIsEnabled) or isinstance(error, OfflineModeIsEnabled):
            reason = "HF_HUB_OFFLINE is set; unset it to download"
        elif isinstance(error.__cause__, Exception):
            reason = f"{type(error.__cause__).__name__}: {_first_line(error.__cause__)}"
        raise BenchmarkError(
            f"cannot download {where} ({reason}); on a machine with hub access run "
            f"`{benchmark.download_command()}`, copy the files here and give their folder to "
            "`vlmbench benchmarks --dir`"
        ) from None
    copy = _parquet_copy("folder" if to is not None else "hub cache", Path(folder), benchmark)
    if copy is None:
        raise BenchmarkError(f"{where} has no files matching {', '.join(benchmark.shards)}")
    return copy


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- the listing -----------------------------------------------------------------------------------


def describe(benchmark: Benchmark, folders: Sequence[Path] = ()) -> dict[str, Any]:
    """What `vlmbench benchmarks` says of one benchmark, as plain data (also its --json)."""
    return {
        "name": benchmark.name,
        "title": benchmark.title,
        "hub": {
            "repo_id": benchmark.repo_id,
            "config": benchmark.config,
            "split": benchmark.split,
            "shards": list(benchmark.shards),
            "download": benchmark.download_command(),
            "vlmbench": benchmark.vlmbench_command(),
        },
        "vlmevalkit_tsv": {"name": benchmark.tsv_name, "url": benchmark.tsv_url, "md5": benchmark.tsv_md5},
        "expected_rows": benchmark.expected_rows,
        "present": [
            {
                "layout": copy.layout,
                "where": copy.where,
                "dataset_path": str(copy.path),
                "files": len(copy.files),
                "rows": copy.rows,
                "complete": copy.rows == benchmark.expected_rows if copy.rows is not None else None,
            }
            for copy in find_copies(benchmark, folders)
        ],
        "tolerance": benchmark.tolerance,
        "references": [
            {
                "model": ref.model,
                "figure": ref.figure,
                "split": ref.split,
                "backend": ref.backend,
                "source": ref.source,
                "url": ref.url,
            }
            for ref in benchmark.references
        ],
    }


def listing_text(folders: Sequence[Path] = (), width: int = 100) -> str:
    import textwrap

    def wrapped(text: str) -> str:
        return textwrap.fill(
            text,
            width,
            initial_indent="    ",
            subsequent_indent="      ",
            break_long_words=False,  # paths and commands stay whole, to copy
            break_on_hyphens=False,
        )

    lines = [f"Hub cache: {hub_cache_dir()}; VLMEvalKit data: {vlmevalkit_data_dir()}"]
    for benchmark in BENCHMARKS.values():
        copies = find_copies(benchmark, folders)
        lines += ["", f"{benchmark.name}  {benchmark.title}, {benchmark.expected_rows} rows"]
        lines.append(wrapped(f"hub: {benchmark.source}"))
        # commands and paths are never wrapped, to copy whole
        lines.append(f"    download: {benchmark.vlmbench_command()}")
        lines.append(f"    on another machine: {benchmark.download_command()}")
        lines.append(wrapped(f"VLMEvalKit TSV: {benchmark.tsv_url} (md5 {benchmark.tsv_md5})"))
        if not copies:
            lines.append("    here: not present")
        for copy in copies:
            note = copy.rows_note(benchmark.expected_rows)
            lines.append(f"    here: {copy.layout} in {copy.where}, {note}:\n      {copy.path}")
        if copies:
            lines.append(
                f"    run: vlmbench run --model MODEL --task {benchmark.name} --set dataset.path={copies[0].path}"
            )
        for ref in benchmark.references:
            lines.append(
                wrapped(
                    f"reference: {ref.model} {_figure(ref.figure, benchmark)} on {ref.split} "
                    f"(±{_figure(benchmark.tolerance, benchmark)}), {ref.label()}, {ref.url}"
                )
            )
    return "\n".join(lines)


def _figure(value: float, benchmark: Benchmark) -> str:
    return f"{value:.0f}" if benchmark.scale >= 1000 else f"{value:.2f}".rstrip("0").rstrip(".")


# --- our figure next to the references -------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    benchmark: str
    reference: Reference
    ours: float | None  # in the reference's units
    n: int | None
    same_split: bool

    @property
    def difference(self) -> float | None:
        return None if self.ours is None else self.ours - self.reference.figure

    def verdict(self, tolerance: float) -> str:
        if self.ours is None:
            return "no result"
        if abs(self.difference) <= tolerance:
            return "ok" if self.same_split else "ok (other split)"
        return "off" if self.same_split else "off (other split)"


def figure_of(benchmark: Benchmark, scores: Any) -> tuple[float | None, int]:
    """Our figure on `benchmark` from a result's per-sample scores (a polars frame), in the references'
    units, and the number of samples it rests on. OCRBench scores each sample by its category's rule
    (`metrics.ocrbench.ocrbench_category_scores`); on a subset the score is scaled to 1000."""
    import polars as pl

    metric = next((name for name in benchmark.metrics if name in scores.columns), None)
    if metric is None or scores.height == 0:
        return None, 0
    if benchmark.name == "ocrbench" and {"ocrbench_formula", "doc_type"} <= set(scores.columns):
        from vlm_pipelines.metrics.ocrbench import ocrbench_category_scores

        frame = scores.select("doc_type", "ocrbench", "ocrbench_formula").fill_nan(None).fill_null(0.0)
        totals = ocrbench_category_scores(
            frame["doc_type"].to_list(), frame["ocrbench"].to_list(), frame["ocrbench_formula"].to_list()
        )
        return totals["Final Score"] * benchmark.scale / frame.height, frame.height
    values = scores.get_column(metric).cast(pl.Float64).fill_nan(None).drop_nulls()
    if values.len() == 0:
        return None, 0
    return float(values.mean()) * benchmark.scale, values.len()


def figures_from_summary(
    summaries: Sequence[dict[str, Any]], model: str | None, tasks: Sequence[str]
) -> dict[str, tuple]:
    """task -> (figure, n) of `model` (None: the one model the runs evaluated) in runs' results.json
    (`vlmbench run --output DIR`), from the per-sample scores each points to."""
    import polars as pl

    entries = [entry for summary in summaries for entry in summary.get("results", [])]
    if model is None:
        models = sorted({entry.get("model") for entry in entries})
        if len(models) > 1:
            raise BenchmarkError(f"the results hold several models ({', '.join(models)}); give --model")
        model = models[0] if models else None
    found = {}
    for entry in entries:
        task = benchmark_of(entry.get("task", ""))
        if entry.get("model") == model and task in tasks:
            scores = pl.read_parquet(entry["per_sample_parquet"])
            found[task] = figure_of(get_benchmark(task), scores)
    return found


def benchmark_of(task: str) -> str:
    """The benchmark a task name stands for: itself, or the entry a command-line variant was made from
    (`docvqa_val-1a2b3c4d` after `--set dataset.path=...`, `identity.variant_name`)."""
    base = re.sub(r"-[0-9a-f]{8}$", "", task)
    return base if base in BENCHMARKS and task not in BENCHMARKS else task


def figures_from_archive(model: str, tasks: Sequence[str]) -> dict[str, tuple]:
    """task -> (figure, n) of the newest archived result of `model` on each task."""
    from vlm_pipelines.evaluation import default_paths
    from vlm_pipelines.results import find_results

    found = {}
    for task in tasks:
        results = find_results(default_paths().results, task=task, model=model)
        if results:
            found[task] = figure_of(get_benchmark(task), results[-1].sample_metrics)
    return found


def best_copy(benchmark: Benchmark, folders: Sequence[Path] = ()) -> Copy | None:
    """The copy a run should read: a complete parquet split, else a TSV, else any parquet copy."""
    copies = find_copies(benchmark, folders)

    def rank(copy: Copy) -> int:
        complete = copy.rows == benchmark.expected_rows
        return 0 if complete else 1 if copy.layout == "vlmevalkit tsv" else 2

    return min(copies, key=rank) if copies else None


def compare(
    figures: dict[str, tuple], reference_model: str, backend: str | None, tasks: Sequence[str]
) -> list[Comparison]:
    """Our figure on each task next to each reference for `reference_model`: every model-card figure, and
    the reproductions made with `backend` (all of them when it is None)."""
    rows = []
    for task in tasks:
        benchmark = get_benchmark(task)
        ours, n = figures.get(task, (None, None))
        for ref in benchmark.references:
            if ref.model != reference_model or (ref.backend and backend and ref.backend != backend):
                continue
            rows.append(Comparison(task, ref, ours, n, ref.split == benchmark.split))
    return rows


def comparison_text(rows: Sequence[Comparison], stand_in: str | None = None) -> str:
    import polars as pl

    from vlm_pipelines.reports.tables import markdown_table

    table = pl.DataFrame(
        [
            {
                "benchmark": row.benchmark,
                "ours": "-" if row.ours is None else _figure(row.ours, BENCHMARKS[row.benchmark]),
                "n": row.n,
                "reference": _figure(row.reference.figure, BENCHMARKS[row.benchmark]),
                "ref split": row.reference.split,
                "source": row.reference.label(),
                "tolerance": f"±{_figure(BENCHMARKS[row.benchmark].tolerance, BENCHMARKS[row.benchmark])}",
                "verdict": row.verdict(BENCHMARKS[row.benchmark].tolerance),
            }
            for row in rows
        ],
        schema_overrides={"n": pl.Int64},
    )
    lines = [markdown_table(table).rstrip()] if rows else ["no reference figures for this model"]
    if stand_in:
        lines.insert(0, f"STAND-IN: {stand_in}\n")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vlm_pipelines.benchmarks compare|path ...`: what bench/reproduce.sh calls."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m vlm_pipelines.benchmarks")
    actions = parser.add_subparsers(dest="action", required=True)
    located = actions.add_parser("path", help="the dataset.path of a benchmark's copy here (exit 1: none)")
    located.add_argument("name")
    located.add_argument("--dir", action="append", default=[], type=Path, help="also look in DIR")
    compared = actions.add_parser("compare", help="our figures next to the published ones")
    compared.add_argument("--model", help="the model entry that answered (default: the one in --results)")
    compared.add_argument(
        "--reference-model", help="whose published figures to compare with (default: --model)"
    )
    compared.add_argument("--backend", choices=["hf", "vllm"], help="only that backend's reproductions")
    compared.add_argument("--tasks", default=",".join(BENCHMARKS), help="benchmarks, a,b (default: all)")
    compared.add_argument(
        "--results",
        type=Path,
        action="append",
        help="a run's results.json, repeatable (default: the archive)",
    )
    compared.add_argument("--stand-in", help="say that this model stood in for the reference model, and why")
    args = parser.parse_args(argv)
    try:
        if args.action == "path":
            copy = best_copy(get_benchmark(args.name), args.dir)
            if copy is None:
                return 1
            print(copy.path)
            return 0
        tasks = [task for part in args.tasks.split(",") if (task := part.strip())]
        for task in tasks:
            get_benchmark(task)
        if args.results:
            summaries = []
            for path in args.results:
                try:
                    summaries.append(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError) as error:
                    raise BenchmarkError(f"cannot read results file {path}: {error}") from None
            figures = figures_from_summary(summaries, args.model, tasks)
        elif args.model:
            figures = figures_from_archive(args.model, tasks)
        else:  # no run left results: every row says so
            figures = {}
        reference_model = args.reference_model or args.model
        if reference_model is None:
            raise BenchmarkError("give --reference-model: whose published figures to compare with")
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(comparison_text(compare(figures, reference_model, args.backend, tasks), args.stand_in))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkError",
    "Copy",
    "Reference",
    "compare",
    "describe",
    "download",
    "find_copies",
    "get_benchmark",
    "hub_cache_dir",
    "listing_text",
]
