"""Generic channel sender: POSTs the reply, HMAC-signed like inbound generic webhooks, to a callback URL."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from debouncer.adapters.senders import http
from debouncer.channels.signatures import GENERIC_HEADER, meta_signature
from debouncer.domain.errors import PermanentError, RetryableError
from debouncer.domain.ports import OutboundMessage, TextLimit

CHANNEL = "generic"
# Enough of an error body to say why; a callback may answer with a whole HTML page.
_BODY_EXCERPT = 200


class GenericSender:
    """Implements ChannelSender for the generic channel; the receiver checks X-Signature-256 with the shared secret.

    The callback contract: the product POSTs `{"conversation_id", "text", "in_reply_to"}` (compact JSON, signed);
    any 2xx means the part was delivered. The callback may answer with a JSON object holding a string `message_id`,
    the id it gave the message; `send` returns it, or None when the body has none (empty, not JSON, not a string).
    429 and 5xx are retried, any other status is permanent.
    """

    text_limit = TextLimit(4096, "chars")

    def __init__(self, callback_url: str, secret: Callable[[], str], client: httpx.Client | None = None) -> None:
        self._url = callback_url
        self._secret = secret
        self._client = client or http.build_client()

    def send(self, message: OutboundMessage) -> str | None:
        """POST the part; the body is serialised once so the signed bytes are the sent bytes. Returns its message_id."""
        secret = self._secret()
        # With an empty key anyone could forge the signature; the receiver must be able to trust it.
        if not secret:
            raise PermanentError(f"{CHANNEL}: no secret configured to sign the callback")
        body = json.dumps(
            {"conversation_id": message.recipient_id, "text": message.text, "in_reply_to": list(message.message_ids)},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        headers = {"Content-Type": "application/json", GENERIC_HEADER: meta_signature(secret, body)}
        response = http.post(self._client, self._url, channel=CHANNEL, headers=headers, content=body)
        if response.is_success:
            return http.sent_id(http.json_object(response).get("message_id"))
        reason = f"{CHANNEL}: HTTP {response.status_code} {response.reason_phrase}"
        if excerpt := response.text[:_BODY_EXCERPT].strip():
            reason += f": {excerpt}"
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(reason, retry_after=http.retry_after(response))
        raise PermanentError(reason)

    def show_typing(self, message: OutboundMessage) -> None:
        """Nothing to show: the generic contract has no presence."""
