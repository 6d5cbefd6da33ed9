"""Generic channel media: each item's `url` from the payload (schemas/generic.message.schema.json)."""

from __future__ import annotations

import httpx

from debouncer.adapters.media_sources import download
from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.media.model import FetchedMedia

CHANNEL = "generic"


class GenericMediaSource:
    """Implements MediaSource: GET the item's URL, https to public addresses only (loopback when allowed locally).

    Whoever signs a generic payload chooses the URL, so the URL guard (urls.py) keeps it off our own network.
    """

    def __init__(
        self, *, timeout_seconds: float, allow_loopback: bool = False, client: httpx.Client | None = None
    ) -> None:
        self._timeout = timeout_seconds
        self._client = client or download.build_client(payload_urls=True, allow_loopback=allow_loopback)

    def fetch(self, message: InboundMessage, media: MediaRef, *, max_bytes: int) -> FetchedMedia:
        """The item's bytes and MIME type (the server's, else the one the payload declared)."""
        return download.fetch_url(self._client, CHANNEL, media, timeout_seconds=self._timeout, max_bytes=max_bytes)
