"""Instagram Messaging media: the attachment's `payload.url`, a CDN URL fetched as it is (channels.md §3.2)."""

from __future__ import annotations

import httpx

from debouncer.adapters.media_sources import download
from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.media.model import FetchedMedia

CHANNEL = "instagram"


class InstagramMediaSource:
    """Implements MediaSource: GET the CDN URL (signed, expiring), public https only, like any URL from a payload.

    No token: the URL's signature is the credential, so the URL itself never reaches a message or a log.
    """

    def __init__(
        self, *, timeout_seconds: float, allow_loopback: bool = False, client: httpx.Client | None = None
    ) -> None:
        self._timeout = timeout_seconds
        self._client = client or download.build_client(payload_urls=True, allow_loopback=allow_loopback)

    def fetch(self, message: InboundMessage, media: MediaRef, *, max_bytes: int) -> FetchedMedia:
        """The item's bytes and MIME type (the CDN's: Instagram attachments name none)."""
        return download.fetch_url(self._client, CHANNEL, media, timeout_seconds=self._timeout, max_bytes=max_bytes)
