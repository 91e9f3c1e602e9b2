"""GGUF checkpoints as plain ones: transformers dequantizes a GGUF file at every load (36 s for the
SmolLM2-135M Q4_1 file on this CPU, 9 s of it the tokenizer), so the dequantized float32 weights and the
tokenizer are written once as an ordinary checkpoint, which loads in under a second.

The folder is keyed by the GGUF file's content and the torch and transformers versions (they do the
dequantizing), built in a temporary folder, checked weight for weight against the dequantized model, and
renamed into place, so a half-written or stale conversion is never used.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from model_hf.tiny_qwen import default_cache_dir


@functools.cache
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def conversion_key(gguf_path: Path) -> str:
    stat = gguf_path.stat()
    versions = "|".join(metadata.version(name) for name in ("torch", "transformers"))
    content = _file_digest(gguf_path, stat.st_size, stat.st_mtime_ns)
    return hashlib.sha256(f"{content}|{versions}".encode()).hexdigest()[:16]


def converted_folder(gguf_path: Path) -> Path:
    """Where the conversion of `gguf_path` lives (it may not exist yet)."""
    return default_cache_dir() / "models" / "gguf" / f"{gguf_path.stem}-{conversion_key(gguf_path)}"


def ensure_converted(folder: Path, gguf_file: str) -> Path:
    """The plain checkpoint of `folder/gguf_file`, converting it first if it is not cached."""
    gguf_path = Path(folder) / gguf_file
    target = converted_folder(gguf_path)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}-building-", dir=target.parent))
    try:
        _convert(Path(folder), gguf_file, building)
        building.chmod(0o755)
        try:
            building.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # not another process that finished first
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _convert(folder: Path, gguf_file: str, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights below are plain float32 tensors
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    reloaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32).state_dict()
    expected = quantized.state_dict()
    if reloaded.keys() != expected.keys() or not all(torch.equal(reloaded[k], expected[k]) for k in expected):
        raise RuntimeError(f"converting {folder / gguf_file} changed its weights; not caching it")
