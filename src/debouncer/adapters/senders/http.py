"""HTTP plumbing the channel senders share: explicit timeouts, transport errors without URLs, Retry-After."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

import httpx

from debouncer.domain.errors import PermanentError, RetryableError

# A reply must fail fast enough for the state machine's retries to fit in the Lambda timeout.
TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)

# Our own request is malformed (bad base URL, a token with a newline or non-ASCII character): no retry fixes it.
_MALFORMED = (httpx.InvalidURL, httpx.LocalProtocolError, httpx.UnsupportedProtocol, UnicodeEncodeError)

# httpx logs every request URL at INFO, and the Telegram URL carries the bot token.
logging.getLogger("httpx").setLevel(logging.WARNING)


def build_client(timeout: httpx.Timeout = TIMEOUT) -> httpx.Client:
    """A client with explicit timeouts; build one per sender, once per execution environment."""
    return httpx.Client(timeout=timeout)


def post(
    client: httpx.Client,
    url: str,
    *,
    channel: str,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | None = None,
) -> httpx.Response:
    """POST and return any response; no response at all becomes RetryableError (or PermanentError if malformed).

    The messages name only the exception class: httpx's own messages can quote the URL (the Telegram bot
    token) or a header value (a Bearer token), and `from None` keeps them out of chained tracebacks too.
    """
    try:
        return client.post(url, headers=headers, json=json, content=content)
    except _MALFORMED as e:
        raise PermanentError(f"{channel}: request not sent, it is malformed ({type(e).__name__})") from None
    except httpx.TransportError as e:
        raise RetryableError(f"{channel}: no response from the API ({type(e).__name__})") from None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or {} when it is not one (a proxy's HTML 502 page, say)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def sent_id(value: object) -> str | None:
    """A channel-given message id: a non-empty string, else None (a 2xx without one still means the message left)."""
    return value if isinstance(value, str) and value else None


def retry_after(response: httpx.Response, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # A "-0000" zone parses naive; HTTP-dates are always GMT.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())
