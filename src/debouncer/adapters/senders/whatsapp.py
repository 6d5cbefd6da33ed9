"""WhatsApp Cloud API sender: text replies and the read + typing indicator (channels.md §1.6, §1.7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from debouncer.adapters.senders import http
from debouncer.adapters.senders.graph import ErrorCodes, graph_error
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import OutboundMessage, TextLimit

CHANNEL = "whatsapp"

# error.code → (retryable, why). Meta says to decide on the code, not the HTTP status (§1.6).
_CODES: ErrorCodes = {
    130429: (True, "throughput limit reached"),
    131056: (True, "pair rate limit: too many messages to this user"),
    80007: (True, "WhatsApp Business Account rate limit"),
    4: (True, "app rate limit"),
    131000: (True, "unknown error"),
    131016: (True, "service unavailable"),
    1: (True, "unknown API error"),
    2: (True, "temporary service error"),
    131057: (True, "account in maintenance"),
    131047: (False, "24 h customer-service window closed: only a template can be sent"),
    131026: (False, "undeliverable: not a WhatsApp user, outdated client or terms not accepted"),
    131051: (False, "unsupported message type"),
    131009: (False, "invalid parameter value"),
    190: (False, "access token invalid or expired"),
    131048: (False, "spam rate limit: sending is restricted for quality reasons"),
    131062: (False, "recipient by BSUID not supported for this message: use the phone number"),
}


class WhatsAppSender:
    """Implements ChannelSender against the Graph API's /{phone_number_id}/messages."""

    text_limit = TextLimit(4096, "chars")

    def __init__(
        self,
        base_url: str,
        api_version: str,
        access_token: Callable[[], str],
        default_phone_number_id: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = f"{base_url.rstrip('/')}/{api_version}"
        self._token = access_token
        self._default_phone_number_id = default_phone_number_id
        self._client = client or http.build_client()

    def send(self, message: OutboundMessage) -> str | None:
        """Send one text part; preview_url stays off, a reply's links should not turn into cards.

        Returns the wamid the Cloud API gave it (`messages[0].id`), None when the answer has none.
        """
        response = self._post(
            message,
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": message.recipient_id,
                "type": "text",
                "text": {"preview_url": False, "body": message.text},
            },
        )
        messages = http.json_object(response).get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        return http.sent_id(first.get("id")) if isinstance(first, dict) else None

    def show_typing(self, message: OutboundMessage) -> None:
        """Mark the burst's last message (and every earlier one) read, and show typing for up to 25 s."""
        if not message.message_ids:
            return
        self._post(
            message,
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": message.message_ids[-1],
                "typing_indicator": {"type": "text"},
            },
        )

    def _post(self, message: OutboundMessage, body: dict[str, Any]) -> httpx.Response:
        phone_number_id = message.account_id or self._default_phone_number_id
        if not phone_number_id:
            raise PermanentError(f"{CHANNEL}: no phone number id: the message has none and no default is set")
        response = http.post(
            self._client,
            f"{self._base}/{phone_number_id}/messages",
            channel=CHANNEL,
            headers={"Authorization": f"Bearer {self._token()}"},
            json=body,
        )
        if not response.is_success:
            raise graph_error(CHANNEL, _CODES, response)
        return response
