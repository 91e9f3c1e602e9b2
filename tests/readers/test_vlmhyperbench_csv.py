from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlm_pipelines.readers import read_dataset
from vlm_pipelines.readers.vlmhyperbench_csv import COLUMNS

HEADER = "\ufeff" + ";".join(COLUMNS) + "\n"


def test_demo_mini_gives_22_questions_over_4_images(sample_data: Path) -> None:
    result = read_dataset(sample_data / "demo_mini")

    samples = result.samples
    assert result.format == "vlmhyperbench_csv"
    assert result.quarantine.height == 0
    assert samples.height == 22
    image_paths = [path for paths in samples["image_paths"].to_list() for path in paths]
    assert len(set(image_paths)) == 4
    assert sorted(samples["doc_type"].unique()) == ["invoice", "passport"]
    assert samples["field_name"].n_unique() == 11
    assert samples["sample_id"].n_unique() == 22
    first = samples.row(0, named=True)
    assert first["question"] == "Напиши Серия и номер паспорта"
    assert first["answers"] == ["4 505 679 944"]  # the known spreadsheet corruption, kept as is
    assert first["split"] == "test_clean"
    assert first["source_row"] == "annotation.csv:2"
    assert json.loads(first["metadata"]) == {"bbox": [1420, 280, 1470, 750], "data_index": "1"}
    assert all(Path(path).is_absolute() and Path(path).is_file() for path in image_paths)


def test_snils_annotations_without_published_images_are_all_quarantined(sample_data: Path) -> None:
    result = read_dataset(sample_data / "real_predictions" / "snils_dataset_annotations.csv")

    assert result.samples.height == 0
    assert result.quarantine.height == 9
    assert all(reason.startswith("image not found") for reason in result.quarantine["reason"])
    first_raw = json.loads(result.quarantine["raw"][1])
    assert first_raw["answer"] == "Осипов"  # the refused row is kept whole
    assert result.quarantine["source_row"][1] == "snils_dataset_annotations.csv:3"


def _copy_demo_with_rows(sample_data: Path, target: Path, reverse: bool) -> Path:
    lines = (sample_data / "demo_mini" / "annotation.csv").read_text(encoding="utf-8-sig").splitlines()
    header, rows = lines[0], lines[1:]
    target.mkdir()
    (target / "images").symlink_to(sample_data / "demo_mini" / "images")
    body = rows[::-1] if reverse else rows
    (target / "annotation.csv").write_text("\ufeff" + "\n".join([header, *body]) + "\n", encoding="utf-8")
    return target


def test_sample_ids_and_dataset_hash_do_not_depend_on_row_order(sample_data: Path, tmp_path: Path) -> None:
    original = read_dataset(sample_data / "demo_mini")
    reversed_rows = read_dataset(_copy_demo_with_rows(sample_data, tmp_path / "reversed", reverse=True))

    assert set(reversed_rows.samples["sample_id"]) == set(original.samples["sample_id"])
    assert reversed_rows.dataset_hash == original.dataset_hash
    assert reversed_rows.samples["source_row"][0] == "annotation.csv:2"
    assert reversed_rows.samples["answers"].to_list()[0] == ["НПО «Зуев, Фадеев и Рогова»"]


def test_dataset_hash_changes_when_an_answer_changes(sample_data: Path, tmp_path: Path) -> None:
    folder = _copy_demo_with_rows(sample_data, tmp_path / "edited", reverse=False)
    csv_path = folder / "annotation.csv"
    csv_path.write_text(
        csv_path.read_text(encoding="utf-8").replace(";Карбаинов;", ";Карбаино;"), encoding="utf-8"
    )

    assert read_dataset(folder).dataset_hash != read_dataset(sample_data / "demo_mini").dataset_hash


def _write_csv(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotation.csv").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_kept(tmp_path: Path, write_png) -> None:
    write_png(tmp_path / "data" / "images" / "good.png")
    (tmp_path / "data" / "images" / "broken.jpg").write_bytes(b"this is not a jpeg at all")
    write_png(tmp_path / "outside.png")
    folder = _write_csv(
        tmp_path / "data",
        [
            "1;test;images/good.png;What is the total?;42;invoice;total;[1, 2, 3, 4]",
            "2;test;images/broken.jpg;What is the total?;42;invoice;total;",
            "3;test;../../etc/passwd;What is the total?;42;invoice;total;",
            f"4;test;{tmp_path / 'outside.png'};What is the total?;42;invoice;total;",
            "5;test;images/missing.png;What is the total?;42;invoice;total;",
            "6;test;images/good.png;   ;42;invoice;date;",
            "7;test;images/good.png;What is the seller?;;invoice;seller;",
            "8;test;images/good.png;What is the buyer?;ACME;invoice;buyer",
            f"9;test;images/{'x' * 300}.png;What is the total?;42;invoice;total;",
        ],
    )

    result = read_dataset(folder)

    assert result.samples["source_row"].to_list() == ["annotation.csv:2"]
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    assert reasons["annotation.csv:3"].startswith("corrupt image: images/broken.jpg")
    assert reasons["annotation.csv:4"].startswith("image path escapes dataset folder: ../../etc/passwd")
    assert reasons["annotation.csv:5"].startswith("image path escapes dataset folder")
    assert reasons["annotation.csv:6"] == "image not found: images/missing.png"
    assert reasons["annotation.csv:7"] == "empty question"
    assert reasons["annotation.csv:8"].startswith("empty answer")
    assert reasons["annotation.csv:9"] == "malformed row: expected 8 ';'-separated columns, found 7"
    assert reasons["annotation.csv:10"].endswith("File name too long")
    assert "ACME" in json.loads(result.quarantine.filter(source_row="annotation.csv:9")["raw"][0])["line"]


def test_exact_duplicate_is_quarantined_and_conflicting_rows_get_suffixes(tmp_path: Path, write_png) -> None:
    write_png(tmp_path / "data" / "images" / "a.png")
    same = "1;test;images/a.png;What is the total?;42;invoice;total;"
    other_answer = "1;test;images/a.png;What is the total?;43;invoice;total;"
    forward = read_dataset(_write_csv(tmp_path / "data", [same, other_answer, same]))
    backward = read_dataset(_write_csv(tmp_path / "data", [other_answer, same, same]))

    assert forward.quarantine["reason"].to_list() == ["duplicate row: same as annotation.csv:2"]
    assert forward.quarantine["source_row"].to_list() == ["annotation.csv:4"]
    ids = dict(zip(forward.samples["sample_id"], forward.samples["answers"].list.first(), strict=True))
    base = min(ids, key=len)
    assert ids == {base: "42", f"{base}-2": "43"}  # suffix follows the content ("42" < "43"), not the row
    assert (
        dict(zip(backward.samples["sample_id"], backward.samples["answers"].list.first(), strict=True)) == ids
    )


def test_wrong_header_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a;b;c\n1;2;3\n", encoding="utf-8")

    with pytest.raises(ValueError, match="not the VLMHyperBench v0.1 header"):
        read_dataset(path, format="vlmhyperbench_csv")
