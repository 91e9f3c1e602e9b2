"""Uploads into a knowledge base (or a chat), checked before anything is written.

A file is refused, with a one-line reason and nothing written, when it is over `MAX_UPLOAD_BYTES`, when its
content is not the type its extension says (checked by its bytes: an executable renamed `.pdf` is refused),
or when its name is not a plain file name (no folders, no `..`, no hidden or control characters).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from vlm_pipelines.knowledge.documents import IMAGE_TYPES, check_extension, detect_type

MAX_UPLOAD_BYTES = int(os.environ.get("VLMBENCH_MAX_UPLOAD_MB", "20")) * 1024 * 1024
_SAFE_NAME = re.compile(r"^[\w][\w .()+,=-]{0,150}$", re.UNICODE)


class UploadError(ValueError):
    pass


def safe_name(name: str) -> str:
    """The name itself when it is a plain file name, else UploadError (no path, no '..', no hidden file)."""
    name = unicodedata.normalize("NFC", name)
    if "/" in name or "\\" in name or name in ("", ".", "..") or ".." in name or not _SAFE_NAME.match(name):
        raise UploadError(
            f"file name {name!r} is not allowed: use a plain name such as report.pdf (no folders or '..')"
        )
    return name


def check_upload(name: str, data: bytes) -> str:
    """The document type of an acceptable upload (UploadError otherwise)."""
    safe_name(name)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"{name} is {len(data) / 1024 / 1024:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 1024 // 1024} MB "
            "(VLMBENCH_MAX_UPLOAD_MB)"
        )
    if not data:
        raise UploadError(f"{name} is empty")
    kind = detect_type(data, name)
    problem = check_extension(name, kind)
    if problem:
        raise UploadError(problem)
    return kind or ""


def is_image_type(kind: str) -> bool:
    return kind in IMAGE_TYPES


def save_upload(folder: Path, name: str, data: bytes) -> Path:
    """Checks, then writes `folder/name` atomically; the path stays inside `folder`."""
    check_upload(name, data)
    folder = Path(folder).resolve()
    target = (folder / safe_name(name)).resolve()
    if target.parent != folder:
        raise UploadError(f"file name {name!r} is not allowed")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{target.name}.part"
    partial.write_bytes(data)
    os.replace(partial, target)
    return target
