"""Tiny random-weight checkpoints of other VLM families, built offline into a folder (a few MB, seconds):
real configs, processors and model classes at toy sizes, so the generic adapter is run on each family's
real code path. Their answers are noise."""

from __future__ import annotations

from pathlib import Path

from model_hf.tiny_qwen import CHAT_TEMPLATE, SEED, SPECIAL_TOKENS, train_tokenizer

QWEN_EXTRA_TOKENS = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_bos_token": "<|vision_start|>",
    "vision_eos_token": "<|vision_end|>",
}


def build_tiny_qwen3_vl(out_dir: Path) -> Path:
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tokenizer = train_tokenizer(
        SPECIAL_TOKENS,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=QWEN_EXTRA_TOKENS,
        chat_template=CHAT_TEMPLATE,
    )
    pixels = {"patch_size": 16, "merge_size": 2, "min_pixels": 64 * 64, "max_pixels": 128 * 128}
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(**pixels),
        chat_template=CHAT_TEMPLATE,
    )
    token_id = tokenizer.convert_tokens_to_ids
    config = Qwen3VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
            },
            "bos_token_id": token_id("<|endoftext|>"),
            "eos_token_id": token_id("<|im_end|>"),
            "pad_token_id": token_id("<|endoftext|>"),
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
    )
    return _save(Qwen3VLForConditionalGeneration, config, processor, out_dir, token_id("<|im_end|>"))


IDEFICS3_TOKENS = [
    "<|endoftext|>",
    "<end_of_utterance>",
    "<image>",
    "<fake_token_around_image>",
    "<global-img>",
]
# Idefics3's template: "User:<image>question<end_of_utterance>\nAssistant:".
IDEFICS3_TEMPLATE = (
    "<|endoftext|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def build_tiny_idefics3(out_dir: Path) -> Path:
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
    )

    tokenizer = train_tokenizer(
        IDEFICS3_TOKENS,
        bos_token="<|endoftext|>",
        eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<image>", "end_of_utterance_token": "<end_of_utterance>"},
        chat_template=IDEFICS3_TEMPLATE,
    )
    # 64-pixel tiles of 16-pixel patches, merged 2x2 (scale_factor): 4 tokens per tile.
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessor(
            size={"longest_edge": 128}, max_image_size={"longest_edge": 64}
        ),
        tokenizer=tokenizer,
        image_seq_len=4,
        chat_template=IDEFICS3_TEMPLATE,
    )
    token_id = tokenizer.convert_tokens_to_ids
    config = Idefics3Config(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 16,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "bos_token_id": token_id("<|endoftext|>"),
            "eos_token_id": token_id("<end_of_utterance>"),
            "pad_token_id": token_id("<|endoftext|>"),
        },
        scale_factor=2,
        image_token_id=token_id("<image>"),
        pad_token_id=token_id("<|endoftext|>"),
    )
    return _save(Idefics3ForConditionalGeneration, config, processor, out_dir, token_id("<end_of_utterance>"))


def _save(model_class, config, processor, out_dir: Path, eos_token_id: int) -> Path:
    """Random weights (seeded) for `config`, saved with `processor` into `out_dir`."""
    import torch

    processor.save_pretrained(out_dir)
    torch.manual_seed(SEED)
    model = model_class(config).eval()
    model.generation_config.eos_token_id = eos_token_id
    model.generation_config.pad_token_id = processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    model.save_pretrained(out_dir)
    return out_dir
