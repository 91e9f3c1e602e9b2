"""Every input row is accounted for (issue 7): rows read + rows quarantined = data lines in the file, a
malformed quote costs one row with its line number, and non-UTF-8 files are decoded, not refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from vlm_pipelines.readers import read_dataset
from vlm_pipelines.readers.vlmhyperbench_csv import COLUMNS

HEADER = ";".join(COLUMNS)


def _rows(count: int) -> list[str]:
    return [
        f"{i};test;images/page.png;What is field {i}?;value {i};invoice;field_{i};"
        for i in range(1, count + 1)
    ]


def _dataset(folder: Path, lines: list[str], write_png: Callable[..., Path], encoding: str = "utf-8") -> Path:
    write_png(folder / "images" / "page.png")
    (folder / "annotation.csv").write_bytes(("\n".join([HEADER, *lines]) + "\n").encode(encoding))
    return folder


def test_an_unclosed_quote_costs_one_row_not_the_rows_after_it(tmp_path: Path, write_png) -> None:
    # Issue 7: one unclosed quote in the middle of a ';'-CSV swallowed the 23 rows after it (7 of 30 read).
    lines = _rows(30)
    lines[7] = '8;test;images/page.png;"What is field 8?;value 8;invoice;field_8;'
    result = read_dataset(_dataset(tmp_path, lines, write_png))

    assert (result.samples.height, result.quarantine.height) == (29, 1)
    assert result.samples.height + result.quarantine.height == len(lines) == result.records
    quarantined = result.quarantine.row(0, named=True)
    assert quarantined["source_row"] == "annotation.csv:9"  # the header is line 1
    assert quarantined["reason"].startswith("malformed row: unbalanced quote")
    assert "field 8" in json.loads(quarantined["raw"])["line"]


def test_a_quote_inside_a_cell_is_kept_as_a_character(tmp_path: Path, write_png) -> None:
    lines = _rows(3)
    lines[1] = '2;test;images/page.png;What is "field" 2?;value 2;invoice;field_2;'
    result = read_dataset(_dataset(tmp_path, lines, write_png))
    assert (result.samples.height, result.quarantine.height) == (3, 0)
    assert 'What is "field" 2?' in result.samples["question"].to_list()


def test_a_quoted_cell_may_span_lines(tmp_path: Path, write_png) -> None:
    lines = _rows(3)
    lines[1] = '2;test;images/page.png;"What is\nfield 2?";value 2;invoice;field_2;'
    result = read_dataset(_dataset(tmp_path, lines, write_png))

    assert (result.samples.height, result.quarantine.height) == (3, 0)
    assert "What is\nfield 2?" in result.samples["question"].to_list()


def test_rows_with_too_few_or_too_many_columns_are_quarantined_with_their_line(
    tmp_path: Path, write_png
) -> None:
    lines = [*_rows(4), "5;test;images/page.png;short row", *_rows(2)]
    lines[-1] = lines[-1] + ";extra"
    lines[-2] = lines[-2].replace("1;", "9;", 1)
    result = read_dataset(_dataset(tmp_path, lines, write_png))

    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    assert reasons["annotation.csv:6"] == "malformed row: expected 8 ';'-separated columns, found 4"
    assert reasons["annotation.csv:8"].startswith("malformed row: expected 8 ';'-separated columns, found 9")
    assert result.samples.height + result.quarantine.height == len(lines)


def test_a_cp1251_csv_is_read_and_its_encoding_recorded(tmp_path: Path, write_png, sample_data: Path) -> None:
    # Issue 7: cp1251 CSVs (common among the original tool's Russian users) failed with UnicodeDecodeError.
    text = (sample_data / "demo_mini" / "annotation.csv").read_text(encoding="utf-8-sig")
    folder = tmp_path / "demo_cp1251"
    (folder / "images").mkdir(parents=True)
    for image in (sample_data / "demo_mini" / "images").iterdir():
        (folder / "images" / image.name).write_bytes(image.read_bytes())
    (folder / "annotation.csv").write_bytes(text.encode("cp1251"))

    result = read_dataset(folder)
    original = read_dataset(sample_data / "demo_mini")

    assert result.encoding == "cp1251"
    assert original.encoding == "utf-8-sig"
    assert result.samples["question"].to_list() == original.samples["question"].to_list()
    assert result.dataset_hash == original.dataset_hash


def test_a_header_only_csv_reads_as_empty_not_as_an_error(tmp_path: Path, write_png) -> None:
    result = read_dataset(_dataset(tmp_path, [], write_png))
    assert (result.samples.height, result.quarantine.height, result.records) == (0, 0, 0)


def test_jsonl_lines_are_all_accounted_for(tmp_path: Path, write_png) -> None:
    write_png(tmp_path / "p.png")
    good = {"images": ["p.png"], "question": "q?", "answers": ["a"]}
    lines = [json.dumps({**good, "question": f"q{i}?"}) for i in range(5)]
    lines[2] = '{"images": ["p.png"], "question": "broken'
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="cp1251")
    result = read_dataset(tmp_path)
    assert (result.samples.height, result.quarantine.height) == (4, 1)
    assert result.quarantine["source_row"].to_list() == ["manifest.jsonl:3"]
