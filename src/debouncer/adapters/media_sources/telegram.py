"""Telegram Bot API media: getFile gives the file's path, then the file server gives its bytes (channels.md §2.3)."""

from __future__ import annotations

import mimetypes
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from debouncer.adapters.media_sources import download
from debouncer.adapters.senders.http import json_object, retry_after
from debouncer.domain.errors import ConfigurationError, RetryableError
from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.media.model import FetchedMedia, MediaUnavailableError

CHANNEL = "telegram"

# The Bot API serves files up to 20 MB; getFile refuses bigger ones ("file is too big").
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024
_DETAIL = 200


class TelegramMediaSource:
    """Implements MediaSource: `getFile?file_id=` then `/file/bot<token>/<file_path>`.

    Both URLs hold the bot token, so neither reaches a message or a log: errors name the channel and the kind only.
    """

    def __init__(
        self,
        base_url: str,
        bot_token: Callable[[], str] | None,
        *,
        timeout_seconds: float,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = bot_token  # None: not configured
        self._timeout = timeout_seconds
        self._client = client or download.build_client()

    def fetch(self, message: InboundMessage, media: MediaRef, *, max_bytes: int) -> FetchedMedia:
        """The item's bytes and MIME type."""
        what = f"{CHANNEL} {media.kind}"
        if not media.ref:
            raise MediaUnavailableError(f"{what}: no file id to download")
        token = self._bot_token(what)
        deadline = download.Deadline(self._timeout, what)
        response = download.get(
            self._client, f"{self._base}/bot{token}/getFile", deadline=deadline, params={"file_id": media.ref}
        )
        reply = json_object(response)
        if not response.is_success or reply.get("ok") is not True:
            raise _error(what, response, reply)
        result = reply.get("result")
        result = result if isinstance(result, dict) else {}
        file_path = result.get("file_path")
        # A file over the Bot API's limit has no file_path; a path must stay below the bot's file directory.
        if not isinstance(file_path, str) or not file_path or ".." in file_path.split("/") or file_path[0] == "/":
            raise MediaUnavailableError(f"{what}: Telegram gave no file path to download")
        size = result.get("file_size")
        if isinstance(size, int) and size > BOT_API_DOWNLOAD_LIMIT:
            raise MediaUnavailableError(f"{what}: over the Bot API's 20 MB download limit")
        if isinstance(size, int) and size > max_bytes:
            raise download.oversize(what, max_bytes)
        return download.download(
            self._client,
            f"{self._base}/file/bot{token}/{urllib.parse.quote(file_path, safe='/')}",
            media,
            deadline=deadline,
            max_bytes=max_bytes,
            # The file server sends application/octet-stream; a photo's PhotoSize names no type, its path does.
            mime_type=media.mime_type or mimetypes.guess_type(file_path)[0],
        )

    def _bot_token(self, what: str) -> str:
        try:
            token = self._token() if self._token else ""
        except ConfigurationError:
            token = ""
        if not token:
            raise download.not_configured(what, CHANNEL)
        return token


def _error(what: str, response: httpx.Response, reply: dict[str, Any]) -> RetryableError | MediaUnavailableError:
    code = reply.get("error_code")
    description = str(reply.get("description") or "")[:_DETAIL]
    parameters = reply.get("parameters")
    wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if code == 429 or response.status_code == 429:
        retry = float(wait) if isinstance(wait, int | float) else retry_after(response)
        return RetryableError(f"{what}: HTTP {response.status_code}, getFile: {description}", retry_after=retry)
    if response.is_success:  # a 200 whose body is not {"ok": true, ...}
        return MediaUnavailableError(f"{what}: getFile answered without a file")
    return download.status_error(what, response, f"getFile: {description}" if description else "getFile")
