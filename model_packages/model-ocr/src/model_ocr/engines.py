"""OCR engines: RapidOCR (ONNX models shipped in its wheel; Latin and digits) and Tesseract (Russian too).

An engine turns a page into text lines with boxes. Engines load on first use, never at import.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Protocol

from model_interface.images import to_rgb
from PIL import Image

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the page given


@dataclass(frozen=True)
class OCRWord:
    text: str
    box: Box
    confidence: float = 1.0  # 0..1; engines that score lines only give every word the line's score


@dataclass(frozen=True)
class OCRLine:
    text: str
    box: Box
    confidence: float
    words: tuple[OCRWord, ...] = ()

    def __post_init__(self) -> None:
        words = self.words or (estimate_words(self.text, self.box, self.confidence) if self.text else ())
        object.__setattr__(self, "words", split_glued_labels(words))

    @property
    def center_y(self) -> float:
        return (self.box[1] + self.box[3]) / 2

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def estimate_words(text: str, box: Box, confidence: float = 1.0) -> tuple[OCRWord, ...]:
    """Word boxes for an engine that gives line boxes only: the width shared out by character count."""
    x1, y1, x2, y2 = box
    per_char = (x2 - x1) / max(len(text), 1)
    words, position = [], 0
    for word in text.split(" "):
        if word:
            start = x1 + position * per_char
            words.append(OCRWord(word, (start, y1, start + len(word) * per_char, y2), confidence))
        position += len(word) + 1
    return tuple(words)


def split_glued_labels(words: tuple[OCRWord, ...]) -> tuple[OCRWord, ...]:
    """'birth:14/03/1987' -> 'birth:' + '14/03/1987' (engines drop the space after a colon); '12:30' stays."""
    result = []
    for word in words:
        head, colon, tail = word.text.partition(":")
        if colon and tail and any(ch.isalpha() for ch in head) and not tail.startswith("//"):
            x1, y1, x2, y2 = word.box
            cut = x1 + (x2 - x1) * (len(head) + 1) / len(word.text)
            result += [
                OCRWord(head + ":", (x1, y1, cut, y2), word.confidence),
                OCRWord(tail, (cut, y1, x2, y2), word.confidence),
            ]
        else:
            result.append(word)
    return tuple(result)


class OCREngine(Protocol):
    name: str

    def read(self, image: Image.Image) -> list[OCRLine]: ...


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


@functools.cache
def tesseract_languages() -> frozenset[str]:
    """Languages the installed Tesseract has data for (empty when it is not installed)."""
    if not tesseract_available():
        return frozenset()
    listing = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30)
    return frozenset(line.strip() for line in listing.stdout.splitlines()[1:] if line.strip())


def rapidocr_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


def engine_problem(name: str, languages: str = "rus+eng") -> str:
    """Why engine `name` cannot run here ('' when it can). `auto` needs either engine."""
    if name == "auto":
        tesseract, rapidocr = engine_problem("tesseract", languages), engine_problem("rapidocr")
        return f"{tesseract}; {rapidocr}" if tesseract and rapidocr else ""
    if name == "tesseract":
        if not tesseract_available():
            return "the tesseract binary is not installed: apt-get install tesseract-ocr tesseract-ocr-rus"
        missing = sorted(set(languages.split("+")) - tesseract_languages())
        if missing:
            packages = " ".join(f"tesseract-ocr-{language}" for language in missing)
            return f"tesseract has no data for {'+'.join(missing)}: apt-get install {packages}"
        return ""
    if name == "rapidocr":
        return "" if rapidocr_available() else "rapidocr is not installed: pip install rapidocr-onnxruntime"
    return f"unknown OCR engine {name!r}; use auto, tesseract or rapidocr"


# ONNX Runtime's intra-op threads spin while they wait for work: on a busy machine that burns CPU for nothing
# (bench/rapidocr_spinning.py: the same lines, less CPU and less wall time without; docs/benchmarks.md).
NO_SPINNING = ("session.intra_op.allow_spinning", "0")
_RAPIDOCR_BUILD_LOCK = threading.Lock()


def build_rapidocr():
    """RapidOCR with its three ONNX sessions set not to spin. rapidocr-onnxruntime (pinned) builds its
    session options in `OrtInferSession._init_sess_opts` and takes no options of its own, so that method
    is wrapped while the sessions are made."""
    from rapidocr_onnxruntime import RapidOCR
    from rapidocr_onnxruntime.utils.infer_engine import OrtInferSession

    with _RAPIDOCR_BUILD_LOCK:
        plain = OrtInferSession._init_sess_opts

        def options(config):
            session_options = plain(config)
            session_options.add_session_config_entry(*NO_SPINNING)
            return session_options

        OrtInferSession._init_sess_opts = staticmethod(options)
        try:
            return RapidOCR()
        finally:
            OrtInferSession._init_sess_opts = staticmethod(plain)


class RapidOCREngine:
    name = "rapidocr"

    def __init__(self) -> None:
        self._engine = None
        self._lock = threading.Lock()

    def read(self, image: Image.Image) -> list[OCRLine]:
        import numpy as np

        with self._lock:
            if self._engine is None:
                self._engine = build_rapidocr()
            result, _ = self._engine(np.asarray(to_rgb(image)))
        lines = []
        for points, text, score in result or []:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            lines.append(OCRLine(str(text).strip(), (min(xs), min(ys), max(xs), max(ys)), float(score)))
        return [line for line in lines if line.text]


# Latin capitals Tesseract gives for Cyrillic ones that look the same ("H ECTOPOB HA", "OOO").
LATIN_TO_CYRILLIC = str.maketrans("ABCEHKMOPTXY", "АВСЕНКМОРТХУ")
LOOKALIKE_CAPITALS = set("ABCEHKMOPTXY")


def has_cyrillic(text: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in text)


def fold_latin_lookalikes(words: list[str]) -> list[str]:
    """In a line that has Cyrillic letters, an all-capitals word made only of Latin look-alikes of Cyrillic
    letters is Cyrillic read as Latin: 'H ECTOPOB HA' -> 'Н ЕСТОРОВ НА'. Other words are left alone."""
    if not any(has_cyrillic(word) for word in words):
        return words
    folded = []
    for word in words:
        letters = [ch for ch in word if ch.isalpha()]
        if letters and all(ch in LOOKALIKE_CAPITALS for ch in letters):
            word = word.translate(LATIN_TO_CYRILLIC)
        folded.append(word)
    return folded


def tesseract_input(image: Image.Image) -> Image.Image:
    """Grey levels stretched to the full range. On tinted backgrounds (passports) this reads the small
    printed labels that Tesseract's own colour conversion loses; on black-on-white pages it changes nothing."""
    from PIL import ImageOps

    return ImageOps.autocontrast(image.convert("L"), cutoff=1)


def confident_chars(lines: list[OCRLine], threshold: float = 0.8) -> int:
    """How much text was read with confidence: characters of words scored at least `threshold`."""
    return sum(len(w.text) for line in lines for w in line.words if w.confidence >= threshold)


def mean_confidence(lines: list[OCRLine]) -> float:
    words = [w for line in lines for w in line.words]
    chars = sum(len(w.text) for w in words)
    return sum(w.confidence * len(w.text) for w in words) / chars if chars else 0.0


class TesseractEngine:
    """Tesseract with `--psm 4` (one column of text of variable sizes), the best mode for forms here.

    A page read with low confidence (mean under `retry_below`: ID cards with small labels over large
    values, noisy scans) is read again with `--psm 11` (sparse text), and the reading with more confidently
    read characters is kept. On the demo_mini passports psm 4 alone lost every label of one page."""

    name = "tesseract"

    def __init__(
        self,
        languages: str = "rus+eng",
        psm: int = 4,
        fallback_psm: int | None = 11,
        retry_below: float = 0.85,
    ) -> None:
        self.languages = languages
        self.psm = psm
        self.fallback_psm = fallback_psm
        self.retry_below = retry_below

    def read(self, image: Image.Image) -> list[OCRLine]:
        # One OpenMP thread per page is ~3x faster on a small CPU; parallelise across pages instead.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        page = tesseract_input(image)
        lines = self._read(page, self.psm)
        if self.fallback_psm is not None and mean_confidence(lines) < self.retry_below:
            retry = self._read(page, self.fallback_psm)
            if confident_chars(retry) > confident_chars(lines):
                return retry
        return lines

    def _read(self, page: Image.Image, psm: int) -> list[OCRLine]:
        import pytesseract

        data = pytesseract.image_to_data(
            page, lang=self.languages, config=f"--psm {psm}", output_type=pytesseract.Output.DICT
        )
        grouped: dict[tuple[int, int, int], list[int]] = {}
        for index, word in enumerate(data["text"]):
            if word.strip() and float(data["conf"][index]) >= 0:
                key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
                grouped.setdefault(key, []).append(index)
        fold = "rus" in self.languages.split("+")
        lines = []
        for indices in grouped.values():
            indices = sorted(indices, key=lambda i: data["left"][i])
            texts = [data["text"][i].strip() for i in indices]
            if fold:
                texts = fold_latin_lookalikes(texts)
            words = tuple(
                OCRWord(
                    text,
                    (
                        data["left"][i],
                        data["top"][i],
                        data["left"][i] + data["width"][i],
                        data["top"][i] + data["height"][i],
                    ),
                    float(data["conf"][i]) / 100,
                )
                for text, i in zip(texts, indices, strict=True)
            )
            box = (
                min(w.box[0] for w in words),
                min(w.box[1] for w in words),
                max(w.box[2] for w in words),
                max(w.box[3] for w in words),
            )
            confidence = sum(w.confidence for w in words) / len(words)
            lines.append(OCRLine(" ".join(w.text for w in words), box, confidence, words))
        return sorted(lines, key=lambda line: (line.box[1], line.box[0]))


def resolve_engine(name: str, languages: str = "rus+eng") -> str:
    """The engine `name` means here: `auto` is Tesseract when it is installed with `languages` (it reads
    Russian), else RapidOCR."""
    if name == "auto":
        return "tesseract" if not engine_problem("tesseract", languages) else "rapidocr"
    return name


@functools.cache
def engine_version(name: str) -> str:
    """'5.3.0' for Tesseract (from `tesseract --version`), the wheel's version for RapidOCR."""
    if name == "tesseract":
        if not tesseract_available():
            return "not installed"
        done = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=30)
        first = (done.stdout or done.stderr).strip().splitlines()
        return first[0].split()[-1] if first else "unknown"
    from importlib import metadata

    try:
        return metadata.version("rapidocr-onnxruntime")
    except metadata.PackageNotFoundError:
        return "not installed"


# What each engine reads, for reports; RapidOCR's wheel ships Chinese/English PP-OCRv4 models only.
RAPIDOCR_SCRIPTS = "latin+digits+chinese"
NO_CYRILLIC = (
    "RapidOCR reads no Cyrillic: Russian text is lost. Install Tesseract for Russian: "
    "apt-get install tesseract-ocr tesseract-ocr-rus"
)


def engine_languages(name: str, languages: str) -> str:
    return languages if name == "tesseract" else RAPIDOCR_SCRIPTS


def engine_limitations(name: str, languages: str) -> tuple[str, ...]:
    """Human notes on what the engine cannot read (shown beside results)."""
    if name == "rapidocr":
        return (NO_CYRILLIC,)
    if "rus" not in languages.split("+"):
        return ("Tesseract runs without Russian language data (languages: " + languages + ")",)
    return ()


def make_engine(name: str, languages: str = "rus+eng") -> OCREngine:
    """The engine `resolve_engine` names; RuntimeError saying how to install it when it cannot run."""
    name = resolve_engine(name, languages)
    problem = engine_problem(name, languages)
    if problem:
        raise RuntimeError(problem)
    return TesseractEngine(languages) if name == "tesseract" else RapidOCREngine()


def scale_lines(lines: list[OCRLine], factor: float) -> list[OCRLine]:
    """Boxes multiplied by `factor`: readings of a downscaled page put back in the page's own pixels."""
    if factor == 1.0:
        return lines

    def scaled(box: Box) -> Box:
        return (box[0] * factor, box[1] * factor, box[2] * factor, box[3] * factor)

    return [
        OCRLine(
            line.text,
            scaled(line.box),
            line.confidence,
            tuple(OCRWord(w.text, scaled(w.box), w.confidence) for w in line.words),
        )
        for line in lines
    ]


def reading_rows(lines: list[OCRLine]) -> list[list[OCRLine]]:
    """Lines grouped into rows, top to bottom, each row left to right. Lines whose vertical centres are
    within half a text height share a row (a label and its value boxed apart stay together)."""
    rows: list[list[OCRLine]] = []
    for line in sorted(lines, key=lambda line: line.center_y):
        if rows and abs(line.center_y - rows[-1][0].center_y) <= 0.5 * max(line.height, rows[-1][0].height):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda line: line.box[0]) for row in rows]


def reading_order(lines: list[OCRLine]) -> list[OCRLine]:
    """The lines in reading order (see `reading_rows`)."""
    return [line for row in reading_rows(lines) for line in row]
