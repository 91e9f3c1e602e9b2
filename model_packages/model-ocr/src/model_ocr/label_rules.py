"""Answer a field question from OCR lines: find the label the question names, take the value next to it.

Layouts handled, with word boxes:
- `Label: value` anywhere on a line, also after another column (`Bill to: Invoice No.: 47450`);
- `Label      value` in two columns, from one OCR line or two (engines that box each column apart);
- a label alone, or beside other labels, with its value below it (`Date of birth   Passport No.` over
  `June 30, 1995   444044194`);
- a small label with its value printed on the underline to its right, a little above it (passports), and
  labels broken over two lines (`Место` over `рождения`);
- a value that wraps onto the next line(s) of its column (addresses, places of birth);
- invoice titles: `СЧЁТ-ФАКТУРА № 44 от "28" сентября 2010` answers the invoice number and date fields.

Fields whose name says they are a date or a number are typed: a date field's answer is the date printed
after its label (`от "28" сентября 2010` -> `28 сентября 2010`), a number field drops the `№`/`No.` marker.
"""

from __future__ import annotations

import itertools
import re
import statistics
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz

from model_ocr.engines import OCRLine, OCRWord

QUESTION_SCAFFOLDING = re.compile(
    r"^\s*(what\s+is\s+the|what's\s+the|what\s+is|what\s+are\s+the|give\s+the|write\s+the|write|"
    r"напиши(те)?|укажи(те)?|какой|какая|какое|каковы|каков|какова|что\s+такое)\s+(кто\s+|who\s+is\s+)?",
    re.IGNORECASE,
)
MAX_LABEL_WORDS = 8
COLUMN_GAP_HEIGHTS = 2.0  # a space wider than this many text heights separates columns
REDUCED_LABEL_WEIGHT = 0.9  # "Дата счёта" searched as "счёта": a weaker match than the full label
RUNNER_UP_MARGIN = 10.0  # other label matches tried when the best one has no (valid) value

FieldKind = Literal["date", "number", ""]
DATE_WORDS = {"date", "dated", "dob", "дата", "дату", "даты", "дате"}
NUMBER_WORDS = {"number", "no", "num", "nr", "№", "номер", "номера"}
NUMBER_MARKERS = {"№", "n", "no", "nº", "#", "n°", "nr"}

_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|"
    r"января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
)
_QUOTES = "\"'«»“”„"
DATE_PATTERNS = [
    # 28 сентября 2010 г. / "28" сентября 2010 / 06 Jul 2019
    re.compile(
        rf"[{_QUOTES}]?\s*(?P<day>\d{{1,2}})\s*[{_QUOTES}]?\s+(?P<month>{_MONTHS})\.?\s+(?P<year>\d{{4}})"
        r"(?P<suffix>\s*(?:г\.|года|г\b))?",
        re.IGNORECASE,
    ),
    # June 30, 1995
    re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}},?\s+\d{{4}}\b", re.IGNORECASE),
    # 14/03/1987, 12.05.1990, 2024-01-31
    re.compile(r"\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b"),
]


def normalize(text: str) -> str:
    text = text.casefold().replace("ё", "е").replace("№", " № ")
    text = re.sub(r"[^\w\s№]", " ", text)
    return " ".join(text.split())


def label_from_question(question: str) -> str:
    """'What is the invoice number?' -> 'invoice number'; 'Напиши кто Продавец' -> 'Продавец'. Only the first
    line counts: benchmark prompts add an answer instruction after it ("Answer the question using ...")."""
    lines = [line for line in question.strip().splitlines() if line.strip()]
    text = (lines[0] if lines else "").strip().rstrip("?.!:").strip()
    text = QUESTION_SCAFFOLDING.sub("", text)
    return text.strip()


def label_candidates(question: str, field_name: str | None, field_label: str | None = None) -> list[str]:
    """The printed label when the dataset knows it, else what the question names, and the field name."""
    candidates = [field_label] if field_label else []
    candidates.append(label_from_question(question))
    if field_name:
        candidates.append(field_name.replace("_", " "))
    return [c for c in dict.fromkeys(candidates) if normalize(c)]


def field_kind(labels: list[str]) -> FieldKind:
    """'date' when a label names a date, 'number' when it names a number, else ''."""
    words = {word for label in labels for word in normalize(label).split()}
    if words & DATE_WORDS:
        return "date"
    if words & NUMBER_WORDS:
        return "number"
    return ""


def find_date(text: str) -> str:
    """The first date in `text`, as printed but without quotes around the day; '' when there is none."""
    found = [(m.start(), index, m) for index, p in enumerate(DATE_PATTERNS) if (m := p.search(text))]
    if not found:
        return ""
    _, index, match = min(found, key=lambda item: (item[0], item[1]))
    if index == 0:
        suffix = " г." if match.group("suffix") and match.group("suffix").strip().startswith("г") else ""
        return f"{match.group('day')} {match.group('month')} {match.group('year')}{suffix}"
    return match.group(0)


def strip_number_marker(text: str) -> str:
    """'№ СЧ-07255 от 11 марта' -> 'СЧ-07255'; 'N 44' -> '44'; a value without a marker is kept whole."""
    words = text.split()
    for index, word in enumerate(words[:-1]):
        if word.casefold().rstrip(".:") in NUMBER_MARKERS:
            more = itertools.takewhile(lambda w: any(ch.isdigit() for ch in w), words[index + 2 :])
            return " ".join([words[index + 1], *more])  # '№ 45 05 679944' keeps its digit groups
    return text


@dataclass(frozen=True)
class LabelMatch:
    score: float
    line: OCRLine  # the label's line (two stacked label lines are merged into one)
    start: int  # first word of the label
    end: int  # first word after the label (and after its colon, if any)
    colon: bool

    @property
    def label_words(self) -> tuple[OCRWord, ...]:
        return self.line.words[self.start : self.end]

    @property
    def box(self) -> tuple[float, float, float, float]:
        words = self.label_words
        return (
            min(w.box[0] for w in words),
            min(w.box[1] for w in words),
            max(w.box[2] for w in words),
            max(w.box[3] for w in words),
        )


def _height(words: tuple[OCRWord, ...] | list[OCRWord]) -> float:
    return statistics.median(w.box[3] - w.box[1] for w in words) if words else 1.0


def _is_label_word(word: OCRWord) -> bool:
    """'Date:' — the next label on the line, not a value."""
    return word.text.endswith(":") and any(ch.isalpha() for ch in word.text)


def _group_from(words: tuple[OCRWord, ...], start: int) -> list[OCRWord]:
    """Words from `start` on until the first column gap."""
    gap = COLUMN_GAP_HEIGHTS * _height(words)
    group: list[OCRWord] = []
    for index in range(start, len(words)):
        if group and words[index].box[0] - group[-1].box[2] > gap:
            break
        group.append(words[index])
    return group


def _join(words: list[OCRWord]) -> str:
    """The words of a value without OCR debris at its ends (underlines read as '_', '|', '=', low-confidence
    specks like 'ie' next to a passport field)."""
    words = list(words)

    def debris(word: OCRWord) -> bool:
        return not any(ch.isalnum() for ch in word.text) or (word.confidence < 0.4 and len(word.text) <= 3)

    while words and debris(words[-1]):
        words.pop()
    while words and debris(words[0]):
        words.pop(0)
    return " ".join(w.text for w in words)


def _stacked_labels(lines: list[OCRLine]) -> list[tuple[OCRLine, int]]:
    """Short lines merged with the line right under them ('Место' + 'рождения', 'Поставщик' +
    '(Исполнитель):'), with the index of the first lower word: a label must straddle the two lines."""
    merged = []
    for upper in lines:
        if len(upper.words) > 3:
            continue
        height = upper.height
        for lower in lines:
            if (
                lower is not upper
                and abs(lower.box[0] - upper.box[0]) <= height
                and 0 <= lower.box[1] - upper.box[3] <= 1.5 * height
                and len(lower.words) <= MAX_LABEL_WORDS
            ):
                box = (
                    min(upper.box[0], lower.box[0]),
                    upper.box[1],
                    max(upper.box[2], lower.box[2]),
                    lower.box[3],
                )
                words = upper.words + lower.words
                line = OCRLine(" ".join(w.text for w in words), box, upper.confidence, words)
                merged.append((line, len(upper.words)))
    return merged


def _label_queries(labels: list[str], kind: FieldKind) -> list[tuple[str, float]]:
    """(normalized label, weight): every candidate, plus for typed fields the label without its type word
    ('Дата счёта' -> 'счёта'), since a document often prints only the title ('Счёт ... от 11 марта')."""
    queries = [(normalize(label), 1.0) for label in labels]
    if kind:
        type_words = DATE_WORDS if kind == "date" else NUMBER_WORDS
        for label in labels:
            rest = " ".join(w for w in normalize(label).split() if w not in type_words)
            if rest and rest != normalize(label):
                queries.append((rest, REDUCED_LABEL_WEIGHT))
    return [q for q in dict.fromkeys(queries) if q[0]]


def _label_matches(lines: list[OCRLine], labels: list[str], kind: FieldKind) -> list[LabelMatch]:
    """The best label match of every line, best first."""
    queries = _label_queries(labels, kind)
    best_per_line: dict[int, LabelMatch] = {}
    for line, split in [*((line, 0) for line in lines), *_stacked_labels(lines)]:
        words = line.words
        normalized = [normalize(w.text) for w in words]
        for start in range(len(words)):
            for end in range(start + 1, min(start + MAX_LABEL_WORDS, len(words)) + 1):
                if split and not start < split < end:
                    continue
                window = " ".join(n for n in normalized[start:end] if n)
                if not window:
                    continue
                score = max(fuzz.ratio(query, window) * weight for query, weight in queries)
                colon = words[end - 1].text.endswith(":")
                after = end
                # A colon a word later ("Total, USD: 5.00") or standing alone (": 5.00").
                if not colon and after < len(words) and words[after].text.endswith(":"):
                    if words[after].text == ":" or len(words[after].text) <= 5:
                        colon, after = True, after + 1
                match = LabelMatch(score, line, start, after, colon)
                current = best_per_line.get(id(line))
                if current is None or (score, colon) > (current.score, current.colon):
                    best_per_line[id(line)] = match
    return sorted(best_per_line.values(), key=lambda m: (m.score, m.colon), reverse=True)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def _lines_below(lines: list[OCRLine], line: OCRLine, x1: float, x2: float) -> list[OCRLine]:
    """Lines under `line` that overlap the x range, nearest first."""
    return sorted(
        (
            other
            for other in lines
            if other is not line
            and other.box[1] >= line.center_y
            and other.center_y > line.box[3]
            and other.box[0] <= x2
            and other.box[2] >= x1
        ),
        key=lambda other: other.box[1],
    )


def _has_digit(words: list[OCRWord]) -> bool:
    return any(ch.isdigit() for word in words for ch in word.text)


def _value_below(
    lines: list[OCRLine], match: LabelMatch, row_text: list[OCRWord] | None = None
) -> list[OCRWord]:
    """The word group under the label (horizontally overlapping it) on the next line down.

    When the label's own row also has text further right (`row_text`), that text is either the label's
    value (`Phone   +7 912...`, the line below being the next row) or the next column's label
    (`Invoice No.   Invoice date` over `48283   02/27/2022`). The line below is taken as the value only
    if it is closer than the spacing of the rows under it, ends before the row text's column, and either
    sits within a text height of the label or holds digits where the row text holds none."""
    x1, y1, x2, y2 = match.box
    height = _height(match.label_words)
    below = _lines_below(lines, match.line, x1 - height, x2 + height)
    if not below or below[0].box[1] - y2 > 2.5 * height:
        return []
    line = below[0]
    if row_text:
        # The row pitch: from the line below to the next one, else from the line above to the label.
        further = _lines_below(lines, line, x1 - height, x2 + height)
        above = [o for o in lines if o.box[3] <= match.line.center_y and o.box[0] <= x2 and o.box[2] >= x1]
        if further:
            pitch = further[0].box[1] - line.box[1]
        elif above:
            pitch = y1 - max(above, key=lambda o: o.box[1]).box[1]
        else:
            pitch = None
        if pitch is not None and line.box[1] - match.line.box[1] >= 0.8 * pitch:
            return []
    for index, word in enumerate(line.words):
        if word.box[2] >= x1 - height and word.box[0] <= x2 + height:
            group = _group_from(line.words, index)
            if not group or any(_is_label_word(w) for w in group):  # "Date: ..." is the next label
                return []
            if row_text:
                if group[-1].box[2] >= row_text[0].box[0]:
                    return []  # it runs on into the row text's column: a row of its own
                stacked = line.box[1] - y2 <= height
                if not stacked and (_has_digit(row_text) or not _has_digit(group)):
                    return []
            return group
    return []


def _value_right(lines: list[OCRLine], match: LabelMatch) -> tuple[OCRLine, list[OCRWord]] | None:
    """A separate text line starting right of the label on the same row: engines that box each column
    apart, and small labels beside large values printed on the underline, a little above the label
    (passports). The row is the label's height plus half of it above."""
    x1, y1, x2, y2 = match.box
    height = y2 - y1
    row = (y1 - 0.5 * height, y2)
    candidates = []
    for line in lines:
        if line is match.line or line.box[0] < x2 - 2 or not line.words:
            continue
        if _overlap(row, (line.box[1], line.box[3])) > 0:
            # Nearest first; a pixel of bottom-edge offset weighs like 10 pixels of distance, so a value on
            # the label's own row beats a nearer title just above it.
            candidates.append((line.box[0] - x2 + 10 * abs(line.box[3] - y2), line.box[0], line))
    if not candidates:
        return None
    line = min(candidates, key=lambda c: (c[0], c[1]))[2]
    group = _group_from(line.words, 0)
    if any(_is_label_word(w) for w in group):
        return None  # the next thing on the row is another label
    return line, group


def _continuation(lines: list[OCRLine], match: LabelMatch, value_line: OCRLine, value: list[OCRWord]) -> str:
    """Lines the value wraps onto: right under it, in the value's column (right of the label), with nothing
    on their row from the label column on (a line with something on its left is the next field)."""
    text = _join(value)
    if not value or value[-1] is not value_line.words[-1]:
        return text  # the value ended before its line did: it does not wrap
    label_x1, label_x2 = match.box[0], match.box[2]
    height = _height(value)
    current_x1, current_x2, current_bottom = value[0].box[0], value[-1].box[2], value_line.box[3]
    used = {id(value_line), id(match.line)}
    while True:
        below = [
            line
            for line in lines
            if id(line) not in used
            and 0 <= line.box[1] - current_bottom <= height
            and line.box[0] >= label_x2 - 0.5 * height
            and line.box[0] <= current_x2
            and line.box[2] >= current_x1
        ]
        if not below:
            return text
        line = min(below, key=lambda candidate: candidate.box[1])
        row = (line.box[1], line.box[3])
        blocked = any(  # by something in the label column or between it and the line
            other is not line
            and label_x1 - height < other.box[2] <= line.box[0] + 2
            and _overlap(row, (other.box[1], other.box[3])) > 0
            for other in lines
        )
        if blocked or any(_is_label_word(w) for w in line.words):
            return text
        extra = _join(list(line.words))
        if not extra:
            return text
        text = f"{text} {extra}"
        used.add(id(line))
        current_x1, current_x2, current_bottom = line.box[0], line.box[2], line.box[3]


def _value_for(lines: list[OCRLine], match: LabelMatch) -> str:
    """The value next to one label match (see the module docstring for the layouts)."""
    words = match.line.words
    same_line = _group_from(words, match.end) if match.end < len(words) else []
    if any(_is_label_word(w) for w in same_line):
        same_line = []  # another label follows ("Bill to:      Invoice No.: 47450")
    if same_line and match.colon:
        return _continuation(lines, match, match.line, same_line)
    right = _value_right(lines, match)
    if match.colon:
        if right:
            return _continuation(lines, match, *right)
        return _join(_value_below(lines, match))
    below = _value_below(lines, match, same_line or (right[1] if right else None))
    if below:
        return _join(below)
    if same_line:
        return _continuation(lines, match, match.line, same_line)
    return _continuation(lines, match, *right) if right else ""


def _row_text_right(lines: list[OCRLine], match: LabelMatch) -> str:
    """Every word right of the label on its row (the row as in `_value_right`), left to right."""
    x1, y1, x2, y2 = match.box
    row = (y1 - 0.5 * (y2 - y1), y2)
    words = [
        word
        for line in lines
        for word in line.words
        if word.box[0] >= x2 - 2 and _overlap(row, (word.box[1], word.box[3])) > 0
    ]
    return " ".join(w.text for w in sorted(words, key=lambda w: w.box[0]))


def _typed(lines: list[OCRLine], value: str, match: LabelMatch, kind: FieldKind) -> str:
    """A date field's date (from the value, else from the rest of the label's line or row), a number
    without its `№` marker; '' when a date field has no date."""
    if kind == "date":
        rest = " ".join(w.text for w in match.line.words[match.end :])
        return find_date(value) or find_date(rest) or find_date(_row_text_right(lines, match))
    if kind == "number":
        number = strip_number_marker(value)
        if number.casefold().rstrip(".:") in NUMBER_MARKERS:  # 'N', a blank to fill in, then '44'
            rest = " ".join(w.text for w in match.line.words[match.end :])
            number = strip_number_marker(rest)
            return "" if number == rest else number
        return number
    return value


def find_value(
    lines: list[OCRLine], labels: list[str], score_cutoff: float = 70.0, kind: FieldKind | None = None
) -> str:
    """The value of the best-matching label, or '' when no label matches well enough.

    `kind` ('date', 'number', '') defaults to what the labels name. When the best match gives no value
    (or, for a date field, no date), matches scoring within `RUNNER_UP_MARGIN` of it are tried in turn."""
    kind = field_kind(labels) if kind is None else kind
    matches = [m for m in _label_matches(lines, labels, kind) if m.score >= score_cutoff]
    if not matches:
        return ""
    fallback = ""
    for match in matches:
        if match.score < matches[0].score - RUNNER_UP_MARGIN:
            break
        value = _value_for(lines, match)
        typed = _typed(lines, value, match, kind)
        if typed:
            return typed
        fallback = fallback or value
    return fallback


def label_context(
    lines: list[OCRLine], labels: list[str], score_cutoff: float = 70.0, rows: int = 2
) -> list[OCRLine] | None:
    """The OCR lines around the best-matching label: its row and `rows` rows above and below, in reading
    order; None when no label matches. A short context for a reader model asked about one field."""
    from model_ocr.engines import reading_rows

    matches = [m for m in _label_matches(lines, labels, field_kind(labels)) if m.score >= score_cutoff]
    if not matches:
        return None
    grid = reading_rows(lines)
    label_words = set(map(id, matches[0].line.words))
    for index, row in enumerate(grid):
        if any(label_words & set(map(id, line.words)) for line in row) or any(
            line is matches[0].line for line in row
        ):
            return [line for near in grid[max(0, index - rows) : index + rows + 1] for line in near]
    return None
