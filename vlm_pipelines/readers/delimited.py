"""Delimited text (the `;` CSV of VLMHyperBench, VLMEvalKit's TSV): text decoding and row splitting that
never lose a row in silence.

- **Encoding.** Given (`dataset.encoding`, `vlmbench run --encoding`), or detected by `text_encoding`:
  a BOM, then UTF-8, then the Cyrillic code pages weighed by Russian letter statistics, then
  charset-normalizer. The encoding and a confidence are returned so the dataset can record them; a
  low-confidence guess is a warning. NUL characters are removed, with a warning that counts them.
- **Rows.** Each physical line is parsed on its own with the csv module in strict mode. A quoted cell may
  span lines: a line with an open quote is joined with the lines after it only when the joined text parses
  into exactly the expected number of cells and none of those lines is a complete row by itself. So one
  unclosed quote costs one row, reported with its line number, never the rows after it.
- **The original tool's dialect** (Excel and pandas-written files): a cell that starts with a quote that
  does not close it (`"Шашков" РАО`) is text, quotes included; a row of empty cells (Excel's trailing
  `;;;;;;;`) or a blank line is an empty row, skipped and counted, not a malformed row.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vlm_pipelines.readers.text_encoding import decode_as, detect, low_confidence_warning

if TYPE_CHECKING:
    from vlm_pipelines.schemas import ReadResult

MAX_CONTINUATION_LINES = 50  # a quoted cell may span at most this many extra lines


@dataclass(frozen=True)
class TextFile:
    """A decoded text file: its text, the encoding (given or detected), how sure the detection is (1.0
    when given or UTF-8) and what a reader should record as warnings (low confidence, NULs removed)."""

    text: str
    encoding: str
    confidence: float = 1.0
    warnings: tuple[str, ...] = ()


def read_text(path: Path, encoding: str | None = None) -> TextFile:
    """The file decoded: as `encoding` when given (ValueError where it does not fit), else as detected
    (ValueError when no encoding fits). NUL characters are removed with a warning."""
    path = Path(path)
    data = path.read_bytes()
    decoded = decode_as(data, encoding, str(path)) if encoding is not None else detect(data, str(path))
    warnings = [] if encoding is not None else [low_confidence_warning(decoded, path.name)]
    text = decoded.text
    nuls = text.count("\x00")
    if nuls:
        first_line = text[: text.index("\x00")].count("\n") + 1
        text = text.replace("\x00", "")
        warnings.append(f"{path.name}: removed {nuls} NUL character(s), the first on line {first_line}")
    return TextFile(text, decoded.encoding, decoded.confidence, tuple(w for w in warnings if w))


def with_text_notes(result: ReadResult, decoded: TextFile, skipped_rows: int = 0) -> ReadResult:
    """`result` with what decoding the text found: the encoding's confidence, its warnings, the empty rows
    skipped."""
    return dataclasses.replace(
        result,
        encoding=decoded.encoding,
        encoding_confidence=decoded.confidence,
        skipped_rows=result.skipped_rows + skipped_rows,
        warnings=(*result.warnings, *decoded.warnings),
    )


@dataclass(frozen=True)
class Row:
    """One logical row: its first physical line (1-based, the header is line 1), its cells, or the
    reason it could not be split into the expected number of cells."""

    line: int
    text: str
    cells: list[str] | None
    problem: str = ""
    empty: bool = False  # a blank line or a row of empty cells: skipped, and counted as skipped


def _parse(text: str, delimiter: str) -> list[str] | None:
    if sys.maxsize > csv.field_size_limit():
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # base64 images are long cells
    try:
        rows = list(csv.reader([text], delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows[0] if rows else []


def _parse_excel(line: str, delimiter: str) -> list[str] | None:
    """The cells of one line as Excel and pandas write them: a cell that starts with a quote closed before
    other text (`"Шашков" РАО`) is that text, quotes included. None when a quote is never closed."""
    cells: list[str] = []
    start, end = 0, len(line)
    while True:
        if start < end and line[start] == '"':
            position, value = start + 1, []
            while True:
                close = line.find('"', position)
                if close < 0:
                    return None  # unbalanced: maybe a cell that spans lines
                value.append(line[position:close])
                if line.startswith('""', close):
                    value.append('"')
                    position = close + 2
                    continue
                break
            after = close + 1
            if after == end or line[after] == delimiter:  # a properly quoted cell
                cells.append("".join(value))
                if after == end:
                    return cells
                start = after + 1
                continue
        stop = line.find(delimiter, start)  # an unquoted cell: quotes in it are text
        if stop < 0:
            cells.append(line[start:])
            return cells
        cells.append(line[start:stop])
        start = stop + 1


def _is_complete_row(line: str, delimiter: str, n_cells: int) -> bool:
    cells = _parse(line, delimiter)
    if cells is None:
        cells = _parse_excel(line, delimiter)
    return cells is not None and len(cells) == n_cells


def _is_empty(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def split_rows(lines: list[str], delimiter: str, n_cells: int, first_line: int = 2) -> Iterator[Row]:
    """The rows of `lines` (the data lines after the header; `first_line` is the file line number of
    `lines[0]`). A blank line or a row of empty cells comes back as an `empty` row (no cells)."""
    index = 0
    name = "tab" if delimiter == "\t" else repr(delimiter)
    while index < len(lines):
        line, number = lines[index], first_line + index
        index += 1
        if not line.strip():
            yield Row(number, line, None, empty=True)
            continue
        cells = _parse(line, delimiter)
        if cells is not None and _is_empty(cells):
            yield Row(number, line, None, empty=True)
            continue
        if cells is None:  # an open quote: maybe a cell that spans lines
            joined, used = line, 0
            for extra in range(min(MAX_CONTINUATION_LINES, len(lines) - index)):
                following = lines[index + extra]
                if _is_complete_row(following, delimiter, n_cells):
                    break
                joined += "\n" + following
                candidate = _parse(joined, delimiter)
                if candidate is not None:
                    if len(candidate) == n_cells:
                        cells, used = candidate, extra + 1
                    break
            if cells is None:
                excel = _parse_excel(line, delimiter)  # `"Шашков" РАО`: the quotes are text
                if excel is not None and len(excel) == n_cells:
                    yield Row(number, line, excel)
                    continue
                yield Row(number, line, None, "unbalanced quote: the row cannot be split into its columns")
                continue
            index += used
            yield Row(number, joined, cells)
            continue
        if len(cells) != n_cells:
            yield Row(number, line, None, f"expected {n_cells} {name}-separated columns, found {len(cells)}")
            continue
        yield Row(number, line, cells)


def header_cells(line: str, delimiter: str) -> list[str]:
    cells = _parse(line, delimiter)
    return [cell.strip() for cell in cells] if cells is not None else []


def physical_lines(text: str) -> list[str]:
    """The text's lines as the csv module sees them (\\n, \\r\\n or \\r), without a trailing empty one."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines
