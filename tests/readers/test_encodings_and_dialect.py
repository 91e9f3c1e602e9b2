"""Issue 15, "What a new user saw" - text files: short Russian files in a Cyrillic code page are decoded
right, an encoding given in the task or on the command line wins, an unsure guess is a warning; and the
original tool's CSV dialect: `"Шашков" РАО`, Excel's `;;;;;;;`, conflicting duplicates, NUL bytes.
Every file here is real bytes on disk; nothing is mocked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vlm_pipelines.readers import read_dataset
from vlm_pipelines.readers.text_encoding import detect
from vlm_pipelines.readers.vlmhyperbench_csv import COLUMNS

HEADER = ";".join(COLUMNS)


def demo_rows(sample_data: Path) -> list[str]:
    """The header and the two demo_mini rows the new user re-encoded: the birth date and the sex (`муж.`)."""
    lines = (sample_data / "demo_mini" / "annotation.csv").read_text(encoding="utf-8-sig").splitlines()
    sex = next(number for number, line in enumerate(lines) if ";муж.;" in line)
    return [lines[0], lines[sex - 1], lines[sex]]


def write_dataset(folder: Path, sample_data: Path, lines: list[str], encoding: str) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_data / "demo_mini" / "images" / "1.jpg", folder / "images" / "1.jpg")
    (folder / "annotation.csv").write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return folder


def row(index: int, question: str, answer: str) -> str:
    return f"{index};test;images/1.jpg;{question};{answer};passport;field_{index};"


# --- encodings --------------------------------------------------------------------------------------


def test_two_demo_mini_rows_in_cp1251_are_read_back_exactly(tmp_path: Path, sample_data: Path) -> None:
    # Issue 15: detected as cp1258, `муж.` became `́óæ.`, ANLS 0.000, exit 0, no warning.
    lines = demo_rows(sample_data)
    assert len(lines) == 3 and ";муж.;" in lines[2]
    result = read_dataset(write_dataset(tmp_path / "cp1251", sample_data, lines, "cp1251"))
    utf8 = read_dataset(write_dataset(tmp_path / "utf8", sample_data, lines, "utf-8"))

    assert result.encoding == "cp1251" and not result.warnings
    assert "муж." in result.samples["answers"].list.first().to_list()
    assert result.samples["question"].to_list() == utf8.samples["question"].to_list()
    assert result.dataset_hash == utf8.dataset_hash


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "cp866", "mac-cyrillic"])
@pytest.mark.parametrize(
    "text",
    ["1;test;a.png;Имя?;Иван;passport;Имя;\n", "Напиши Пол;муж.;Пол\n", "ООО РАО ИНН;Карбаинов Алексей\n"],
)
def test_short_russian_text_in_a_cyrillic_code_page_is_decoded_right(text: str, encoding: str) -> None:
    # Issue 15: `Иван` came out as big5hkscs `⺧鳧`; others as cp1252, cp1257, cp1250.
    assert detect(text.encode(encoding)).text == text


def test_a_utf8_file_stays_utf8_with_full_confidence(tmp_path: Path, sample_data: Path) -> None:
    result = read_dataset(write_dataset(tmp_path, sample_data, demo_rows(sample_data), "utf-8"))
    assert (result.encoding, result.encoding_confidence, result.warnings) == ("utf-8", 1.0, ())


def test_a_mostly_ascii_cp1251_file_is_read_right(tmp_path: Path, sample_data: Path) -> None:
    lines = [HEADER, *(row(i, f"What is the total {i}?", f"{i}00") for i in range(1, 9))]
    lines.append(row(9, "What is the total 9?", "12 руб."))
    result = read_dataset(write_dataset(tmp_path, sample_data, lines, "cp1251"))
    assert result.encoding == "cp1251"
    assert result.samples.filter(field_name="field_9")["answers"].to_list() == [["12 руб."]]


def test_an_unsure_guess_is_a_warning_that_names_the_override(tmp_path: Path, sample_data: Path) -> None:
    # One Cyrillic letter: every code page reads some letter; the guess must not pass in silence.
    lines = [HEADER, row(1, "Буква?", "я")]
    data = ("\n".join(lines) + "\n").encode("cp1251").replace("Буква?".encode("cp1251"), b"Letter?")
    folder = write_dataset(tmp_path, sample_data, [], "utf-8")
    (folder / "annotation.csv").write_bytes(data)
    result = read_dataset(folder)

    assert result.encoding_confidence is not None and result.encoding_confidence < 0.5
    (warning,) = result.warnings
    assert warning.startswith(
        f"annotation.csv: text encoding guessed as {result.encoding} with low confidence"
    )
    assert "dataset.encoding" in warning and "--encoding" in warning


def test_an_encoding_given_in_the_task_wins_over_detection(tmp_path: Path, sample_data: Path) -> None:
    from vlm_pipelines.tasks import load_task_dataset
    from vlm_pipelines.tasks.registry import parse_task

    folder = write_dataset(tmp_path / "data", sample_data, demo_rows(sample_data), "cp1251")
    entry = {"name": "given", "dataset": {"path": str(folder)}, "metrics": ["anls"]}
    detected = load_task_dataset(parse_task(entry, "test"), tmp_path, tmp_path / "cache")
    forced = parse_task({**entry, "dataset": {"path": str(folder), "encoding": "KOI8-R"}}, "test")
    given = load_task_dataset(forced, tmp_path, tmp_path / "cache")

    assert forced.dataset.encoding == "koi8-r"  # validated and canonical
    assert detected.encoding == "cp1251" and given.encoding == "koi8-r"
    assert given.encoding_confidence == 1.0 and not given.warnings
    assert "муж." in detected.samples["answers"].list.first().to_list()
    assert "муж.".encode("cp1251").decode("koi8-r") in given.samples["answers"].list.first().to_list()
    with pytest.raises(Exception, match="unknown text encoding 'cp9999'"):
        parse_task({**entry, "dataset": {"path": str(folder), "encoding": "cp9999"}}, "test")


def test_a_given_encoding_that_does_not_fit_says_where(tmp_path: Path, sample_data: Path) -> None:
    folder = write_dataset(tmp_path, sample_data, demo_rows(sample_data), "cp1251")
    with pytest.raises(ValueError, match=r"is not valid utf-8: byte .* at offset"):
        read_dataset(folder, encoding="utf-8")


# --- the original tool's dialect --------------------------------------------------------------------


def test_quotes_inside_an_unquoted_cell_are_kept_as_text(tmp_path: Path, sample_data: Path) -> None:
    # Issue 15: `"Шашков" РАО` (a Russian company name) was quarantined as an unbalanced quote.
    lines = [HEADER, row(1, "Напиши Организация", '"Шашков" РАО'), row(2, "Напиши Имя", '"Иван"')]
    result = read_dataset(write_dataset(tmp_path, sample_data, lines, "utf-8"))
    assert result.quarantine.height == 0
    assert result.samples["answers"].list.first().to_list() == ['"Шашков" РАО', "Иван"]


def test_an_unclosed_quote_is_still_a_malformed_row(tmp_path: Path, sample_data: Path) -> None:
    lines = [HEADER, row(1, '"Напиши Имя', "Иван"), row(2, "Напиши Имя", "Пётр")]
    result = read_dataset(write_dataset(tmp_path, sample_data, lines, "utf-8"))
    assert result.quarantine["reason"].to_list() == [
        "malformed row: unbalanced quote: the row cannot be split into its columns"
    ]


def test_excel_empty_rows_are_skipped_and_counted_not_quarantined(tmp_path: Path, sample_data: Path) -> None:
    # Issue 15: Excel's trailing `;;;;;;;` rows were quarantined and failed a good dataset.
    lines = [
        HEADER,
        row(1, "Напиши Имя", "Иван"),
        ";;;;;;;",
        "",
        row(2, "Напиши Пол", "муж."),
        *[";;;;;;;"] * 5,
    ]
    result = read_dataset(write_dataset(tmp_path, sample_data, lines, "cp1251"))
    assert (result.samples.height, result.quarantine.height, result.records, result.skipped_rows) == (
        2,
        0,
        2,
        7,
    )


def test_nul_bytes_are_removed_with_a_warning(tmp_path: Path, sample_data: Path) -> None:
    lines = [HEADER, row(1, "Напиши Имя", "Ив\x00ан"), row(2, "Напиши Пол", "муж.")]
    result = read_dataset(write_dataset(tmp_path, sample_data, lines, "utf-8"))
    assert result.samples["answers"].list.first().to_list() == ["Иван", "муж."]
    assert result.warnings == ("annotation.csv: removed 1 NUL character(s), the first on line 2",)


def test_conflicting_duplicates_are_a_warning_check_with_the_count(tmp_path: Path, sample_data: Path) -> None:
    from vlm_pipelines.evaluation.steps import dataset_checks

    lines = [
        HEADER,
        row(1, "Напиши Имя", "Иван"),
        row(1, "Напиши Имя", "Иван"),  # an exact duplicate: quarantined, as before
        row(1, "Напиши Имя", "Пётр"),  # the same question with another answer: a conflict
        row(2, "Напиши Пол", "муж."),
    ]
    result = read_dataset(write_dataset(tmp_path, sample_data, lines, "utf-8"))
    checks = {check.name: check for check in dataset_checks(result, 0.5)}
    conflict = checks["conflicting_duplicates"]

    assert not conflict.passed and not conflict.blocking
    assert conflict.metadata["groups"] == 1 and conflict.metadata["samples"] == 2
    assert conflict.summary.startswith("1 question(s) asked twice of the same image with different answers")
    assert checks["schema"].passed and checks["quarantine_share"].passed


# --- through the evaluation step and the CLI ----------------------------------------------------------


def test_the_dataset_record_carries_the_warnings_and_stays_evaluable(
    project_env, tmp_path: Path, sample_data: Path
) -> None:
    from vlm_pipelines.evaluation import default_paths, load_dataset, prepare_dataset
    from vlm_pipelines.tasks.registry import parse_task

    lines = [HEADER, row(1, "Напиши Имя", "Ив\x00ан"), row(1, "Напиши Имя", "Пётр"), ";;;;;;;"]
    folder = write_dataset(tmp_path / "ds", sample_data, lines, "utf-8")
    task = parse_task({"name": "warned", "dataset": {"path": str(folder)}, "metrics": ["anls"]}, "test")
    _, record, _ = prepare_dataset(task, default_paths())

    assert record.skipped_rows == 1 and record.quarantined == 0 and record.encoding_confidence == 1.0
    assert record.warnings[0] == "annotation.csv: removed 1 NUL character(s), the first on line 2"
    assert record.warnings[1].startswith("conflicting_duplicates: 1 question(s) asked twice")
    assert not record.checks["conflicting_duplicates"].passed and not record.failed_checks
    assert load_dataset(task, default_paths()).height == 2


def test_the_encoding_option_wins_and_the_summary_prints_the_warnings(
    project_env, tmp_path: Path, sample_data: Path, capsys
) -> None:
    from vlm_pipelines import cli

    lines = [HEADER, row(1, "Напиши Пол", "муж."), row(2, "Напиши Пол", "Ж\x00ен.")]
    folder = write_dataset(tmp_path / "ds", sample_data, lines, "cp1251")
    args = ["run", "--model", "ocr-rules", "--dataset", str(folder), "--quiet", "--encoding", "koi8-r"]
    code = cli.main(args)
    out = capsys.readouterr().out

    assert code == 0, out
    assert "Dataset warnings:" in out
    assert "annotation.csv: removed 1 NUL character(s), the first on line 3" in out
    records = list((Path(project_env["VLMBENCH_DATA_DIR"])).rglob("dataset.json"))
    assert len(records) == 1 and '"encoding": "koi8-r"' in records[0].read_text(encoding="utf-8")
