"""The sender of a channel that has no credentials on AWS: failing loudly beats a reply that silently vanishes."""

from __future__ import annotations

from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import OutboundMessage, TextLimit


class UnconfiguredSender:
    """Every reply lands on the dead-letter queue with the reason, where ops see it and can replay it."""

    text_limit = TextLimit(1_000_000)

    def send(self, message: OutboundMessage) -> str | None:
        """Refuse: no token is configured for this channel."""
        raise PermanentError(f"{message.channel}: no access token is configured, so no reply can be sent")

    def show_typing(self, message: OutboundMessage) -> None:
        """Nothing to show without a token."""
