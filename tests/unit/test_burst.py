"""Pure burst logic: deadlines at whole seconds, flush rules, order, execution names, splitting."""

from __future__ import annotations

from typing import Any

import pytest
from tests.builders import inbound

from debouncer.domain import burst
from debouncer.domain.models import InboundMessage, MediaRef


def _message(mid: str, ts_ms: int, text: str | None = "x", **extra: Any) -> InboundMessage:
    return inbound(mid, text, timestamp_ms=ts_ms, **extra)


def test_deadlines_round_up_to_whole_utc_seconds() -> None:
    assert burst.quiet_deadline(1_700_000_000.2, 10) == "2023-11-14T22:13:31Z"
    assert burst.quiet_deadline(1_700_000_000.0, 10) == "2023-11-14T22:13:30Z"
    assert burst.cap_deadline(1_700_000_000.0, 60) == "2023-11-14T22:14:20Z"


@pytest.mark.parametrize(
    ("count", "size", "expected"),
    [(4, 100, False), (5, 100, True), (1, 1000, True), (1, 999, False)],
)
def test_should_flush_on_count_or_size(count: int, size: int, expected: bool) -> None:
    assert burst.should_flush(count, size, max_messages=5, max_bytes=1000) is expected


def test_flush_keyword_matches_the_whole_text_only() -> None:
    assert burst.is_flush_keyword(_message("a", 0, " Send "), ["send"])
    assert not burst.is_flush_keyword(_message("a", 0, "send it"), ["send"])
    assert not burst.is_flush_keyword(_message("a", 0, None, kind="image"), ["send"])


def test_order_is_timestamp_then_arrival() -> None:
    messages = [_message("b", 2000), _message("a1", 1000), _message("a2", 1000)]
    assert [m.message_id for m in burst.ordered(messages)] == ["a1", "a2", "b"]


def test_concatenation_keeps_typed_placeholders() -> None:
    image = _message("i", 1, "in blue?", kind="image", media=(MediaRef(kind="image", ref="123"),))
    voice = _message("v", 2, None, kind="voice", media=(MediaRef(kind="voice", ref="456"),))
    assert burst.concatenate([image, voice]) == "[image: 123] in blue?\n[voice: 456]"


def test_execution_names_are_deterministic_distinct_and_valid() -> None:
    first = burst.execution_name("whatsapp#1#2", 7)
    assert first == burst.execution_name("whatsapp#1#2", 7)
    assert first != burst.execution_name("whatsapp#1#3", 7)
    assert burst.execution_name("whatsapp#1#2", 7, flush=True) == f"{first}-flush"
    assert len(first) <= 80 and first.replace("-", "").isalnum()
    assert "whatsapp" not in first  # the key holds a phone number: never in an execution name
