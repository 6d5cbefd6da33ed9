"""Use case: accept normalized messages into their conversation buffers and start timers for new bursts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from debouncer.burst import is_flush_keyword, iso_second, ordered, should_flush
from debouncer.errors import RetryableError
from debouncer.models import InboundMessage
from debouncer.ports import MessageBuffer, Timer


@dataclass(frozen=True)
class IngestResult:
    """Counts for the webhook's 200 answer and the logs."""

    accepted: int
    duplicates: int


class Ingest:
    """One buffer write per message; a Step Functions call only when a burst opens or must flush."""

    def __init__(
        self,
        buffer: MessageBuffer,
        timer: Timer,
        *,
        max_messages: int,
        max_buffer_bytes: int,
        flush_keywords: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._buffer = buffer
        self._timer = timer
        self._max_messages = max_messages
        self._max_bytes = max_buffer_bytes
        self._keywords = tuple(flush_keywords)
        self._clock = clock

    def accept(self, messages: Sequence[InboundMessage]) -> IngestResult:
        """Buffer each message; raises RetryableError when a retry (the channel's redelivery) can succeed."""
        accepted = duplicates = 0
        for message in ordered(messages):
            now = self._clock()
            result = self._buffer.append(message, now)
            # The execution sleeps until the burst could be due before its first read; a flush looks at once
            # (a whole second that has already begun: iso_second rounds up).
            at_once = iso_second(now - 1)
            due = result.quiet_deadline or at_once
            keyword = is_flush_keyword(message, self._keywords)
            if result.full:
                # The open burst cannot take this message and still be answered within one DynamoDB item: flush it
                # now; the channel's redelivery (after the 503) then opens the next burst with this message.
                self._timer.start(message.conversation_key, result.burst, wake_at=at_once, flush=True)
                raise RetryableError(f"the open burst of {result.size} bytes has no room for one more message yet")
            if result.duplicate:
                flush = keyword or should_flush(result.count, result.size, self._max_messages, self._max_bytes)
                duplicates += 1
                # A redelivery of the message that opened the burst: its first delivery may have failed between the
                # buffer write and StartExecution. Starting again is idempotent on Standard (on Express it costs an
                # execution that finds the burst claimed), so the burst always has a timer. Later messages never
                # started one, so their redeliveries need none.
                if result.opened_burst:
                    self._timer.start(message.conversation_key, result.burst, wake_at=due)
                if flush:
                    self._timer.start(message.conversation_key, result.burst, wake_at=at_once, flush=True)
                continue
            accepted += 1
            # Only the message that crosses max_messages flushes; later arrivals ride along with that flush.
            flush = keyword or result.count == self._max_messages or result.size >= self._max_bytes
            if result.opened_burst:
                self._timer.start(message.conversation_key, result.burst, wake_at=due)
            if flush:
                self._timer.start(message.conversation_key, result.burst, wake_at=at_once, flush=True)
        return IngestResult(accepted=accepted, duplicates=duplicates)
