"""Russian Cyrillic to Latin letters (the common passport-style scheme; ъ and ь are dropped).

Used for readable task names from Russian folder names and for the e-mail addresses of synthetic people.
"""

from __future__ import annotations

CYRILLIC_TO_LATIN: dict[str, str] = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "a|b|v|g|d|e|e|zh|z|i|y|k|l|m|n|o|p|r|s|t|u|f|kh|ts|ch|sh|shch||y||e|yu|ya".split("|"),
        strict=True,
    )
)


def transliterate(text: str) -> str:
    """`text` lowercased, each Cyrillic letter replaced by its Latin spelling; other characters kept."""
    return "".join(CYRILLIC_TO_LATIN.get(character, character) for character in text.lower())
