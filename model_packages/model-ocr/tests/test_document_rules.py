"""Document type and page order from OCR text: golden cases built from OCR lines."""

from __future__ import annotations

import pytest
from model_ocr.document_rules import classify, order_pages, page_number
from model_ocr.engines import OCRLine

LABELS = ["invoice", "form", "receipt"]


def page(*texts: str, footer: str | None = None) -> list[OCRLine]:
    """A 1000 x 1400 page: one line per text from the top, and an optional footer line at the bottom."""
    lines = [OCRLine(text, (60, 80 + 40 * i, 900, 110 + 40 * i), 0.95) for i, text in enumerate(texts)]
    if footer:
        lines.append(OCRLine(footer, (400, 1340, 600, 1370), 0.95))
    return lines


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("ACME LLC", "INVOICE", "Bill to: Blue Ridge", "Invoice No.: 123", "Total 45.00"), "invoice"),
        (("СЧЁТ-ФАКТУРА № 44", "Поставщик: ООО Ромашка", "ИНН 7700000000"), "invoice"),
        (("GREEN MARKET", "SALES RECEIPT", "Cashier: Ann", "Total 12.40", "Change 0.60"), "receipt"),
        (("EMPLOYEE FORM", "Full name: Jane Doe", "Date of birth: 01/02/1990", "Passport No. 1234"), "form"),
        (("АНКЕТА РАБОТНИКА", "Фамилия: Иванов", "Дата рождения: 01.02.1990"), "form"),
        (("Hello world", "nothing typical here"), ""),  # no evidence: no guess
    ],
)
def test_the_document_type_follows_the_printed_evidence(texts: tuple[str, ...], expected: str) -> None:
    assert classify([page(*texts)], LABELS) == expected


def test_a_label_without_keywords_is_looked_for_by_name() -> None:
    assert (
        classify([page("BANK STATEMENT", "Account 123")], ["bank statement", "invoice"]) == "bank statement"
    )


@pytest.mark.parametrize("footer", ["Page 3 of 4", "Стр. 3", "- 3 -", "3/4"])
def test_page_numbers_are_read_at_the_bottom_of_the_page(footer: str) -> None:
    assert page_number(page("body text", footer=footer)) == 3


def test_a_number_in_the_middle_of_the_page_is_not_a_page_number() -> None:
    assert page_number(page("intro", "Page 3 of the contract says", "more", "more", "more", "more")) is None


def test_explicit_page_numbers_decide_the_order() -> None:
    shuffled = [
        page("text", footer="Page 3 of 3"),
        page("text", footer="Page 1 of 3"),
        page("text", footer="Page 2 of 3"),
    ]
    assert order_pages(shuffled) == [1, 2, 0]


def test_without_page_numbers_the_first_page_then_clause_numbers_then_the_signatures() -> None:
    first = page("ACME LLC", "INVOICE", "Invoice No.: 123", "Total 45.00", "Authorized signature")
    terms = page("TERMS AND CONDITIONS", "1. Subject", "1.1. The Supplier delivers", "1.2. The Buyer pays")
    middle = page("runs on from the last page", "2.3. Delivery is made", "3.1. Claims")
    last = page("4.2. Disputes go to court", "Supplier: Buyer:", "Signature")
    assert order_pages([middle, last, first, terms]) == [2, 3, 0, 1]


def test_a_continued_page_is_not_taken_for_the_first_page() -> None:
    continued = page("Terms (continued)", "the goods are returned")
    first = page("RECEIPT", "Store: Green Market")
    assert order_pages([continued, first]) == [1, 0]
