"""Documents of a knowledge base as text sections, each with its page and heading path.

Formats: PDF (pypdf; a page with no text layer is rendered with pypdfium2 and read by model-ocr's OCR),
DOCX (python-docx), Markdown (markdown-it), HTML (lxml), plain text, and images (OCR). The type is told by
the file's content, not its name (`detect_type`): an upload whose content does not match its extension is
refused, so an executable renamed `.pdf` never gets parsed.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TEXT_TYPES = {"markdown", "text", "html"}
IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"BM": "bmp",
}
# The types each extension may hold; a file whose content is another type is refused.
EXTENSION_TYPES = {
    ".pdf": {"pdf"},
    ".docx": {"docx"},
    ".md": {"markdown", "text"},
    ".markdown": {"markdown", "text"},
    ".txt": {"text", "markdown"},
    ".html": {"html"},
    ".htm": {"html"},
    ".png": {"png"},
    ".jpg": {"jpeg"},
    ".jpeg": {"jpeg"},
    ".gif": {"gif"},
    ".tif": {"tiff"},
    ".tiff": {"tiff"},
    ".bmp": {"bmp"},
    ".webp": {"webp"},
}
IMAGE_TYPES = {"png", "jpeg", "gif", "tiff", "bmp", "webp"}
MIN_PAGE_TEXT = 20  # characters: a PDF page with less has no usable text layer (a scan)
OCR_DPI = 200


class DocumentError(ValueError):
    """A file that cannot be read as a document; the message is the reason it was skipped."""


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path on one page (page None when the format has no pages)."""

    text: str
    page: int | None
    headings: tuple[str, ...] = ()
    ocr: bool = False  # read by OCR (a scanned PDF page or an image)


def detect_type(data: bytes, name: str = "") -> str | None:
    """The document type the bytes hold ('pdf', 'docx', 'markdown', 'text', 'html', or an image type), or
    None when they are none of these (an executable, an archive, binary data)."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    for magic, kind in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"PK\x03\x04"):
        try:
            import io

            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return "docx" if "word/document.xml" in archive.namelist() else None
        except zipfile.BadZipFile:
            return None
    if b"\x00" in data[:4096]:
        return None
    try:
        text = data[:65536].decode("utf-8")
    except UnicodeDecodeError:
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data[:65536]).best()
        except Exception:  # noqa: BLE001 - not text then
            return None
        if best is None:
            return None
        text = str(best)
    head = text.lstrip()[:1000].lower()
    if head.startswith(("<!doctype html", "<html")) or "<body" in head:
        return "html"
    if Path(name).suffix.lower() in {".md", ".markdown"} or re.search(r"^#{1,6} \S", text, re.M):
        return "markdown"
    return "text"


def check_extension(name: str, kind: str | None) -> str:
    """The reason a file named `name` holding `kind` is refused ('' when it is accepted)."""
    suffix = Path(name).suffix.lower()
    allowed = EXTENSION_TYPES.get(suffix)
    if allowed is None:
        return f"unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(EXTENSION_TYPES))}"
    if kind is None or kind not in allowed:
        return (
            f"the content of {Path(name).name} is not {suffix[1:].upper()} (found: {kind or 'binary data'})"
        )
    return ""


def read_text_file(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise DocumentError("not readable as text in any encoding") from None
        return str(best)


def _paragraph_sections(
    text: str, page: int | None, headings: tuple[str, ...] = (), ocr: bool = False
) -> list[Section]:
    return [Section(part.strip(), page, headings, ocr) for part in re.split(r"\n\s*\n", text) if part.strip()]


def markdown_sections(text: str) -> list[Section]:
    """Paragraphs, list items, tables and code under their heading path (markdown-it's block tokens)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            level = int(token.tag[1])
            title = tokens[index + 1].content.strip()
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            index += 3
            continue
        if (
            token.type == "tr_open"
        ):  # a table row is one section: its cells joined, so a row keeps its meaning
            cells = []
            while tokens[index].type != "tr_close":
                if tokens[index].type == "inline" and tokens[index].content.strip():
                    cells.append(tokens[index].content.strip())
                index += 1
            if cells:
                sections.append(Section(" | ".join(cells), None, tuple(t for _, t in path)))
            continue
        if token.type == "inline" and token.content.strip():
            sections.append(Section(token.content.strip(), None, tuple(t for _, t in path)))
        elif token.type in ("fence", "code_block") and token.content.strip():
            sections.append(Section(token.content.strip(), None, tuple(t for _, t in path)))
        index += 1
    return sections


def html_sections(text: str) -> list[Section]:
    """Headings h1-h6 give the path; paragraphs, list items, cells and preformatted text are the sections."""
    import lxml.html

    root = lxml.html.fromstring(text)
    for junk in root.xpath("//script|//style|//noscript"):
        junk.drop_tree()
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    for element in root.iter("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "pre", "blockquote"):
        if element.tag == "tr":
            cells = [" ".join(cell.text_content().split()) for cell in element.iter("td", "th")]
            content = " | ".join(cell for cell in cells if cell)
        else:
            content = " ".join(element.text_content().split())
        if not content:
            continue
        if element.tag[0] == "h" and element.tag[1:].isdigit():
            level = int(element.tag[1])
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, content)]
        else:
            sections.append(Section(content, None, tuple(t for _, t in path)))
    return sections


def docx_sections(path: Path) -> list[Section]:
    """Paragraphs under the path of their 'Heading N' styles, then the tables' rows."""
    import docx

    document = docx.Document(str(path))
    sections: list[Section] = []
    headings: list[tuple[int, str]] = []
    for paragraph in document.paragraphs:
        content = paragraph.text.strip()
        if not content:
            continue
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
        match = re.match(r"Heading (\d)", style)
        if match or style == "Title":
            level = int(match.group(1)) if match else 0
            headings = [(lvl, t) for lvl, t in headings if lvl < level] + [(level, content)]
        else:
            sections.append(Section(content, None, tuple(t for _, t in headings)))
    for table in document.tables:
        for row in table.rows:
            cells = " | ".join(cell.text.strip() for cell in row.cells if cell.text.strip())
            if cells:
                sections.append(Section(cells, None, tuple(t for _, t in headings)))
    return sections


def latin_lookalikes_in_latin_lines(line: str) -> str:
    """In a line with no other Cyrillic word, an all-capitals word made only of Cyrillic look-alikes of
    Latin letters is Latin read as Cyrillic (rus+eng OCR reads 'RB-204' as 'ВВ-204' in English text)."""
    from model_ocr.engines import LATIN_TO_CYRILLIC, has_cyrillic

    to_latin = {chr(cyrillic): chr(latin) for latin, cyrillic in LATIN_TO_CYRILLIC.items()}
    words = line.split(" ")
    lookalike = [has_cyrillic(w) and all(not ch.isalpha() or ch in to_latin for ch in w) for w in words]
    other_cyrillic = any(has_cyrillic(w) and not fake for w, fake in zip(words, lookalike, strict=True))
    if not any(lookalike) or other_cyrillic or not any(ch.isascii() and ch.isalpha() for ch in line):
        return line
    return " ".join(
        w.translate(str.maketrans(to_latin)) if fake else w for w, fake in zip(words, lookalike, strict=True)
    )


def ocr_text(image) -> str:
    """The text model-ocr's engine reads on a page image (Tesseract rus+eng when installed, else RapidOCR)."""
    from model_interface import to_rgb
    from model_ocr.engines import reading_order

    engine = _ocr_engine()
    lines = reading_order(engine.read(to_rgb(image)))
    return "\n".join(latin_lookalikes_in_latin_lines(line.text) for line in lines)


OCR_LANGUAGES = "rus+eng"


@functools.cache
def _ocr_engine():
    from model_ocr.engines import make_engine

    return make_engine("auto", OCR_LANGUAGES)


@functools.cache
def ocr_engine_name() -> str:
    """What the OCR engine `auto` resolves to here ('tesseract' or 'rapidocr')."""
    from model_ocr.engines import resolve_engine

    return resolve_engine("auto", OCR_LANGUAGES)


@functools.cache
def ocr_engine_label() -> str:
    """The engine with its version, e.g. 'tesseract 5.3.0'."""
    from model_ocr.engines import engine_version

    return f"{ocr_engine_name()} {engine_version(ocr_engine_name())}"


def pdf_sections(path: Path) -> list[Section]:
    """The text of each page; a page without a text layer is rendered and OCR'd."""
    import pypdf

    try:
        reader = pypdf.PdfReader(str(path))
        pages = list(reader.pages)
    except Exception as error:  # noqa: BLE001 - pypdf raises many types on broken files
        raise DocumentError(f"not a readable PDF ({type(error).__name__}: {error})") from None
    sections: list[Section] = []
    for number, page in enumerate(pages, start=1):
        text = page.extract_text() or ""
        if len(text.strip()) >= MIN_PAGE_TEXT:
            sections += _paragraph_sections(text, number)
            continue
        image = render_pdf_page(path, number - 1)
        sections += _paragraph_sections(ocr_text(image), number, ocr=True)
    return sections


def render_pdf_page(path: Path, index: int):
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        return document[index].render(scale=OCR_DPI / 72).to_pil()
    finally:
        document.close()


def read_sections(path: Path) -> tuple[str, list[Section]]:
    """(document type, its sections); DocumentError with the reason when it cannot be read."""
    data = Path(path).read_bytes()
    kind = detect_type(data, path.name)
    problem = check_extension(path.name, kind)
    if problem:
        raise DocumentError(problem)
    if kind == "pdf":
        sections = pdf_sections(path)
    elif kind == "docx":
        sections = docx_sections(path)
    elif kind == "markdown":
        sections = markdown_sections(read_text_file(data))
    elif kind == "html":
        sections = html_sections(read_text_file(data))
    elif kind == "text":
        sections = _paragraph_sections(read_text_file(data), None)
    else:
        from model_interface import load_pages

        sections = [  # each page of a multi-page scan (TIFF) is a page of the document
            section
            for number, page in enumerate(load_pages(path), start=1)
            for section in _paragraph_sections(ocr_text(page), number, ocr=True)
        ]
    if not any(section.text for section in sections):
        raise DocumentError("no text found (an empty document, or a scan OCR could not read)")
    return kind, sections


def iter_files(folder: Path) -> Iterator[Path]:
    """The files under `folder`, sorted, skipping hidden files and folders."""
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            yield path
