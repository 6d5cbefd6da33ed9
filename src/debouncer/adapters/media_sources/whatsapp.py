"""WhatsApp Cloud API media: the media id's URL from the Graph API, then its bytes (channels.md §1.3)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from debouncer.adapters.media_sources import download
from debouncer.adapters.senders.http import json_object, retry_after
from debouncer.domain.errors import ConfigurationError, RetryableError
from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.media.model import FetchedMedia, MediaUnavailableError

CHANNEL = "whatsapp"

# Graph error codes that say "later" whatever the HTTP status (Meta: decide on the code), as for the sender.
_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 613, 80007, 130429, 131000, 131016, 131057})
_MEDIA_ID = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DETAIL = 200  # enough of Graph's error message to say why


class WhatsAppMediaSource:
    """Implements MediaSource: `GET /{version}/{media-id}` gives a short-lived URL, fetched with the same token."""

    def __init__(
        self,
        base_url: str,
        api_version: str,
        access_token: Callable[[], str] | None,
        *,
        timeout_seconds: float,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = f"{base_url.rstrip('/')}/{api_version}"
        self._token = access_token  # None: not configured
        self._timeout = timeout_seconds
        self._client = client or download.build_client()

    def fetch(self, message: InboundMessage, media: MediaRef, *, max_bytes: int) -> FetchedMedia:
        """The item's bytes and MIME type."""
        media_id = media.ref or ""
        if not _MEDIA_ID.fullmatch(media_id):
            raise MediaUnavailableError(f"{CHANNEL} {media.kind}: no media id to download")
        what = f"{CHANNEL} {media.kind} {media_id}"
        bearer = {"Authorization": f"Bearer {self._access_token(what)}"}
        deadline = download.Deadline(self._timeout, what)
        response = download.get(self._client, f"{self._base}/{media_id}", deadline=deadline, headers=bearer)
        if not response.is_success:
            raise _graph_error(what, response)
        body = json_object(response)
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MediaUnavailableError(f"{what}: the Graph API answered without a media URL")
        size = _int(body.get("file_size"))
        if size is not None and size > max_bytes:
            raise download.oversize(what, max_bytes)
        mime_type = body.get("mime_type")
        return download.download(
            self._client,
            url,
            media,
            deadline=deadline,
            max_bytes=max_bytes,
            headers=bearer,  # Meta's media URL asks for the same token; httpx drops it on a redirect elsewhere
            mime_type=mime_type if isinstance(mime_type, str) else None,
        )

    def _access_token(self, what: str) -> str:
        try:
            token = self._token() if self._token else ""
        except ConfigurationError:
            token = ""
        if not token:
            raise download.not_configured(what, CHANNEL)
        return token


def _graph_error(what: str, response: httpx.Response) -> RetryableError | MediaUnavailableError:
    error = json_object(response).get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    message = str(error.get("message") or "")[:_DETAIL]
    detail = f"error {code}: {message}" if code is not None else message
    if code in _TRANSIENT_CODES:
        return RetryableError(f"{what}: HTTP {response.status_code}, {detail}", retry_after=retry_after(response))
    return download.status_error(what, response, detail)


def _int(value: Any) -> int | None:
    # Meta's examples show file_size as a string, its responses as a number.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
