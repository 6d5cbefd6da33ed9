"""Instagram Messaging sender: text replies, seen and typing (channels.md §3.4, §3.5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from debouncer.adapters.senders import http
from debouncer.adapters.senders.graph import ErrorCodes, graph_error
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import OutboundMessage, TextLimit

CHANNEL = "instagram"

# error.code → (retryable, why), §3.4. Codes not listed fall back to the HTTP status.
_CODES: ErrorCodes = {
    4: (True, "app rate limit"),
    613: (True, "rate limit"),
    2: (True, "temporary service error"),
    10: (False, "not allowed: outside the 24 h messaging window or missing permission"),
    551: (False, "user unavailable: blocked the account or deactivated"),
    190: (False, "access token invalid or expired"),
}


class InstagramSender:
    """Implements ChannelSender against the Graph API's /{ig_id}/messages (Instagram Login or Page-linked)."""

    # Meta counts UTF-8 bytes, not characters.
    text_limit = TextLimit(1000, "bytes")

    def __init__(
        self,
        base_url: str,
        api_version: str,
        access_token: Callable[[], str],
        client: httpx.Client | None = None,
    ) -> None:
        self._base = f"{base_url.rstrip('/')}/{api_version}"
        self._token = access_token
        self._client = client or http.build_client()

    def send(self, message: OutboundMessage) -> str | None:
        """Send one text part; returns the mid the Send API gave it (`message_id`), None when the answer has none."""
        response = self._post(message, {"recipient": {"id": message.recipient_id}, "message": {"text": message.text}})
        return http.sent_id(http.json_object(response).get("message_id"))

    def show_typing(self, message: OutboundMessage) -> None:
        """Mark the conversation seen, then show typing: two requests, as sender actions travel alone."""
        for action in ("mark_seen", "typing_on"):
            self._post(message, {"recipient": {"id": message.recipient_id}, "sender_action": action})

    def _post(self, message: OutboundMessage, body: dict[str, Any]) -> httpx.Response:
        if not message.account_id:
            raise PermanentError(f"{CHANNEL}: no Instagram account id on the message")
        response = http.post(
            self._client,
            f"{self._base}/{message.account_id}/messages",
            channel=CHANNEL,
            headers={"Authorization": f"Bearer {self._token()}"},
            json=body,
        )
        if not response.is_success:
            raise graph_error(CHANNEL, _CODES, response)
        return response
