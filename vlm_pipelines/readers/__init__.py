"""Dataset readers: every supported format becomes the same normalized sample table.

    result = read_dataset(Path("data/demo_mini"))          # format detected from the path
    result.samples     # SampleSchema rows
    result.quarantine  # refused rows, each with a reason and the raw row

One module per format; add a format by writing a module with `FORMAT` and `read(path, image_cache_dir)`
(it builds `RowDraft`s and hands them to `normalize.SampleAssembler`), listing it in `READER_MODULES`,
and teaching `detect_format` its folder or file name.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlm_pipelines.schemas import ReadResult

# Format name -> reader module. Modules are imported on first use, so naming the formats (task
# validation, loading the Dagster definitions) does not import pandera.
READER_MODULES: dict[str, str] = {
    "vlmhyperbench_csv": "vlm_pipelines.readers.vlmhyperbench_csv",
    "json_fields": "vlm_pipelines.readers.json_fields",
    "vlmevalkit_tsv": "vlm_pipelines.readers.vlmevalkit_tsv",
    "jsonl_manifest": "vlm_pipelines.readers.jsonl_manifest",
    "hf_parquet": "vlm_pipelines.readers.hf_parquet",
}
SUPPORTED_FORMATS: tuple[str, ...] = tuple(READER_MODULES)


def _module(name: str) -> Any:
    return importlib.import_module(READER_MODULES[name])


def __getattr__(name: str) -> Any:
    if name == "READERS":
        return {format_name: _module(format_name).read for format_name in READER_MODULES}
    raise AttributeError(name)


_FORMAT_HELP = (
    "supported formats: "
    "vlmhyperbench_csv (a folder with annotation.csv, or a ';'-separated .csv with the v0.1 header), "
    "json_fields (a folder with jsons/ and images/), "
    "vlmevalkit_tsv (.tsv), "
    "jsonl_manifest (.jsonl, or a folder with manifest.jsonl), "
    "hf_parquet (.parquet)"
)


def detect_format(path: Path) -> str:
    """The format name of the dataset at `path`; ValueError naming the path when it is none of them."""
    from vlm_pipelines.readers import json_fields, jsonl_manifest, vlmevalkit_tsv, vlmhyperbench_csv

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset path does not exist: {path}")
    if path.is_dir():
        if (path / vlmhyperbench_csv.ANNOTATION_FILE).is_file():
            return vlmhyperbench_csv.FORMAT
        if (path / json_fields.JSON_FOLDER).is_dir():
            return json_fields.FORMAT
        if (path / jsonl_manifest.MANIFEST_FILE).is_file():
            return jsonl_manifest.FORMAT
        raise ValueError(f"cannot tell the dataset format of folder {path}; {_FORMAT_HELP}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if vlmhyperbench_csv.has_header(path):
            return vlmhyperbench_csv.FORMAT
        raise ValueError(
            f"{path} is a CSV without the VLMHyperBench v0.1 header "
            f"{';'.join(vlmhyperbench_csv.COLUMNS)!r}; {_FORMAT_HELP}"
        )
    by_suffix = {
        ".tsv": vlmevalkit_tsv.FORMAT,
        ".jsonl": jsonl_manifest.FORMAT,
        ".parquet": "hf_parquet",
    }
    if suffix in by_suffix:
        return by_suffix[suffix]
    raise ValueError(f"cannot tell the dataset format of file {path}; {_FORMAT_HELP}")


# Formats stored as text, whose encoding a task may give (`dataset.encoding`) instead of detecting it.
TEXT_FORMATS: tuple[str, ...] = ("vlmhyperbench_csv", "json_fields", "vlmevalkit_tsv", "jsonl_manifest")


def read_dataset(
    path: Path,
    format: str | None = None,
    image_cache_dir: Path | None = None,
    *,
    pages: str = "all",
    encoding: str | None = None,
) -> ReadResult:
    """Reads the dataset at `path` (format detected when not given) into a `ReadResult`.

    `image_cache_dir` receives images decoded from embedded bytes (TSV, Parquet) and the pages of
    multi-page images; by default a `.images` folder next to the file. `pages` is "all" (a multi-page
    image becomes several pages of its sample) or "first" (its first page only). `encoding` (a text
    format's) overrides detection; None detects it.
    """
    path = Path(path)
    name = format if format is not None else detect_format(path)
    if name not in READER_MODULES:
        raise ValueError(f"unknown dataset format {name!r} for {path}; {_FORMAT_HELP}")
    if not path.exists():
        raise FileNotFoundError(f"dataset path does not exist: {path}")
    if encoding is None:
        return _module(name).read(path, image_cache_dir, pages=pages)
    if name not in TEXT_FORMATS:
        raise ValueError(
            f"{path}: format {name} is not text, so an encoding ({encoding!r}) does not apply to it"
        )
    return _module(name).read(path, image_cache_dir, pages=pages, encoding=encoding)


__all__ = ["READERS", "READER_MODULES", "SUPPORTED_FORMATS", "TEXT_FORMATS", "detect_format", "read_dataset"]
