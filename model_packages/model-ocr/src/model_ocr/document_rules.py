"""Whole-document answers from OCR text: the document type, and the reading order of shuffled pages.

**Document type.** Each label scores the evidence printed on the page: title words (INVOICE, RECEIPT,
СЧЁТ, АНКЕТА...) weigh most, then words that documents of that type carry (`Bill to`, `Cashier`,
`Date of birth`...); words near the top of the page (where titles are) count double. The best-scoring
label wins; a tie or no evidence gives '' (no guess). A label with no keyword list here is looked for
by its own name.

**Page order.** The cues real multi-page documents carry, strongest first:
1. an explicit page number ("Page 2 of 4", "Стр. 2", "- 2 -", "2/4" at the top or bottom of the page);
2. the first numbered clause on the page ("3.2."): later numbers come later;
3. a first-page look: no numbered clauses and no "continued" (the document's own page, with its title and
   header fields; it may also carry a total and a signature);
4. a closing look: signatures or a grand total, which end a document.
Pages with no cue keep their given order among themselves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from model_ocr.engines import OCRLine, reading_order
from model_ocr.label_rules import normalize

# label -> (title words, supporting words); all normalized (see label_rules.normalize).
DOCUMENT_KEYWORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "invoice": (
        ("invoice", "tax invoice", "счет", "счет фактура", "счет на оплату", "инвойс"),
        (
            "bill to",
            "invoice no",
            "invoice date",
            "due date",
            "payment terms",
            "subtotal",
            "vat",
            "tax id",
            "поставщик",
            "покупатель",
            "инн",
            "кпп",
            "бик",
            "итого к оплате",
            "всего к оплате",
            "оплатить до",
        ),
    ),
    "receipt": (
        ("receipt", "sales receipt", "cash receipt", "кассовый чек", "чек", "товарный чек"),
        (
            "cashier",
            "change",
            "cash",
            "card",
            "thank you for shopping",
            "store",
            "кассир",
            "сдача",
            "наличными",
            "картой",
            "смена",
            "спасибо за покупку",
            "магазин",
        ),
    ),
    "form": (
        (
            "form",
            "application",
            "questionnaire",
            "employee form",
            "personnel form",
            "анкета",
            "заявление",
            "личная карточка",
        ),
        (
            "full name",
            "date of birth",
            "place of birth",
            "passport",
            "marital status",
            "signature of",
            "employee",
            "personnel number",
            "фамилия",
            "дата рождения",
            "место рождения",
            "паспорт",
            "семейное положение",
            "табельный номер",
            "работник",
        ),
    ),
}
TITLE_WEIGHT, WORD_WEIGHT = 3.0, 1.0
TOP_SHARE = 0.25  # the top quarter of the page, where titles are


def _normalized_text(lines: Sequence[OCRLine]) -> tuple[str, str]:
    """(the whole page, its top quarter), normalized, with single spaces and padding for word matches."""
    if not lines:
        return " ", " "
    bottom = max(line.box[3] for line in lines)
    top_cut = min(line.box[1] for line in lines) + TOP_SHARE * bottom
    ordered = reading_order(list(lines))
    whole = " " + " ".join(normalize(line.text) for line in ordered) + " "
    top = " " + " ".join(normalize(line.text) for line in ordered if line.box[1] <= top_cut) + " "
    return whole, top


def _count(phrase: str, text: str) -> int:
    return text.count(f" {phrase} ")


def label_scores(pages: Sequence[Sequence[OCRLine]], labels: Sequence[str]) -> dict[str, float]:
    """The evidence for each label, summed over the pages."""
    scores = dict.fromkeys(labels, 0.0)
    for lines in pages:
        whole, top = _normalized_text(lines)
        for label in labels:
            titles, words = DOCUMENT_KEYWORDS.get(normalize(label), ((normalize(label),), ()))
            for phrase, weight in [*((t, TITLE_WEIGHT) for t in titles), *((w, WORD_WEIGHT) for w in words)]:
                hits = _count(phrase, whole)
                if hits:
                    scores[label] += weight * (1 + (_count(phrase, top) > 0))
    return scores


def classify(pages: Sequence[Sequence[OCRLine]], labels: Sequence[str]) -> str:
    """The label with the most evidence; '' on a tie or when nothing matches."""
    scores = label_scores(pages, labels)
    if not scores:
        return ""
    best = max(scores.values())
    winners = [label for label, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else ""


# ---- page order ---------------------------------------------------------------------------------

_PAGE_NUMBER = [
    re.compile(
        r"\b(?:page|p\.|стр\.?|страница|лист)\s*(\d{1,3})(?:\s*(?:of|из|/)\s*\d{1,3})?\b", re.IGNORECASE
    ),
    re.compile(r"^\s*[-–—]\s*(\d{1,3})\s*[-–—]\s*$"),  # "- 2 -"
    re.compile(r"^\s*(\d{1,3})\s*/\s*\d{1,3}\s*$"),  # "2/4"
]
# "3.2. text": a two-level clause number (a bare "1." is as often an item of a list on the first page).
_CLAUSE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.?\s+\S")
_CONTINUED = re.compile(r"\b(continued|cont\.|продолжение)\b", re.IGNORECASE)
_CLOSING = re.compile(
    r"\b(signature|signed|authorized|подпись|м\.п\.|grand total|total due|итого|всего к оплате)\b",
    re.IGNORECASE,
)
_EDGE_SHARE = 0.12  # page numbers sit in the top or bottom 12% of the page


def page_number(lines: Sequence[OCRLine]) -> int | None:
    """An explicit page number printed at the top or bottom of the page, or None."""
    if not lines:
        return None
    top = min(line.box[1] for line in lines)
    bottom = max(line.box[3] for line in lines)
    height = max(bottom - top, 1.0)
    for line in lines:
        if top + _EDGE_SHARE * height < line.center_y < bottom - _EDGE_SHARE * height:
            continue
        for pattern in _PAGE_NUMBER:
            match = pattern.search(line.text)
            if match:
                return int(match.group(1))
    return None


def first_clause(lines: Sequence[OCRLine]) -> tuple[int, int] | None:
    """The first numbered clause or section in reading order, as (section, clause)."""
    for line in reading_order(list(lines)):
        match = _CLAUSE.match(line.text)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def page_cues(lines: Sequence[OCRLine]) -> tuple[int | None, tuple[int, int] | None, bool, bool]:
    """(page number, first clause, looks like a first page, looks like a closing page)."""
    text = " ".join(line.text for line in lines)
    clause = first_clause(lines)
    number = page_number(lines)
    first_look = clause is None and not _CONTINUED.search(text) and len(lines) > 0
    return number, clause, first_look, bool(_CLOSING.search(text))


def order_pages(pages: Sequence[Sequence[OCRLine]]) -> list[int]:
    """The reading order as a list of page indices (first the index of page one), from the cues above.

    Explicit page numbers decide when every page has a different one; otherwise the structure decides:
    the first-looking page, then pages by their first clause number, then pages with neither, then
    closing pages without clauses (a closing page with clauses sorts by them: its clauses are the last)."""
    cues = [page_cues(lines) for lines in pages]
    numbers = [cue[0] for cue in cues]
    if all(number is not None for number in numbers) and len(set(numbers)) == len(numbers):
        return sorted(range(len(pages)), key=lambda index: numbers[index])

    def structure(index: int) -> tuple[int, tuple[int, int], int]:
        _, clause, first_look, closing = cues[index]
        if first_look:
            rank = 0
        elif clause is not None:
            rank = 1
        else:
            rank = 3 if closing else 2
        return rank, clause or (0, 0), index

    return sorted(range(len(pages)), key=structure)
