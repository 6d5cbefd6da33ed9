"""What every media source shares: one deadline per fetch, API calls and a streamed, size-capped download.

Errors name the channel and the media item (`what`), never a URL or a header: a Telegram URL carries the bot token,
Meta's and Instagram's media URLs are signed, and these messages are logged and shown to the AI. httpx's own messages
quote the URL, so they are replaced (`from None` keeps them out of chained tracebacks too).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Mapping

import httpx

from debouncer.adapters.media_sources.urls import PublicOnlyTransport, UnresolvedHostError, UnsafeURLError
from debouncer.adapters.senders.http import retry_after  # its import also quiets httpx's per-URL INFO log line
from debouncer.domain.errors import RetryableError
from debouncer.domain.models import MediaRef
from debouncer.media.model import FetchedMedia, MediaUnavailableError

# A server's error page served with a 200 (a login wall, a CDN's "link expired" page) is not the media.
ERROR_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
OCTET_STREAM = "application/octet-stream"

# Media kinds whose bytes must be of one family; documents and files may be any type but an error page.
# Audio may come in a video container (audio/mp4 is often served as video/mp4).
_FAMILIES: Mapping[str, tuple[str, ...]] = {
    "image": ("image/",),
    "audio": ("audio/", "video/"),
    "voice": ("audio/", "video/"),
    "video": ("video/",),
    "video_note": ("video/",),
    "animation": ("video/", "image/gif"),
}
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")

# Our own request is malformed (a bad base URL, a URL from a payload that is not one): no retry fixes it.
_MALFORMED = (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError, UnicodeEncodeError)
MAX_REDIRECTS = 5


def build_client(*, payload_urls: bool = False, allow_loopback: bool = False) -> httpx.Client:
    """A client for one or more sources, shared by their threads; `payload_urls`: fetch only public https URLs.

    Timeouts are set per request from the fetch's deadline. Redirects are followed (a CDN may redirect); httpx drops
    the Authorization header when one leaves the origin, and the public-only transport checks every hop.
    """
    transport = PublicOnlyTransport(allow_loopback=allow_loopback) if payload_urls else None
    return httpx.Client(transport=transport, follow_redirects=True, max_redirects=MAX_REDIRECTS)


class Deadline:
    """One fetch attempt's time budget (media_fetch_timeout_seconds), spent across its API call and its download.

    httpx's timeouts bound each network operation; a server trickling bytes would pass them forever.
    """

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self._end = time.monotonic() + seconds

    def timeout(self) -> httpx.Timeout:
        """The time left, as the next request's timeout; RetryableError when none is left."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise RetryableError(f"{self.what}: not fetched within {self.seconds:g} s")
        return httpx.Timeout(left)


def not_configured(what: str, channel: str) -> MediaUnavailableError:
    """The error of a channel whose token is not configured (never the setting's value)."""
    return MediaUnavailableError(f"{what}: the {channel} token is not configured, so its media cannot be fetched")


def status_error(what: str, response: httpx.Response, detail: str = "") -> RetryableError | MediaUnavailableError:
    """The failure an HTTP error status means for a media fetch: transient (retry) or unavailable (for good)."""
    status = response.status_code
    reason = f"{what}: HTTP {status}" + (f", {detail}" if detail else "")
    if status in (408, 429) or status >= 500:
        return RetryableError(reason, retry_after=retry_after(response))
    if status in (404, 410):
        return MediaUnavailableError(f"{reason}: gone (deleted, or its link expired)")
    if status in (401, 403):
        return MediaUnavailableError(f"{reason}: access refused (an expired link, or a token without access)")
    if status == 400:
        return MediaUnavailableError(f"{reason}: refused as invalid (an unknown or expired media id)")
    return MediaUnavailableError(f"{reason}: refused")


def oversize(what: str, max_bytes: int) -> MediaUnavailableError:
    """The error of an item over the size cap."""
    return MediaUnavailableError(f"{what}: larger than the {max_bytes:,} byte limit")


def get(
    client: httpx.Client,
    url: str,
    *,
    deadline: Deadline,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """GET a small API answer (media metadata) and return any response; no response raises as `download` does."""
    with _transport_errors(deadline.what):
        return client.get(url, headers=headers, params=params, timeout=deadline.timeout())


def download(
    client: httpx.Client,
    url: str,
    media: MediaRef,
    *,
    deadline: Deadline,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    mime_type: str | None = None,
) -> FetchedMedia:
    """Stream `url`'s bytes, refused as soon as more than `max_bytes` arrive (or up front by Content-Length).

    The MIME type is the response's, or `mime_type` (the API's or the payload's) when the response names none
    specific; an error page, or a type outside the media kind's family, is MediaUnavailableError.
    """
    what = deadline.what
    with _transport_errors(what), client.stream("GET", url, headers=headers, timeout=deadline.timeout()) as response:
        if not response.is_success:
            raise status_error(what, response)
        length = response.headers.get("Content-Length", "")
        if length.isascii() and length.isdigit() and int(length) > max_bytes:
            raise oversize(what, max_bytes)
        served = media_type(what, media.kind, response.headers.get("Content-Type"), mime_type or media.mime_type)
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > max_bytes:
                raise oversize(what, max_bytes)
            deadline.timeout()
    return FetchedMedia(bytes(data), served)


def media_type(what: str, kind: str, served: str | None, declared: str | None) -> str:
    """The item's MIME type (no parameters), checked against an error page and against the kind's family."""
    got, said = _base(served), _base(declared)
    if got in ERROR_PAGE_TYPES:
        raise MediaUnavailableError(f"{what}: the server sent a web page ({got}), not the media")
    # File servers (Telegram's among them) often send application/octet-stream whatever the file is.
    mime = got if got and got != OCTET_STREAM else (said or got or OCTET_STREAM)
    families = _FAMILIES.get(kind)
    if families and not mime.startswith(families):
        raise MediaUnavailableError(f"{what}: the server sent {mime}, which is not {kind} media")
    return mime


def _base(value: str | None) -> str:
    base = (value or "").split(";")[0].strip().lower()
    return base if _MIME.fullmatch(base) else ""


@contextlib.contextmanager
def _transport_errors(what: str) -> Iterator[None]:
    """Turns httpx's failures (which quote the URL) and the URL guard's refusals into the port's errors."""
    try:
        yield
    except UnsafeURLError as e:
        raise MediaUnavailableError(f"{what}: URL refused: {e}") from None
    except UnresolvedHostError as e:
        raise RetryableError(f"{what}: {e}") from None
    except httpx.TimeoutException as e:
        raise RetryableError(f"{what}: timed out ({type(e).__name__})") from None
    except _MALFORMED as e:
        raise MediaUnavailableError(f"{what}: the URL is malformed ({type(e).__name__})") from None
    except httpx.TooManyRedirects:
        raise MediaUnavailableError(f"{what}: more than {MAX_REDIRECTS} redirects") from None
    except httpx.TransportError as e:
        raise RetryableError(f"{what}: no complete response ({type(e).__name__})") from None
    except httpx.DecodingError:
        raise MediaUnavailableError(f"{what}: the response's content encoding is corrupt") from None


def fetch_url(
    client: httpx.Client, channel: str, media: MediaRef, *, timeout_seconds: float, max_bytes: int
) -> FetchedMedia:
    """Download an item whose payload carries its URL (MediaRef.ref); `client` must be a payload_urls client."""
    what = f"{channel} {media.kind}"
    if not media.ref:
        raise MediaUnavailableError(f"{what}: no URL to download")
    return download(client, media.ref, media, deadline=Deadline(timeout_seconds, what), max_bytes=max_bytes)
