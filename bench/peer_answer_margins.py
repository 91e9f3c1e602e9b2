"""Why two tools' answers differ on a sample: the top-2 logit margin of each generated token.

`bench/peer_lmms_eval.py` compares vlmbench's and lmms-eval's answers sample by sample. Where they differ,
this script generates the sample's answer greedily with transformers alone (batch 1, lmms-eval's Qwen2.5-VL
messages: its system prompt, the image through qwen_vl_utils), once from the image's own pixels (PNG, as
vlmbench reads it) and once from a JPEG copy of quality 85 (as lmms-eval 0.7.3 hands it on), and prints the
steps where the best and second-best token were closest. A margin of 1e-4 or less in float32 logits is a
near-tie: the order of floating-point sums (batch composition, padding, kernels) or a lossy copy of the image
can flip it, so such a sample's answers may differ without any difference in prompt or generation settings.

    .bench/lmms-eval-venv/bin/python bench/peer_answer_margins.py <work folder>/samples-1000.parquet ID [ID ...]

It runs in the lmms-eval environment that `bench/peer_lmms_eval.py` builds (transformers, qwen_vl_utils),
on the tiny random Qwen2.5-VL that model-hf built (`VLMBENCH_CACHE`, default ~/.cache/vlmbench).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
from pathlib import Path

MIN_PIXELS, MAX_PIXELS = 56 * 56, 112 * 112  # as bench/peer_lmms_eval.py runs both tools
SYSTEM_PROMPT = "You are a helpful assistant."  # lmms-eval's qwen2_5_vl default
NEAR_TIE = 1e-4


def data_url(image, kind: str) -> str:
    buffer = io.BytesIO()
    if kind == "jpeg":
        image.save(buffer, format="JPEG", quality=85)
    else:
        image.save(buffer, format="PNG")
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parquet", type=Path, help="a samples-N.parquet written by bench/peer_lmms_eval.py")
    parser.add_argument("ids", nargs="+", help="sample ids (the parquet's `id`) whose answers differed")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import pyarrow.parquet as pq
    import torch
    from PIL import Image
    from qwen_vl_utils import process_vision_info
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    torch.set_num_threads(args.threads)
    cache = Path(os.environ.get("VLMBENCH_CACHE") or Path.home() / ".cache" / "vlmbench")
    checkpoint = cache / "models" / "tiny-qwen2.5-vl"
    if not (checkpoint / "config.json").is_file():
        raise SystemExit(
            f"no tiny checkpoint at {checkpoint}: run bench/peer_lmms_eval.py first (it builds it)"
        )
    processor = AutoProcessor.from_pretrained(checkpoint, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.float32).eval()
    rows = {row["id"]: row for row in pq.read_table(args.parquet).to_pylist()}
    missing = [sample_id for sample_id in args.ids if sample_id not in rows]
    if missing:
        raise SystemExit(f"not in {args.parquet}: {', '.join(missing)}")

    for sample_id in args.ids:
        row = rows[sample_id]
        image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        for kind in ("png", "jpeg"):
            visual = {"type": "image", "image": data_url(image, kind), "min_pixels": MIN_PIXELS,
                      "max_pixels": MAX_PIXELS}  # fmt: skip
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": [visual, {"type": "text", "text": row["question"]}]},
            ]
            text = processor.apply_chat_template([messages], tokenize=False, add_generation_prompt=True)
            images, _ = process_vision_info([messages])
            inputs = processor(text=text, images=images, return_tensors="pt", padding=True)
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False,
                                     output_scores=True, return_dict_in_generate=True)  # fmt: skip
            margins = []
            for step, scores in enumerate(out.scores):
                top = torch.topk(scores[0].float(), 2)
                margins.append((float(top.values[0] - top.values[1]), step, *top.indices.tolist()))
            answer = processor.batch_decode(
                out.sequences[:, inputs.input_ids.shape[1] :], skip_special_tokens=True
            )
            closest = ", ".join(
                f"step {step}: {margin:.1e} (token {first} over {second})"
                for margin, step, first, second in sorted(margins)[:3]
            )
            tie = "near-tie" if margins and min(margins)[0] <= NEAR_TIE else "no near-tie"
            print(f"{sample_id} {kind}: {answer[0]!r}; {tie}; closest margins: {closest}", flush=True)


if __name__ == "__main__":
    main()
