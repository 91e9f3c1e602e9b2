"""Which text encoding a dataset file is in, and how sure we are.

Order of evidence:

1. A byte-order mark (UTF-8, UTF-16, UTF-32) decides.
2. Bytes that decode as UTF-8 are UTF-8: other encodings almost never produce valid UTF-8 by chance.
3. The Cyrillic code pages (cp1251, koi8-r, cp866, mac-cyrillic, iso8859-5), weighed by how Russian the
   decoded text looks: the share of non-ASCII characters that are Russian letters (frequent letters count
   more), lower case inside words, no letter glued to a Latin one, no box-drawing or control characters.
   charset-normalizer alone misreads short or mostly-ASCII cp1251 files (`муж.` came out as cp1258 `́óæ.`,
   `Иван` as big5hkscs), so these are weighed before any other encoding.
4. charset-normalizer for everything else.

Each detection has a confidence in [0, 1]; below `LOW_CONFIDENCE` the reader adds a warning that names the
guess and the override (`dataset.encoding` in the task, `vlmbench run --encoding`).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

LOW_CONFIDENCE = 0.5
CYRILLIC_CODE_PAGES: tuple[str, ...] = ("cp1251", "koi8-r", "cp866", "mac-cyrillic", "iso8859-5")
_MIN_RUSSIAN_SCORE = 0.35  # below this mean character score the text is not taken for Russian
_MAX_WORDS = 20_000  # words with non-ASCII bytes weighed (enough for any file, fast on large ones)

# Letter frequencies of Russian text, in per cent (the National Corpus of the Russian Language).
_FREQUENCY_TABLE = """
о 10.97  е 8.45  а 8.01  и 7.35  н 6.70  т 6.26  с 5.47  р 4.73  в 4.54  л 4.40  к 3.49  м 3.21
д 2.98  п 2.81  у 2.62  я 2.01  ы 1.90  ь 1.74  г 1.70  з 1.65  б 1.59  ч 1.44  й 1.21  х 0.97
ж 0.94  ш 0.73  ю 0.64  ц 0.48  щ 0.36  э 0.32  ф 0.26  ъ 0.04  ё 0.04
"""
_PAIRS = _FREQUENCY_TABLE.split()
_FREQUENCY = {letter: float(share) for letter, share in zip(_PAIRS[::2], _PAIRS[1::2], strict=True)}
_VOWELS = set("аеёиоуыэюя")
_NO_WORD_START = set("ьъы")
# Non-ASCII punctuation that Russian text uses: plausible, but not evidence of a code page.
_TYPOGRAPHY = set("«»—–…№“”„‘’°·\u00a0")
_LOWER_WORDS = re.compile(r"(?<![^\W\d_])[а-яё]{3,}(?![^\W\d_])")
_WORDS = re.compile(rb"[A-Za-z\x80-\xff]*[\x80-\xff][A-Za-z\x80-\xff]*")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class Detection:
    """The encoding chosen, the decoded text, how sure (0..1), and how it was decided."""

    text: str
    encoding: str
    confidence: float
    method: str  # "given", "bom", "utf-8", "cyrillic", "charset-normalizer"


def codec_name(encoding: str) -> str:
    """The canonical codec name of `encoding` (e.g. "CP-1251" -> "cp1251"); ValueError if unknown."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(
            f"unknown text encoding {encoding!r}; use a Python codec name such as utf-8, cp1251, koi8-r, cp866"
        ) from None


def decode_as(data: bytes, encoding: str, source: str = "the file") -> Detection:
    """`data` decoded as the given encoding (a UTF-8 BOM is dropped for utf-8); ValueError saying where it
    does not fit."""
    name = codec_name(encoding)
    if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        name = "utf-8-sig"
    try:
        return Detection(data.decode(name), name, 1.0, "given")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{source} is not valid {encoding}: byte {data[error.start : error.start + 1].hex()} at offset "
            f"{error.start} ({error.reason}); leave the encoding out to detect it"
        ) from None


def _char_score(previous: str, char: str, following: str) -> float:
    """How Russian one non-ASCII character looks between its neighbours (ASCII or not)."""
    lower = char.lower()
    if lower in _FREQUENCY:
        score = 0.5 + 5 * _FREQUENCY[lower] / 100
        if (previous.isascii() and previous.isalpha()) or (following.isascii() and following.isalpha()):
            return -0.5  # a Cyrillic letter glued to a Latin one: "cafй"
        if lower in _NO_WORD_START and (not previous.isalpha() or (lower != "ы" and previous in _VOWELS)):
            return -0.5  # "ь", "ъ", "ы" never start a word; "ь", "ъ" never follow a vowel
        if char.isupper():
            if previous.isalpha() and previous.islower():
                return -1.0  # "хБЮМ": a capital after a small letter inside a word
            score *= 0.7  # text is mostly lower case; capitals start words or abbreviations
        return score
    if "\u0400" <= char <= "\u04ff":
        return 0.1  # Cyrillic, not Russian (і, ї, є, ў, ђ ...)
    if char in _TYPOGRAPHY:
        return 0.2
    return -1.0  # box drawing, control characters, Latin-1 letters, symbols


def russian_score(text: str) -> tuple[float, int]:
    """(mean character score, number of non-ASCII characters) of `text`: near 0.8 for Russian, below 0
    for the wrong code page."""
    total, count, letters, vowels = 0.0, 0, 0, 0
    for index, char in enumerate(text):
        if char.isascii():
            continue
        previous = text[index - 1] if index else " "
        following = text[index + 1] if index + 1 < len(text) else " "
        total += _char_score(previous, char, following)
        count += 1
        if char.lower() in _FREQUENCY:
            letters += 1
            vowels += char.lower() in _VOWELS
    if not count:
        return 0.0, 0
    for word in _LOWER_WORDS.findall(text):
        if not _VOWELS.intersection(word):
            total -= 0.5 * len(word)  # "ннн", "хмм": a lower-case Russian word has a vowel
    score = total / count
    if letters >= 12 and not 0.25 <= vowels / letters <= 0.6:
        score *= 0.3  # Russian is about 42% vowels; Greek or Latin-1 read as Cyrillic is not
    return score, count


def _cyrillic(data: bytes) -> Detection | None:
    words = b" ".join(
        match.group() for _, match in zip(range(_MAX_WORDS), _WORDS.finditer(data), strict=False)
    )
    scored: list[tuple[float, int, str, str]] = []  # (score, count, codec, decoded words)
    for encoding in CYRILLIC_CODE_PAGES:
        try:
            decoded = words.decode(encoding)
        except UnicodeDecodeError:
            continue
        score, count = russian_score(decoded)
        scored.append((score, count, encoding, decoded))
    if not scored:
        return None
    best = max(scored, key=lambda item: item[0])  # ties keep the order above: cp1251 first
    score, count, encoding, decoded = best
    if score < _MIN_RUSSIAN_SCORE:
        return None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    rivals = [item[0] for item in scored if item[3] != decoded]
    runner_up = max(rivals, default=0.0)
    margin = min(1.0, max(0.0, (score - runner_up) / score))
    plausibility = min(1.0, score / 0.7)
    size = count / (count + 2)
    confidence = plausibility * size * min(1.0, 0.4 + 2 * margin)
    return Detection(text, encoding, round(confidence, 3), "cyrillic")


def _charset_normalizer(data: bytes) -> Detection | None:
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return None
    text = str(best)
    # Other candidates charset-normalizer found plausible that would read the file differently.
    disagree = any(
        match.encoding != best.encoding and match.chaos <= best.chaos + 0.1 and str(match) != text
        for match in list(matches)[:8]
    )
    confidence = (1.0 - best.chaos) * (0.5 if disagree else 1.0)
    return Detection(text, codec_name(best.encoding), round(confidence, 3), "charset-normalizer")


def detect(data: bytes, source: str = "the file") -> Detection:
    """`data` decoded by the evidence order in the module docstring; ValueError when nothing fits."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Detection(data.decode(encoding), encoding, 1.0, "bom")
            except UnicodeDecodeError:
                break
    try:
        return Detection(data.decode("utf-8"), "utf-8", 1.0, "utf-8")
    except UnicodeDecodeError:
        pass
    found = _cyrillic(data) or _charset_normalizer(data)
    if found is None:
        raise ValueError(
            f"{source}: cannot tell the text encoding (not UTF-8, not a Cyrillic code page, and "
            "charset-normalizer found no match); save the file as UTF-8 or give the encoding "
            "(dataset.encoding in the task, or vlmbench run --encoding)"
        )
    return found


def low_confidence_warning(detection: Detection, source: str) -> str | None:
    """The warning a reader records when the detection is unsure, else None."""
    if detection.confidence >= LOW_CONFIDENCE:
        return None
    return (
        f"{source}: text encoding guessed as {detection.encoding} with low confidence "
        f"({detection.confidence:.2f}, by {detection.method}); if its text looks wrong, give the encoding: "
        "`dataset.encoding` in the task or `vlmbench run --encoding NAME`"
    )
