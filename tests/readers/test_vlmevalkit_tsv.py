from __future__ import annotations

import base64
import csv
import hashlib
import json
from pathlib import Path

from vlm_pipelines.readers import read_dataset
from vlm_pipelines.readers.vlmevalkit_tsv import parse_answers

COLUMNS = ["index", "image", "question", "answer", "category", "split", "A", "B", "hint"]


def _write_tsv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def test_tsv_round_trips_with_image_reuse_and_literal_none_answers(tmp_path: Path, make_png) -> None:
    image = make_png()
    encoded = base64.b64encode(image).decode()
    tsv = _write_tsv(
        tmp_path / "bench.tsv",
        [
            ["0", encoded, "Is it red?", "None", "chart", "dev", "", "", "look closely"],
            ["1", "0", "What colour?", "NA", "chart", "dev", "", "", ""],
            ["2", "0", "Which one?", "['a', 'b']", "chart", "dev", "red", "blue", ""],
            ["3", "0", "Anything?", "null", "", "", "", "", ""],
        ],
    )

    result = read_dataset(tsv)

    assert result.format == "vlmevalkit_tsv"
    assert result.quarantine.height == 0
    assert result.samples["answers"].to_list() == [["None"], ["NA"], ["a", "b"], ["null"]]
    cached = tmp_path / ".images" / f"{hashlib.sha256(image).hexdigest()}.png"
    assert cached.read_bytes() == image
    assert result.samples["image_paths"].to_list() == [[str(cached)]] * 4
    assert result.samples["doc_type"].to_list() == ["chart", "chart", "chart", ""]
    assert result.samples["split"].to_list() == ["dev", "dev", "dev", "test"]
    metadata = [json.loads(text) for text in result.samples["metadata"]]
    assert metadata[0] == {"index": "0", "hint": "look closely"}
    assert metadata[1] == {"index": "1", "hint": "", "image_from_index": ["0"]}
    assert metadata[2]["options"] == {"A": "red", "B": "blue"}


def test_bad_tsv_rows_are_quarantined(tmp_path: Path, make_png) -> None:
    encoded = base64.b64encode(make_png()).decode()
    not_an_image = base64.b64encode(b"x" * 100).decode()
    tsv = _write_tsv(
        tmp_path / "bench.tsv",
        [
            ["0", encoded, "Good?", "yes", "c", "dev", "", "", ""],
            ["1", encoded, "Empty answer?", "", "c", "dev", "", "", ""],
            ["2", "99", "Missing image?", "yes", "c", "dev", "", "", ""],
            ["3", not_an_image, "Corrupt?", "yes", "c", "dev", "", "", ""],
            ["4", "!" * 80, "Not base64?", "yes", "c", "dev", "", "", ""],
            ["5", encoded, "Too few cells"],
        ],
    )
    cache = tmp_path / "cache"

    result = read_dataset(tsv, image_cache_dir=cache)

    assert result.samples["source_row"].to_list() == ["bench.tsv:2"]
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    assert reasons["bench.tsv:3"].startswith("empty answer")
    assert reasons["bench.tsv:4"] == "image not found: no row with index '99' holds an image"
    assert reasons["bench.tsv:5"].startswith("corrupt image")
    assert reasons["bench.tsv:6"].startswith("corrupt image: image cell is not valid base64")
    assert reasons["bench.tsv:7"] == "malformed row: expected 9 tab-separated columns, found 3"
    assert json.loads(result.quarantine.filter(source_row="bench.tsv:3")["raw"][0])["answer"] == ""
    assert [path.parent for path in map(Path, result.samples["image_paths"].to_list()[0])] == [cache]


def test_answer_lists_are_parsed_only_when_they_look_like_lists() -> None:
    assert parse_answers("['a', 'b']") == ["a", "b"]
    assert parse_answers("[1, 2.5]") == ["1", "2.5"]
    assert parse_answers("[unclosed") == ["[unclosed"]
    assert parse_answers("[not python]") == ["[not python]"]
    assert parse_answers("None") == ["None"]
