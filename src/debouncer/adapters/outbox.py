"""The local outbox: a channel sender that records replies instead of calling a channel's API."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import uuid4

from debouncer.domain.ports import OutboundMessage, TextLimit


class Outbox:
    """Thread-safe record of every reply sent locally, oldest first (served at GET /local/outbox)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        """Append one sent reply."""
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        """Forget every entry (a fresh local runtime starts empty)."""
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[dict[str, Any]]:
        """A snapshot, oldest first."""
        with self._lock:
            return list(self._entries)


class OutboxSender:
    """Implements ChannelSender for any channel that has no credentials configured."""

    def __init__(self, outbox: Outbox, clock: Any = time.time) -> None:
        self._outbox = outbox
        self._clock = clock

    # No channel limit applies: one outbox entry per reply.
    text_limit = TextLimit(1_000_000)

    def show_typing(self, message: OutboundMessage) -> None:
        """Nothing to show locally."""

    def send(self, message: OutboundMessage) -> str | None:
        """Record the reply under a fresh local id, as a channel would give one, and return the id."""
        sent_id = f"local-{uuid4().hex}"
        self._outbox.add(
            {
                "channel": message.channel,
                "message_id": sent_id,
                "account_id": message.account_id,
                "recipient": message.recipient_id,
                "text": message.text,
                "message_ids": list(message.message_ids),
                "thread_id": message.thread_id,
                "sent_at": self._clock(),
            }
        )
        return sent_id


# One per process: the reply Lambda writes here and the local server's GET /local/outbox reads it.
LOCAL_OUTBOX = Outbox()
