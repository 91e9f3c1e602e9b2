"""Real documents for the chat tests, written with real libraries: a two-page PDF with a text layer
(fpdf2), a scanned PDF page (an image only, Pillow), a DOCX with headings (python-docx), Markdown, HTML
with a script in it, plain text and a PNG of text (both read by OCR)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

PDF_FACT = "The warranty period of the ZX-900 pump is 36 months."
DOCX_FACT = "Support tickets are answered within 4 business hours."
MD_FACT = "The maintenance code for the cooling unit is MC-7731."
HTML_FACT = "The Riverside office opens at 08:30 on weekdays."
TXT_FACT = "Invoice INV-48213 was paid on 12 March 2026."
SCAN_FACT = "Serial number QX-5521 belongs to the north pump."


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def text_image(lines: list[str], size: tuple[int, int] = (1400, 400)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((40, 40 + number * 60), line, fill="black", font=font(36))
    return image


def write_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "ZX-900 pump manual\n\nThis manual describes the installation of the ZX-900 pump.")
    pdf.add_page()
    pdf.multi_cell(0, 8, f"Warranty\n\n{PDF_FACT} Claims go to the service desk.")
    pdf.output(str(path))
    return path


def write_scanned_pdf(path: Path) -> Path:
    text_image(["Equipment register", SCAN_FACT], (1700, 500)).save(path, "PDF", resolution=150)
    return path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Service handbook", level=1)
    document.add_paragraph("This handbook describes our service levels.")
    document.add_heading("Response times", level=2)
    document.add_paragraph(DOCX_FACT)
    document.save(str(path))
    return path


def write_markdown(path: Path) -> Path:
    path.write_text(
        f"# Cooling unit\n\n## Maintenance\n\n{MD_FACT} Replace the filter yearly.\n", encoding="utf-8"
    )
    return path


def write_html(path: Path) -> Path:
    path.write_text(
        "<!doctype html><html><body><h1>Offices</h1><h2>Riverside</h2>"
        f"<p>{HTML_FACT}</p><script>window.__xss = 1</script></body></html>",
        encoding="utf-8",
    )
    return path


def write_text(path: Path) -> Path:
    path.write_text(f"Payments\n\n{TXT_FACT}\n", encoding="utf-8")
    return path


def write_corpus(folder: Path) -> Path:
    """Every format in one folder (the names are what the knowledge base calls the documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_pdf(folder / "pump-manual.pdf")
    write_docx(folder / "handbook.docx")
    write_markdown(folder / "cooling.md")
    write_html(folder / "offices.html")
    write_text(folder / "payments.txt")
    return folder
