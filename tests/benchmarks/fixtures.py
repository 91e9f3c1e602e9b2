"""Benchmark fixtures: a few synthetic rows per benchmark, written in the exact layouts users have.

- `write_hf_parquet`: a Parquet shard as lmms-eval reads it from the hub (lmms-lab/DocVQA's DocVQA and
  InfographicVQA configs, lmms-lab/ChartQA, echo840/OCRBench, lmms-lab/textvqa): the real column names and
  Arrow types, images as `{bytes, path}` structs, named like a hub shard (`validation-00000-of-00001.parquet`).
- `write_vlmevalkit_tsv`: the VLMEvalKit TSV of the same rows (DocVQA_VAL.tsv, ...): `index`, base64 `image`,
  `question`, `answer` (a Python-list string where the benchmark has several answers), OCRBench's `category`,
  ChartQA's `split`.
- MTVQA (`mtvqa_ru`): the hub's ByteDance/MTVQA has one row per image (`image`, `qa_pairs`: a Python-literal
  string of `{question, answer}` dicts, `lang`: AR DE FR IT JA KO RU TH VI, `id`); VLMEvalKit's
  MTVQA_TEST.tsv one row per question, the language in `category`. Its rows are Cyrillic, drawn in DejaVu
  Sans (matplotlib's copy), with one German row that the task's RU filter leaves out.

Every image is drawn here with Pillow (its text rendered in), every question and answer is made up: nothing
is copied from a hub. `python -m tests.benchmarks.fixtures OUT_DIR` writes them all.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

BENCHMARKS: tuple[str, ...] = (
    "docvqa_val",
    "infovqa_val",
    "chartqa_test",
    "ocrbench",
    "textvqa_val",
    "mtvqa_ru",
)
# Hub layouts our Parquet reader cannot read yet: tests read the TSV of these instead.
HF_READER_GAPS: dict[str, str] = {}  # benchmark -> why; none since the reader flattens MTVQA's qa_pairs
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def dejavu_sans() -> Path:
    """DejaVu Sans as matplotlib ships it (a dependency here), for text the default font cannot draw."""
    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None and spec.origin is not None, "matplotlib is a dependency of vlmbench"
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"


def render(lines: list[str], size: tuple[int, int] = (520, 150), cyrillic: bool = False) -> bytes:
    """A white PNG with `lines` of black text, large enough for OCR."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(dejavu_sans()), 30) if cyrillic else ImageFont.load_default(size=30)
    for number, line in enumerate(lines):
        draw.text((16, 14 + 44 * number), line, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Row:
    """One benchmark question: its image text, question, answers, and the layout-specific extras."""

    image_lines: list[str]
    question: str
    answers: list[str]
    hf: dict[str, Any] = field(default_factory=dict)  # extra Parquet columns (ids, types, OCR, ...)
    tsv: dict[str, str] = field(default_factory=dict)  # extra TSV columns (category, split)

    @property
    def image(self) -> bytes:
        return render(self.image_lines, cyrillic="lang" in self.hf)


TEN = 10


def _ten(*counts: tuple[str, int]) -> list[str]:
    answers = [answer for answer, count in counts for _ in range(count)]
    assert len(answers) == TEN, answers
    return answers


ROWS: dict[str, list[Row]] = {
    "docvqa_val": [
        Row(["Invoice No: 4471", "Total: 92.50"], "What is the invoice number?", ["4471"]),
        Row(["Date: 12/03/1998", "To: Acme Corp"], "To whom is the letter addressed?", ["Acme Corp", "acme corp."]),
        Row(["Page 3 of 7", "Report: Sales"], "What is the page number?", ["3"]),
        Row(["Total: 92.50", "Tax: 7.40"], "What is the total?", ["92.50", "$92.50"]),
    ],
    "infovqa_val": [
        Row(["Population: 8.4M", "Area: 783 km2"], "What is the population?", ["8.4M", "8.4 million"]),
        Row(["Top sport: Soccer", "Fans: 61%"], "Which sport is the most popular?", ["soccer"]),
        Row(["Fans: 61%", "Year: 2019"], "What percentage are fans?", ["61%"]),
    ],
    "chartqa_test": [
        Row(["Sales 2019: 40", "Sales 2020: 55"], "What were sales in 2019?", ["40"], {"type": "human_test"}),
        Row(["Share A: 12.5%", "Share B: 30%"], "What is the share of A?", ["12.5"], {"type": "human_test"}),
        Row(["Max: Germany", "Min: Chad"], "Which country has the max value?", ["Germany"], {"type": "augmented_test"}),
        Row(["Peak: 2016", "Low: 2003"], "In which year is the peak?", ["2016"], {"type": "augmented_test"}),
    ],
    "ocrbench": [
        Row(["HELLO"], "what is written in the image?", ["HELLO"],
            {"dataset": "IIIT5K", "question_type": "Regular Text Recognition"}),
        Row(["Total: 31.20"], "What is the total?", ["31.20"],
            {"dataset": "SROIE", "question_type": "Key Information Extraction"}),
        Row(["Route 66 diner"], "what is the number in the image?", ["66"],
            {"dataset": "textVQA", "question_type": "Scene Text-centric VQA"}),
        Row(["x ^ { 2 } + 1"], "Please write out the expression of the formula in the image using LaTeX format.",
            ["x ^ { 2 } + 1"], {"dataset": "HME100k", "question_type": "Handwritten Mathematical Expression Recognition"}),
    ],
    "textvqa_val": [
        Row(["STOP"], "what does the sign say?", _ten(("stop", 7), ("stop sign", 3))),
        Row(["Brand: Nikon"], "what brand is the camera?", _ten(("nikon", 9), ("nikon camera", 1))),
        Row(["Gate 2"], "what gate number is shown?", _ten(("2", 5), ("two", 2), ("gate 2", 3))),
    ],
    # `image` numbers the hub row (one image, several questions); rows sharing it share the image.
    "mtvqa_ru": [
        Row(["Аптека № 5", "Часы: 9:00-21:00"], "Какой номер у аптеки?", ["5"], {"image": 0, "lang": "RU"}),
        Row(["Аптека № 5", "Часы: 9:00-21:00"], "До скольки работает аптека?", ["21:00"], {"image": 0, "lang": "RU"}),
        Row(["Кафе «Ромашка»", "ул. Ленина, 12"], "Как называется кафе?", ["Ромашка"], {"image": 1, "lang": "RU"}),
        Row(["Цена: 120 руб.", "Скидка 10%"], "Сколько стоит товар?", ["120 руб."], {"image": 2, "lang": "RU"}),
        Row(["Ausgang", "Notausgang links"], "Was steht auf dem Schild?", ["Ausgang"], {"image": 3, "lang": "DE"}),
    ],
}  # fmt: skip

CATEGORY_COLUMN = {
    "ocrbench": "question_type",
    "mtvqa_ru": "lang",
}  # the TSV `category` comes from this Parquet column
SPLIT_COLUMN = {"chartqa_test": "type"}  # the TSV `split` comes from this Parquet column
SINGLE_ANSWER_TSV = frozenset({"chartqa_test", "mtvqa_ru"})
SHARD_NAMES = {
    "docvqa_val": "validation-00000-of-00001.parquet",
    "infovqa_val": "validation-00000-of-00001.parquet",
    "chartqa_test": "test-00000-of-00001.parquet",
    "ocrbench": "test-00000-of-00001.parquet",
    "textvqa_val": "validation-00000-of-00001.parquet",
    "mtvqa_ru": "test-00000-of-00001.parquet",
}
TSV_NAMES = {
    "docvqa_val": "DocVQA_VAL.tsv",
    "infovqa_val": "InfoVQA_VAL.tsv",
    "chartqa_test": "ChartQA_TEST.tsv",
    "ocrbench": "OCRBench.tsv",
    "textvqa_val": "TextVQA_VAL.tsv",
    "mtvqa_ru": "MTVQA_TEST.tsv",
}


def _image(row: Row, number: int) -> dict[str, Any]:
    return {"bytes": row.image, "path": f"{number}.png"}


def _hf_table(benchmark: str, rows: list[Row]) -> pa.Table:
    """The rows with the benchmark's hub columns, in the hub's order and Arrow types."""
    strings, string_lists = pa.string(), pa.list_(pa.string())
    images = [_image(row, number) for number, row in enumerate(rows)]
    questions = [row.question for row in rows]
    if benchmark == "docvqa_val":
        columns = {
            "questionId": (strings, [str(49150 + n) for n in range(len(rows))]),
            "question": (strings, questions),
            "question_types": (string_lists, [["form"] for _ in rows]),
            "image": (IMAGE_TYPE, images),
            "docId": (pa.int64(), [1400 + n for n in range(len(rows))]),
            "ucsf_document_id": (strings, [f"fx{n:03d}0227" for n in range(len(rows))]),
            "ucsf_document_page_no": (strings, ["1"] * len(rows)),
            "answers": (string_lists, [row.answers for row in rows]),
            "data_split": (strings, ["val"] * len(rows)),
        }
    elif benchmark == "infovqa_val":
        columns = {
            "questionId": (strings, [str(98000 + n) for n in range(len(rows))]),
            "question": (strings, questions),
            "answers": (string_lists, [row.answers for row in rows]),
            "answer_type": (string_lists, [["single span"] for _ in rows]),
            "image": (IMAGE_TYPE, images),
            "image_url": (strings, [f"https://example.invalid/{n}.png" for n in range(len(rows))]),
            "operation/reasoning": (string_lists, [[] for _ in rows]),
            "ocr": (strings, ['{"PAGE": []}' + " " * 5000 for _ in rows]),  # bulky, as in the real data
            "data_split": (strings, ["val"] * len(rows)),
        }
    elif benchmark == "chartqa_test":
        columns = {
            "type": (strings, [row.hf["type"] for row in rows]),
            "question": (strings, questions),
            "answer": (strings, [row.answers[0] for row in rows]),
            "image": (IMAGE_TYPE, images),
        }
    elif benchmark == "ocrbench":
        columns = {
            "dataset": (strings, [row.hf["dataset"] for row in rows]),
            "question": (strings, questions),
            "question_type": (strings, [row.hf["question_type"] for row in rows]),
            "answer": (string_lists, [row.answers for row in rows]),
            "image": (IMAGE_TYPE, images),
        }
    elif benchmark == "textvqa_val":
        columns = {
            "image_id": (strings, [f"{n:016x}" for n in range(len(rows))]),
            "question_id": (pa.int64(), [34602 + n for n in range(len(rows))]),
            "question": (strings, questions),
            "question_tokens": (string_lists, [row.question.split() for row in rows]),
            "image": (IMAGE_TYPE, images),
            "image_width": (pa.int64(), [520] * len(rows)),
            "image_height": (pa.int64(), [150] * len(rows)),
            "flickr_original_url": (strings, ["https://example.invalid/o.jpg"] * len(rows)),
            "flickr_300k_url": (strings, ["https://example.invalid/s.jpg"] * len(rows)),
            "answers": (string_lists, [row.answers for row in rows]),
            "image_classes": (string_lists, [["sign"] for _ in rows]),
            "set_name": (strings, ["val"] * len(rows)),
            "ocr_tokens": (string_lists, [" ".join(row.image_lines).split() for row in rows]),
        }
    elif benchmark == "mtvqa_ru":
        first_rows: dict[int, int] = {}  # hub row (image) -> its first question's row
        for number, row in enumerate(rows):
            first_rows.setdefault(row.hf["image"], number)
        pairs = [
            repr(
                [
                    {"question": row.question, "answer": row.answers[0]}
                    for row in rows
                    if row.hf["image"] == image
                ]
            )
            for image in first_rows
        ]
        columns = {
            "image": (IMAGE_TYPE, [images[number] for number in first_rows.values()]),
            "qa_pairs": (strings, pairs),
            "lang": (strings, [rows[number].hf["lang"] for number in first_rows.values()]),
            "id": (pa.int64(), [int(image) for image in first_rows]),
        }
    else:
        raise KeyError(benchmark)
    schema = pa.schema([(name, kind) for name, (kind, _) in columns.items()])
    return pa.table({name: values for name, (_, values) in columns.items()}, schema=schema)


def write_hf_parquet(benchmark: str, folder: Path) -> Path:
    """The benchmark's rows as a hub Parquet shard in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SHARD_NAMES[benchmark]
    pq.write_table(_hf_table(benchmark, ROWS[benchmark]), path)
    return path


def _tsv_cell(text: str) -> str:
    assert "\t" not in text and "\n" not in text, text
    return text


def write_vlmevalkit_tsv(benchmark: str, folder: Path) -> Path:
    """The benchmark's rows as VLMEvalKit's TSV in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ROWS[benchmark]
    header = ["index", "image", "question", "answer"]
    if benchmark in CATEGORY_COLUMN:
        header.append("category")
    if benchmark in SPLIT_COLUMN:
        header.append("split")
    lines = ["\t".join(header)]
    for number, row in enumerate(rows):
        # One answer stays a plain string (ChartQA, MTVQA); several are a Python list literal, as VLMEvalKit writes.
        answer = row.answers[0] if benchmark in SINGLE_ANSWER_TSV else repr(row.answers)
        cells = [str(number), base64.b64encode(row.image).decode(), row.question, answer]
        if benchmark in CATEGORY_COLUMN:
            cells.append(row.hf[CATEGORY_COLUMN[benchmark]])
        if benchmark in SPLIT_COLUMN:
            cells.append(row.hf[SPLIT_COLUMN[benchmark]])
        lines.append("\t".join(_tsv_cell(cell) for cell in cells))
    path = folder / TSV_NAMES[benchmark]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_all(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Both layouts of every benchmark under `folder/<benchmark>/{hf,tsv}/`: {benchmark: (parquet, tsv)}."""
    return {
        benchmark: (
            write_hf_parquet(benchmark, folder / benchmark / "hf"),
            write_vlmevalkit_tsv(benchmark, folder / benchmark / "tsv"),
        )
        for benchmark in BENCHMARKS
    }


def readable_copy(written: dict[str, tuple[Path, Path]], benchmark: str) -> Path:
    """The hub Parquet of `write_all`'s output, or the TSV where our reader cannot read the hub layout."""
    parquet, tsv = written[benchmark]
    return tsv if benchmark in HF_READER_GAPS else parquet


if __name__ == "__main__":
    for name, paths in write_all(Path(sys.argv[1])).items():
        print(name, *paths)
