from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vlm_pipelines.readers import read_dataset

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def test_parquet_with_image_structs_round_trips(tmp_path: Path, write_png, make_png) -> None:
    red, blue = make_png((255, 0, 0)), make_png((0, 0, 255))
    write_png(tmp_path / "local.png")
    table = pa.table(
        {
            "image": pa.array(
                [
                    {"bytes": red, "path": "red.png"},
                    {"bytes": blue, "path": "blue.png"},
                    {"bytes": None, "path": "local.png"},
                    {"bytes": b"garbage", "path": "bad.png"},
                ],
                type=IMAGE_TYPE,
            ),
            "question": ["Colour?", "Colour?", "Colour?", "Colour?"],
            "answers": [["red", "crimson"], ["blue"], ["red"], ["x"]],
            "category": ["swatch", "swatch", "swatch", "swatch"],
            "difficulty": [1, 2, 3, 4],
        }
    )
    pq.write_table(table, tmp_path / "data.parquet")

    result = read_dataset(tmp_path / "data.parquet")

    assert result.format == "hf_parquet"
    assert result.samples["answers"].to_list() == [["red", "crimson"], ["blue"], ["red"]]
    paths = [Path(paths[0]) for paths in result.samples["image_paths"].to_list()]
    assert paths[0] == tmp_path / ".images" / f"{hashlib.sha256(red).hexdigest()}.png"
    assert paths[0].read_bytes() == red
    assert paths[1].read_bytes() == blue
    assert paths[2] == tmp_path / "local.png"
    assert [json.loads(text)["difficulty"] for text in result.samples["metadata"]] == [1, 2, 3]
    assert set(result.samples["doc_type"]) == {"swatch"}
    assert result.quarantine["source_row"].to_list() == ["data.parquet:4"]
    assert result.quarantine["reason"][0].startswith("corrupt image")
    assert "<image bytes: 7 long" in result.quarantine["raw"][0]


def test_parquet_with_image_lists_and_single_answers(tmp_path: Path, make_png) -> None:
    first, second = make_png((1, 2, 3)), make_png((4, 5, 6))
    table = pa.table(
        {
            "images": pa.array(
                [[{"bytes": first, "path": None}, {"bytes": second, "path": None}], []],
                type=pa.list_(IMAGE_TYPE),
            ),
            "question": ["Which page is first?", "Nothing to see?"],
            "answer": ["0,1", "x"],
            "split": ["val", "val"],
        }
    )
    pq.write_table(table, tmp_path / "pages.parquet")

    result = read_dataset(tmp_path / "pages.parquet", image_cache_dir=tmp_path / "cache")

    assert result.samples["answers"].to_list() == [["0,1"]]
    assert len(result.samples["image_paths"].to_list()[0]) == 2
    assert result.samples["split"].to_list() == ["val"]
    assert result.quarantine["reason"].to_list() == ["no image"]


def test_qa_pairs_become_one_sample_each_and_a_malformed_list_is_quarantined(
    tmp_path: Path, make_png
) -> None:
    """MTVQA's hub layout: one row per image, its questions in `qa_pairs` (a Python literal), the language in
    `lang`."""
    image = {"bytes": make_png(), "path": "a.png"}
    table = pa.table(
        {
            "image": [image, image],
            "qa_pairs": [
                "[{'question': 'Что это?', 'answer': 'Аптека'}, {'question': 'Когда?', 'answer': '9'}]",
                "[oops",
            ],
            "lang": ["RU", "RU"],
            "id": [7, 8],
        }
    )
    pq.write_table(table, tmp_path / "test.parquet")
    result = read_dataset(tmp_path / "test.parquet")
    assert result.samples["question"].to_list() == ["Что это?", "Когда?"]
    assert result.samples["answers"].to_list() == [["Аптека"], ["9"]] and set(result.samples["doc_type"]) == {
        "RU"
    }
    assert [json.loads(m)["qa_pair"] for m in result.samples["metadata"]] == [1, 2]
    assert result.quarantine["source_row"].to_list() == ["test.parquet:2"]
    assert result.quarantine["reason"][0].startswith("malformed row: 'qa_pairs' is not a list literal")
