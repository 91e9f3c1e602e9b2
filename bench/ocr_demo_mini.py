"""`ocr-rules` on the real VLMHyperBench demo_mini sample: 22 field questions over 2 Russian passports and
2 invoices (счёт-фактура). Prints each prediction against its reference, field-level exact match and mean CER.

    uv run --frozen python bench/ocr_demo_mini.py
    uv run --frozen python bench/ocr_demo_mini.py --engine rapidocr --model ocr-smollm2

Scoring: both strings are casefolded and their whitespace collapsed; exact match compares them, CER is
`jiwer.cer(reference, prediction)` on them (not capped at 1), and an empty prediction counts CER 1.0.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import time
from pathlib import Path

import jiwer
from model_interface import GenerationRequest, create_model

DEFAULT_CSV = (
    Path(__file__).resolve().parents[1] / "data" / "vlmhyperbench_sample" / "demo_mini" / "annotation.csv"
)


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip()


def character_error_rate(reference: str, prediction: str) -> float:
    reference, prediction = normalize(reference), normalize(prediction)
    if not prediction:
        return 1.0
    return float(jiwer.cer(reference, prediction))


def read_annotation(path: Path) -> list[dict[str, str]]:
    """The v0.1 CSV: `;`-separated UTF-8 with a BOM, one row per (image, field)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--model", default="ocr-rules")
    parser.add_argument("--engine", default="auto", choices=["auto", "tesseract", "rapidocr"])
    parser.add_argument("--max-image-side", type=int, default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    rows = read_annotation(args.csv)
    params = {"engine": args.engine}
    if args.max_image_side:
        params["max_image_side"] = args.max_image_side
    model = create_model(args.model, params)
    requests = [
        GenerationRequest(
            prompt=row["question"],
            images=[args.csv.parent / row["image_path"]],
            request_id=str(index),
            hints={"field_name": row["question_type"]},
        )
        for index, row in enumerate(rows)
    ]
    results = model.generate(requests)
    total_s = time.perf_counter() - started

    engine = getattr(model, "engine_name", args.engine)
    print(f"{args.model} (engine {engine}) on {args.csv} — {len(rows)} questions\n")
    print(f"{'doc':<4} {'class':<8} {'field':<24} {'EM':<2} {'CER':>5}  reference  |  prediction")
    by_class: dict[str, list[tuple[bool, float]]] = {}
    for row, result in zip(rows, results, strict=True):
        exact = normalize(result.text) == normalize(row["answer"])
        cer = character_error_rate(row["answer"], result.text)
        by_class.setdefault(row["doc_class"], []).append((exact, cer))
        shown = result.text if result.ok else f"<error: {result.error.splitlines()[-1]}>"
        print(
            f"{row['data_index']:<4} {row['doc_class']:<8} {row['question_type'][:24]:<24} "
            f"{'✓' if exact else '✗':<2} {cer:5.2f}  {row['answer']}  |  {shown}"
        )

    scores = [score for class_scores in by_class.values() for score in class_scores]
    print()
    for doc_class, class_scores in [*by_class.items(), ("all", scores)]:
        exact_share = sum(exact for exact, _ in class_scores) / len(class_scores)
        mean_cer = statistics.fmean(cer for _, cer in class_scores)
        print(
            f"{doc_class:<8} n={len(class_scores):<3} exact match {exact_share:6.1%}   mean CER {mean_cer:.3f}"
        )
    latencies = [result.latency_s for result in results if result.ok]
    print(
        f"\ntotal {total_s:.1f} s (model creation, OCR of {len({r['image_path'] for r in rows})} images, "
        f"answers); latency per question: median {statistics.median(latencies):.2f} s, "
        f"max {max(latencies):.2f} s"
    )


if __name__ == "__main__":
    main()
