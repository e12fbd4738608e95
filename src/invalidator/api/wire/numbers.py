"""Integers in request documents, read without Python's big-int pitfalls."""

from __future__ import annotations


def bounded_int(text: str, low: int, high: int) -> int | None:
    """The ASCII integer `text` (an optional sign, digits, leading zeros allowed) when within
    [low, high]; else None. Never an int() of thousands of digits (Python refuses those past
    4,300 with a ValueError, and they cost quadratic time before)."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii():
        return None
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(max(abs(low), abs(high)))):
        return None
    value = -int(significant) if text[:1] == "-" else int(significant)
    return value if low <= value <= high else None
