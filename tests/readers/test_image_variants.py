"""What the model sees (issue 15): variants of the sample passport image read, and score, as the original.

The variants are made with Pillow from demo_mini's passport (`images/1.jpg`): 16-bit PNG and TIFF, a page
stored sideways with EXIF Orientation=6, RGBA and LA with black under transparent alpha, CMYK TIFF, palette
PNG, a two-page TIFF, a truncated JPEG, an NFD file name and a Windows-style path in the annotation. They are
lossless, so each must score exactly as the original; the lossy JPEG variants (a sideways phone photo, a CMYK
JPEG) are pinned in model-interface's tests/test_images.py.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import polars as pl
import pytest
from PIL import Image, ImageChops, PngImagePlugin

from tests.pipeline.conftest import DEMO_MINI
from vlm_pipelines.readers import read_dataset
from vlm_pipelines.tasks.config import DatasetSpec

HEADER = (DEMO_MINI / "annotation.csv").read_text(encoding="utf-8-sig").splitlines()[0]
PASSPORT_ROWS = [
    line
    for line in (DEMO_MINI / "annotation.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    if line.startswith("1;")
]
NFC_NAME = "паспорт_йод.png"  # "й" is one code point in NFC, two ("и" + breve) in NFD
NFD_NAME = unicodedata.normalize("NFD", NFC_NAME)


def passport() -> Image.Image:
    with Image.open(DEMO_MINI / "images" / "1.jpg") as opened:
        return opened.convert("RGB")


def png_with_note(image: Image.Image, path: Path, note: str) -> None:
    """A lossless copy whose bytes differ (a text chunk), so it is not a duplicate of the other copies."""
    info = PngImagePlugin.PngInfo()
    info.add_text("note", note)
    image.save(path, pnginfo=info)


def make_variants(images: Path) -> dict[str, str]:
    """Writes the variants into `images`; variant name -> the path the annotation gives."""
    images.mkdir(parents=True, exist_ok=True)
    page = passport()
    grey = page.convert("L")  # Tesseract reads the page in grey: a grey variant reads as the original
    page.save(images / "original.png")
    grey.convert("I").point(lambda v: v * 257).convert("I;16").save(images / "grey16.png")
    grey.convert("I").point(lambda v: v * 257).convert("I;16").save(images / "grey16.tif")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees counter-clockwise; the tag says "rotate 90 clockwise"
    # Lossless, so it can score exactly as the original (a JPEG photo: model-interface's test_images.py).
    page.transpose(Image.Transpose.ROTATE_90).save(images / "sideways_exif6.png", exif=exif)
    ink = ImageChops.invert(grey)  # black under the alpha: only the alpha draws the page
    rgba = Image.new("RGBA", page.size, (0, 0, 0, 0))
    rgba.putalpha(ink)
    rgba.save(images / "transparent_rgba.png")
    Image.merge("LA", (Image.new("L", page.size, 0), ink)).save(images / "transparent_la.png")
    page.convert("CMYK").save(images / "cmyk.tif")  # (a CMYK JPEG: model-interface's test_images.py)
    palette = grey.copy()
    palette.putpalette([level for level in range(256) for _ in range(3)])  # "L" becomes "P"
    palette.save(images / "palette.png")
    # The passport is the second page: reading the first page only would lose it.
    Image.new("RGB", page.size, "white").save(
        images / "two_pages.tif", save_all=True, append_images=[passport()]
    )
    png_with_note(page, images / NFD_NAME, "nfd")
    png_with_note(page, images / "windows.png", "windows")
    data = (DEMO_MINI / "images" / "1.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) // 2])
    paths = {
        f"{path.stem}{'_tiff' if path.suffix == '.tif' else ''}": f"images/{path.name}"
        for path in images.iterdir()
    }
    paths["nfd_name"] = f"images/{NFC_NAME}"  # the annotation writes NFC, the file system holds NFD
    paths["windows_path"] = "images\\windows.png"
    del paths[Path(NFD_NAME).stem], paths["windows"]
    return paths


def write_dataset(folder: Path, variants: dict[str, str]) -> Path:
    """A VLMHyperBench CSV asking the passport questions of every variant."""
    rows = [row.replace(";images/1.jpg;", f";{path};") for path in variants.values() for row in PASSPORT_ROWS]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotation.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return folder


def _one(folder: Path, image_path: str) -> Path:
    """A VLMHyperBench CSV with one passport question about `image_path`."""
    folder.mkdir(parents=True, exist_ok=True)
    row = PASSPORT_ROWS[1].replace(";images/1.jpg;", f";{image_path};")
    (folder / "annotation.csv").write_text(f"{HEADER}\n{row}\n", encoding="utf-8")
    return folder


# --- the dataset read ----------------------------------------------------------------------------------


def test_a_truncated_jpeg_is_quarantined_when_the_dataset_is_read(tmp_path) -> None:
    data = (DEMO_MINI / "images" / "1.jpg").read_bytes()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "cut.jpg").write_bytes(data[: len(data) // 2])
    result = read_dataset(_one(tmp_path, "images/cut.jpg"))
    assert result.samples.height == 0
    assert result.quarantine["reason"].to_list() == [
        "corrupt image: images/cut.jpg: OSError: image file is truncated (11 bytes not processed)"
    ]


def test_a_multi_page_tiff_becomes_the_pages_of_its_sample(tmp_path) -> None:
    page = passport().resize((300, 211))
    blank = Image.new("RGB", page.size, "white")
    (tmp_path / "images").mkdir()
    blank.save(tmp_path / "images" / "scan.tif", save_all=True, append_images=[page])
    folder = _one(tmp_path, "images/scan.tif")
    cache = tmp_path / "cache"
    (paths,) = read_dataset(folder, image_cache_dir=cache).samples["image_paths"].to_list()
    assert [Path(path).parent for path in paths] == [cache, cache]
    assert [Path(path).name.rsplit("-", 1)[1] for path in paths] == ["page1.png", "page2.png"]
    for path, expected in zip(paths, [blank, page], strict=True):
        with Image.open(path) as stored:
            assert ImageChops.difference(stored.convert("RGB"), expected).getbbox() is None
    (first,) = read_dataset(folder, image_cache_dir=cache, pages="first").samples["image_paths"].to_list()
    assert first == paths[:1]


def test_a_task_declares_first_page_only_and_nothing_else() -> None:
    assert DatasetSpec(path="x").pages == "all"
    assert DatasetSpec(path="x", pages="first").pages == "first"
    with pytest.raises(ValueError, match="pages"):
        DatasetSpec(path="x", pages="last")


@pytest.mark.parametrize(("on_disk", "in_annotation"), [(NFD_NAME, NFC_NAME), (NFC_NAME, NFD_NAME)])
def test_file_names_match_in_nfc_and_nfd(tmp_path, on_disk, in_annotation) -> None:
    (tmp_path / "images").mkdir()
    passport().resize((40, 30)).save(tmp_path / "images" / on_disk)
    result = read_dataset(_one(tmp_path, f"images/{in_annotation}"))
    assert result.quarantine.height == 0
    assert [Path(p).name for p in result.samples["image_paths"][0]] == [on_disk]


def test_backslashes_in_a_dataset_path_are_separators(tmp_path) -> None:
    (tmp_path / "images").mkdir()
    passport().resize((40, 30)).save(tmp_path / "images" / "x.png")
    result = read_dataset(_one(tmp_path, "images\\x.png"))
    assert result.quarantine.height == 0
    assert result.samples["image_paths"][0].to_list() == [str(tmp_path / "images" / "x.png")]
    escaping = read_dataset(_one(tmp_path / "inner", "..\\images\\x.png"))
    assert escaping.quarantine["reason"][0].startswith("image path escapes dataset folder")


# --- the acceptance test: every readable variant scores as the original ---------------------------------


@pytest.mark.requires("tesseract")
def test_every_readable_variant_scores_as_the_original(project_env, capsys, tmp_path) -> None:
    # Issue 15: the passport scored 0.857 as itself and 0.000 as a 16-bit PNG, sideways (EXIF), transparent.
    from tests.pipeline.conftest import run_vlmbench

    variants = make_variants(tmp_path / "variants" / "images")
    folder = write_dataset(tmp_path / "variants", variants)
    code, out, err = run_vlmbench(
        ["run", "--model", "ocr-rules", "--dataset", str(folder), "--quiet"], capsys
    )
    assert code == 0 and "Traceback" not in out + err, out + err
    data = Path(project_env["VLMBENCH_DATA_DIR"])
    (metrics,) = (data / "results").glob("*/ocr-rules/*/sample_metrics.parquet")
    (dataset,) = (data / "datasets").iterdir()
    scores = pl.read_parquet(metrics).join(pl.read_parquet(dataset / "samples.parquet"), on="sample_id")
    lines = (folder / "annotation.csv").read_text(encoding="utf-8").splitlines()
    by_variant = {}
    for name, path in variants.items():
        rows = [f"annotation.csv:{n}" for n, line in enumerate(lines, start=1) if f";{path};" in line]
        variant = scores.filter(pl.col("source_row").is_in(rows))
        by_variant[name] = (variant.height, round(variant["anls"].mean() or 0.0, 6))
    assert by_variant.pop("truncated") == (0, 0.0)
    original = by_variant["original"]
    assert original[0] == len(PASSPORT_ROWS) and original[1] > 0.5
    assert len(by_variant) == 11
    assert by_variant == dict.fromkeys(by_variant, original)
    quarantine = pl.read_parquet(dataset / "quarantine.parquet")["reason"].unique().to_list()
    assert quarantine == [
        "corrupt image: images/truncated.jpg: OSError: image file is truncated (11 bytes not processed)"
    ]
