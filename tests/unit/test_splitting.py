"""Splitting a reply into parts: best boundary first, hard cut last, counted the way each channel counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from debouncer.domain.ports import TextLimit
from debouncer.domain.splitting import split_text

MEASURES: dict[str, Callable[[str], int]] = {
    "chars": len,
    "utf16": lambda s: len(s.encode("utf-16-le")) // 2,
    "bytes": lambda s: len(s.encode("utf-8")),
}
INSTAGRAM = TextLimit(1000, "bytes")
TELEGRAM = TextLimit(4096, "utf16")


def non_space(text: str) -> str:
    """Every character but whitespace, in order: what no split may lose or reorder."""
    return "".join(text.split())


@pytest.mark.parametrize("text", ["Hello there.", "x" * 10, "Ça va? 😀 漢字"])
def test_text_within_the_limit_is_one_part_unchanged(text: str) -> None:
    assert split_text(text, TextLimit(len(text.encode("utf-8")), "bytes")) == [text]


def test_cuts_between_words() -> None:
    assert split_text("alpha beta gamma delta", TextLimit(12)) == ["alpha beta", "gamma delta"]


def test_prefers_a_sentence_end_over_a_later_word_boundary() -> None:
    # GIVEN a sentence end and, closer to the limit, a space between words
    text = "First sentence here. Second part goes on"
    # THEN the part ends with the sentence, keeping its full stop
    assert split_text(text, TextLimit(30)) == ["First sentence here.", "Second part goes on"]


@pytest.mark.parametrize("end", [". ", "! ", "? "])
def test_keeps_the_punctuation_of_every_sentence_end(end: str) -> None:
    assert split_text(f"Is this it{end}Yes it is", TextLimit(14)) == [f"Is this it{end.strip()}", "Yes it is"]


def test_prefers_a_paragraph_break_over_later_lines_and_sentences() -> None:
    text = "Para one is here.\n\nPara two. Has\nmore"
    assert split_text(text, TextLimit(30)) == ["Para one is here.", "Para two. Has\nmore"]


def test_prefers_a_line_break_over_a_later_sentence_end() -> None:
    text = "Line one is here\nline two. And on and on"
    assert split_text(text, TextLimit(30)) == ["Line one is here", "line two. And on and on"]


def test_a_boundary_right_at_the_limit_is_used() -> None:
    # The paragraph is exactly 10 characters: the break after it fits, though its newlines lie past the limit.
    assert split_text("Aa bb cccc\n\ndd", TextLimit(10)) == ["Aa bb cccc", "dd"]
    assert split_text("abc de fgh", TextLimit(6)) == ["abc de", "fgh"]


def test_a_boundary_in_the_first_half_is_not_worth_a_short_part() -> None:
    assert split_text("a bcdefghijklmnop", TextLimit(10)) == ["a bcdefghi", "jklmnop"]


def test_hard_cuts_a_word_longer_than_the_limit() -> None:
    assert split_text("x" * 25, TextLimit(10)) == ["x" * 10, "x" * 10, "x" * 5]


def test_instagram_counts_utf8_bytes_and_never_cuts_a_character() -> None:
    # 2-byte, 4-byte and 3-byte characters with no space to cut at
    for char, per_part in [("é", 500), ("😀", 250), ("漢", 333)]:
        text = char * 1200
        parts = split_text(text, INSTAGRAM)
        assert parts[0] == char * per_part
        assert all(len(part.encode("utf-8")) <= 1000 for part in parts)
        assert "".join(parts) == text


def test_instagram_multibyte_words_stay_whole_and_nothing_is_lost() -> None:
    words = ["café", "😀👍🏽", "漢字かな", "naïve", "Ärger", "🇵🇹"] * 120
    text = " ".join(words)
    assert len(text) < 4000 < len(text.encode("utf-8"))
    parts = split_text(text, INSTAGRAM)
    assert len(parts) > 1
    assert all(len(part.encode("utf-8")) <= 1000 for part in parts)
    assert " ".join(parts).split() == words


def test_telegram_counts_an_emoji_as_two_utf16_units() -> None:
    text = "😀" * 3000
    # One part when counted in characters, but 6000 UTF-16 units: a surrogate pair per emoji.
    assert split_text(text, TextLimit(4096, "chars")) == [text]
    assert split_text(text, TELEGRAM) == ["😀" * 2048, "😀" * 952]


def test_telegram_emoji_words_fit_in_utf16_units() -> None:
    words = ["ok", "😀😀", "über", "𝄞𝄢♪"] * 500
    parts = split_text(" ".join(words), TELEGRAM)
    assert len(parts) > 1
    assert all(MEASURES["utf16"](part) <= 4096 for part in parts)
    assert " ".join(parts).split() == words


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from([*"ab .!?\n\t", "é", "😀", "漢"]), max_size=300),
    size=st.integers(min_value=4, max_value=40),
    unit=st.sampled_from(["chars", "utf16", "bytes"]),
)
def test_any_text_splits_into_parts_that_fit_and_lose_nothing(text: str, size: int, unit: str) -> None:
    parts = split_text(text, TextLimit(size, unit))  # type: ignore[arg-type]
    if not text.strip():
        assert parts == [text]
        return
    assert all(part and part == part.strip() for part in parts)
    assert all(MEASURES[unit](part) <= size for part in parts)
    assert non_space("".join(parts)) == non_space(text)
