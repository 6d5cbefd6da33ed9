"""Pure burst logic: deadlines, early flush, ordering and the execution name. No I/O."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from debouncer.domain.models import InboundMessage


def iso_second(epoch_seconds: float) -> str:
    """Whole-second UTC timestamp, rounded up: Step Functions Waits and Choices compare at one-second resolution."""
    return datetime.fromtimestamp(math.ceil(epoch_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_of(iso: str) -> float:
    """The epoch seconds of a timestamp iso_second wrote."""
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def quiet_deadline(now: float, debounce_seconds: int) -> str:
    """When the burst is due if nothing else arrives: moved by every message."""
    return iso_second(now + debounce_seconds)


def cap_deadline(now: float, max_wait_seconds: int) -> str:
    """When the burst is due at the latest: set once, by the message that opens the burst."""
    return iso_second(now + max_wait_seconds)


# Step Functions' Wait and Lambda read different clocks (both NTP-synchronised on AWS): a claim reaching Lambda a
# moment before the deadline its Wait slept to is still due. Kept well under a second, so that no burst is claimed
# noticeably before its deadline; past it, the claim fails with BurstNotDueError and the state machine simply waits
# again, so a larger skew costs a few transitions, never a message.
DUE_TOLERANCE_SECONDS = 0.25


def due_at(quiet: str | None, cap: str | None) -> str | None:
    """When an open burst is due: the earlier of its quiet and cap deadlines (None when it has neither)."""
    deadlines = [d for d in (quiet, cap) if d is not None]
    return min(deadlines, key=epoch_of) if deadlines else None


def is_due(quiet: str | None, cap: str | None, now: float) -> bool:
    """True once the burst may be claimed: quiet long enough, or waited as long as it may."""
    due = due_at(quiet, cap)
    return due is None or epoch_of(due) <= now + DUE_TOLERANCE_SECONDS


def is_flush_keyword(message: InboundMessage, keywords: Iterable[str]) -> bool:
    """A message whose whole text is a configured keyword ('send', 'done'...) flushes the burst at once."""
    text = (message.text or "").strip().lower()
    return bool(text) and text in set(keywords)


def should_flush(count: int, size: int, max_messages: int, max_bytes: int) -> bool:
    """Flush early rather than let a burst outgrow one DynamoDB item or one AI prompt."""
    return count >= max_messages or size >= max_bytes


def ordered(messages: Sequence[InboundMessage]) -> list[InboundMessage]:
    """User order: channel timestamp, then arrival (the sort is stable)."""
    return sorted(messages, key=lambda m: m.timestamp_ms)


def concatenate(messages: Sequence[InboundMessage]) -> str:
    """The burst as one prompt, one line per message, in order."""
    return "\n".join(m.render() for m in messages)


def first_burst(now: float) -> int:
    """The burst number a fresh buffer item opens with: the clock in milliseconds. A claim moves it on by 1, or to
    the clock if that is further (so it keeps up with the clock, and never goes back).

    DynamoDB TTL deletes an idle buffer after days, while what is keyed on its burst numbers lives on: turns
    (`turn#<burst>`), and on Standard the execution names (`<hash>-<burst>`, kept 90 days after they close). A counter
    that restarted at 1 met them again (docs/architecture.md). Starting from the clock, a new buffer begins past
    every number the expired one reached: the old one went past the clock only by one per claim, each a write to that
    one item, which DynamoDB allows at most 1,000 times a second (one per millisecond, the clock's own pace), and TTL
    deleted it no sooner than the buffer's retention (days: 172,800,000 ms for 2) after its last message. Clock skew
    between functions is milliseconds; the margin is days.
    """
    return int(now * 1000)


def execution_name(conversation_key: str, burst: int, *, flush: bool = False) -> str:
    """Deterministic, so a retried StartExecution is idempotent; hashed, because keys hold personal ids.

    40 + 1 + 13 digits (epoch milliseconds until the year 2286) + 6 = 60 characters, within Step Functions' 80.
    """
    digest = hashlib.sha256(conversation_key.encode()).hexdigest()[:40]
    return f"{digest}-{burst}{'-flush' if flush else ''}"
