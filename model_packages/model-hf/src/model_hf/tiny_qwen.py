"""A tiny random-weight Qwen2.5-VL, built offline, so tests and demos exercise the real VLM code path.

Its answers are noise (random weights); what it proves is that processor, chat template, vision tower,
batching and generation fit together. Built once into `$VLMBENCH_CACHE/models/tiny-qwen2.5-vl`
(default `~/.cache/vlmbench`), atomically, so a concurrent process never sees half a checkpoint.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

TINY_QWEN_DIRNAME = "tiny-qwen2.5-vl"
SEED = 1234
VOCAB_SIZE = 400
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# The Qwen2-VL ChatML template: an image part becomes <|vision_start|><|image_pad|><|vision_end|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Enough text for the byte-level BPE to learn some merges; the content does not matter.
_TOKENIZER_CORPUS = [
    "What is the total amount on this invoice? The total is 1,234.56 EUR.",
    "Read the date of the document: 2024-03-15. Name: Jane Doe. Address: 12 Main Street.",
    "You are a helpful assistant. Answer the question about the document image.",
    "The quick brown fox jumps over the lazy dog. 0123456789",
] * 20


def default_cache_dir() -> Path:
    return Path(os.environ.get("VLMBENCH_CACHE") or Path.home() / ".cache" / "vlmbench")


def tiny_qwen_path() -> Path:
    """Where the tiny checkpoint lives (it may not be built yet)."""
    return default_cache_dir() / "models" / TINY_QWEN_DIRNAME


def ensure_tiny_qwen(path: Path | None = None) -> Path:
    """Returns the tiny checkpoint folder, building it first if it is missing."""
    path = path or tiny_qwen_path()
    if (path / "config.json").is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{path.name}-building-", dir=path.parent))
    try:
        build_tiny_qwen(building)
        building.chmod(0o755)  # mkdtemp makes it private
        try:
            building.rename(path)
        except OSError:
            # Another process finished first; its checkpoint is identical (fixed seed).
            if not (path / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return path


def build_tiny_qwen(out_dir: Path, weights: bool = True) -> None:
    """Writes processor and random model (fixed seed) to `out_dir`; with `weights=False` only the processor
    and the model config (all that prompt rendering reads, e.g. vLLM's renderer in model-vllm's tests)."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = train_tokenizer(
        SPECIAL_TOKENS,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_bos_token": "<|vision_start|>",
            "vision_eos_token": "<|vision_end|>",
        },
        chat_template=CHAT_TEMPLATE,
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(min_pixels=56 * 56, max_pixels=112 * 112),
        chat_template=CHAT_TEMPLATE,
    )

    token_id = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            # mrope sections sum to head_dim / 2 = 64 / 4 / 2.
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": token_id("<|endoftext|>"),
            "eos_token_id": token_id("<|im_end|>"),
            "pad_token_id": token_id("<|endoftext|>"),
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,  # must equal the text hidden size
            "fullatt_block_indexes": [1],
        },
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
    )
    processor.save_pretrained(out_dir)
    if not weights:
        config.architectures = [Qwen2_5_VLForConditionalGeneration.__name__]
        config.save_pretrained(out_dir)
        return
    torch.manual_seed(SEED)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = token_id("<|im_end|>")
    model.generation_config.pad_token_id = token_id("<|endoftext|>")
    model.save_pretrained(out_dir)


def train_tokenizer(special_tokens: list[str], **tokenizer_kwargs: Any) -> Any:
    """A small byte-level BPE tokenizer (`PreTrainedTokenizerFast`) trained offline on a fixed corpus, with
    `special_tokens` as single tokens; tiny checkpoints of other families build theirs with it too."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_TOKENIZER_CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, **tokenizer_kwargs)
