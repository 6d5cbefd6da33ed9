"""Splitting a reply into parts that fit a channel's limit, counted the way the channel counts."""

from __future__ import annotations

from collections.abc import Callable

from debouncer.domain.ports import TextLimit

# Where a part may end, best first: a paragraph, a line, a sentence, a word.
_BREAKS = ("\n\n", "\n", ". ", "! ", "? ", " ")


def _measure(unit: str) -> Callable[[str], int]:
    if unit == "bytes":
        return lambda s: len(s.encode("utf-8"))
    if unit == "utf16":
        return lambda s: len(s.encode("utf-16-le")) // 2
    return len


def _longest_prefix(text: str, size: int, measure: Callable[[str], int]) -> int:
    """Number of characters of `text` whose measure fits in `size` (binary search: measure is monotonic)."""
    low, high = 0, min(len(text), size)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= size:
            low = mid
        else:
            high = mid - 1
    return low


def split_text(text: str, limit: TextLimit) -> list[str]:
    """Parts of at most `limit`, cut at the best boundary in the last half of each part (hard cut otherwise)."""
    measure = _measure(limit.unit)
    parts: list[str] = []
    rest = text.strip()
    while measure(rest) > limit.size:
        fits = max(_longest_prefix(rest, limit.size, measure), 1)
        cut = fits
        for separator in _BREAKS:
            # Keep the sentence's punctuation with it; the separator's whitespace goes, so it may lie past the limit.
            kept = separator.rstrip()
            at = rest.rfind(separator, fits // 2, fits + len(separator) - len(kept))
            if at > 0:
                cut = at + len(kept)
                break
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts or [text]
