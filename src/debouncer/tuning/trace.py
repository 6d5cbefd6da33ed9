"""What the tuner replays: when each message arrived in which conversation, and nothing it said."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


class TraceError(ValueError):
    """An input the tuner cannot read: the CLI's exit status 2."""


@dataclass(frozen=True)
class TimedMessage:
    """One message's timing. `keyword`: the flush keyword it consists of, when it is one (the only text ever kept);
    `size`: its stored size in bytes where known (max_buffer_bytes flushes on it)."""

    conversation: str
    at: float
    tenant: str | None = None
    channel: str | None = None
    size: int = 0
    keyword: str | None = None


@dataclass(frozen=True)
class Group:
    """The messages one setting applies to: a tenant's, a channel's, or the deployment's (both None)."""

    tenant: str | None
    channel: str | None

    def label(self) -> str:
        """'tenant clinic (whatsapp)', 'channel telegram', 'deployment'."""
        if self.tenant is not None:
            return f"tenant {self.tenant}" + (f" ({self.channel})" if self.channel else "")
        return f"channel {self.channel}" if self.channel is not None else "deployment"


def conversations(messages: Iterable[TimedMessage]) -> dict[str, list[TimedMessage]]:
    """Each conversation's messages in arrival order."""
    by_conversation: dict[str, list[TimedMessage]] = defaultdict(list)
    for message in messages:
        by_conversation[message.conversation].append(message)
    return {key: sorted(found, key=lambda m: m.at) for key, found in by_conversation.items()}


def groups(messages: list[TimedMessage]) -> dict[Group, list[TimedMessage]]:
    """The trace split by (tenant, channel) when it has them; tenantless messages on several channels also form the
    deployment's own group, since the deployment's window applies to all of them at once."""
    split: dict[Group, list[TimedMessage]] = defaultdict(list)
    for message in messages:
        split[Group(message.tenant, message.channel)].append(message)
    untenanted = [g for g in split if g.tenant is None]
    if len(untenanted) > 1:
        split[Group(None, None)] = [m for m in messages if m.tenant is None]
    return dict(sorted(split.items(), key=lambda kv: (kv[0].tenant or "", kv[0].channel or "")))
