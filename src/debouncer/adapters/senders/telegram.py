"""Telegram Bot API sender: plain-text replies and the typing action (channels.md §2.4, §2.5)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from debouncer.adapters.senders import http
from debouncer.domain.errors import PermanentError, RetryableError
from debouncer.domain.ports import OutboundMessage, TextLimit

CHANNEL = "telegram"
_NUMERIC = re.compile(r"-?\d+")


class TelegramSender:
    """Implements ChannelSender against https://api.telegram.org/bot<token>/<method>."""

    # Telegram counts UTF-16 code units (entity offsets are UTF-16), so an emoji counts twice.
    text_limit = TextLimit(4096, "utf16")

    def __init__(self, base_url: str, bot_token: Callable[[], str], client: httpx.Client | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._token = bot_token
        self._client = client or http.build_client()

    def send(self, message: OutboundMessage) -> str | None:
        """Send one part as plain text: no parse_mode, since an AI's output rarely survives MarkdownV2 escaping.

        Returns f"{chat_id}:{message_id}" of the sent message, the form inbound Telegram message ids take
        (channels/telegram.py), or None when the answer lacks the message id.
        """
        result = self._call("sendMessage", message, {"text": message.text}).get("result")
        result = result if isinstance(result, dict) else {}
        message_id = result.get("message_id")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            return None
        chat = result.get("chat")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            # Inbound ids carry the numeric chat id: an @username recipient cannot stand in for it.
            if not _NUMERIC.fullmatch(message.recipient_id):
                return None
            chat_id = int(message.recipient_id)
        return f"{chat_id}:{message_id}"

    def show_typing(self, message: OutboundMessage) -> None:
        """Show "typing…" for up to 5 s; bots cannot mark messages read."""
        self._call("sendChatAction", message, {"action": "typing"})

    def _call(self, method: str, message: OutboundMessage, fields: dict[str, Any]) -> dict[str, Any]:
        """Call the method; returns the answer's JSON object (possibly empty) on success."""
        chat = message.recipient_id
        body: dict[str, Any] = {"chat_id": int(chat) if _NUMERIC.fullmatch(chat) else chat, **fields}
        if message.thread_id:
            body["message_thread_id"] = int(message.thread_id)
        # The token is part of the URL: the URL must never reach a message or a log.
        response = http.post(self._client, f"{self._base}/bot{self._token()}/{method}", channel=CHANNEL, json=body)
        reply = http.json_object(response)
        if response.is_success and reply.get("ok") is not False:
            return reply
        raise _error(method, response, reply)


def _error(method: str, response: httpx.Response, reply: dict[str, Any]) -> RetryableError | PermanentError:
    code = reply.get("error_code") or response.status_code
    parameters = reply.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    reason = f"{CHANNEL} {method}: HTTP {response.status_code}, error {code}: "
    reason += str(reply.get("description") or response.reason_phrase)
    if code == 429 or (isinstance(code, int) and code >= 500):
        wait = parameters.get("retry_after")
        retry = float(wait) if isinstance(wait, int | float) else http.retry_after(response)
        return RetryableError(reason, retry_after=retry)
    if "migrate_to_chat_id" in parameters:
        reason += f" (the chat moved to chat id {parameters['migrate_to_chat_id']}: resend there)"
    return PermanentError(reason)
