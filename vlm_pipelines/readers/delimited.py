"""Delimited text (the `;` CSV of VLMHyperBench, VLMEvalKit's TSV): text decoding and row splitting that
never lose a row in silence.

- **Encoding.** UTF-8 (with or without a BOM) is tried first; anything else (cp1251 is common among the
  original tool's Russian users) is detected with charset-normalizer. The encoding is returned so the
  dataset can record it.
- **Rows.** Each physical line is parsed on its own with the csv module in strict mode. A quoted cell may
  span lines: a line with an open quote is joined with the lines after it only when the joined text parses
  into exactly the expected number of cells and none of those lines is a complete row by itself. So one
  unclosed quote costs one row, reported with its line number, never the rows after it.
"""

from __future__ import annotations

import codecs
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_CONTINUATION_LINES = 50  # a quoted cell may span at most this many extra lines


@dataclass(frozen=True)
class TextFile:
    text: str
    encoding: str


def read_text(path: Path) -> TextFile:
    """The file decoded: UTF-8 when it is, else the encoding charset-normalizer finds; ValueError when
    no encoding fits."""
    data = Path(path).read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        try:
            return TextFile(data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig")
        except UnicodeDecodeError:
            pass
    try:
        return TextFile(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ValueError(
            f"{path}: cannot tell the text encoding (not UTF-8, and charset-normalizer found no match); "
            "save the file as UTF-8"
        )
    return TextFile(str(best), best.encoding)


@dataclass(frozen=True)
class Row:
    """One logical row: its first physical line (1-based, the header is line 1), its cells, or the
    reason it could not be split into the expected number of cells."""

    line: int
    text: str
    cells: list[str] | None
    problem: str = ""


def _parse(text: str, delimiter: str) -> list[str] | None:
    if sys.maxsize > csv.field_size_limit():
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # base64 images are long cells
    try:
        rows = list(csv.reader([text], delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows[0] if rows else []


def _is_complete_row(line: str, delimiter: str, n_cells: int) -> bool:
    cells = _parse(line, delimiter)
    return cells is not None and len(cells) == n_cells


def split_rows(lines: list[str], delimiter: str, n_cells: int, first_line: int = 2) -> Iterator[Row]:
    """The rows of `lines` (the data lines after the header; `first_line` is the file line number of
    `lines[0]`). Blank lines hold no row."""
    index = 0
    name = "tab" if delimiter == "\t" else repr(delimiter)
    while index < len(lines):
        line, number = lines[index], first_line + index
        index += 1
        if not line.strip():
            continue
        cells = _parse(line, delimiter)
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
