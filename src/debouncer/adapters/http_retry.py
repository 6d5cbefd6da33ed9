"""Bounded-retry helpers shared by the HTTP adapters (OpenAI-compatible chat and transcription endpoints)."""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

import httpx

# The statuses the official openai-python client retries: timeout, lock conflict, rate limit, server errors.
RETRY_STATUSES = frozenset({408, 409, 429})
# Failures of the exchange itself that a new attempt can get past; other httpx errors (bad URL scheme...) cannot.
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
BACKOFF_BASE_SECONDS = 0.5
MAX_DELAY_SECONDS = 20.0


def is_retryable_status(status: int) -> bool:
    """Whether a new attempt may get a different answer to this HTTP status."""
    return status in RETRY_STATUSES or status >= 500


def error_code(response: httpx.Response) -> str:
    """OpenAI's machine-readable error code ("invalid_api_key"), never its message: that may quote the key."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, dict):
        return ""
    code = error.get("code") or error.get("type")
    return f" {code[:64]}" if isinstance(code, str) else ""


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, given as a number or an HTTP date; None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """The server's Retry-After when given, else exponential backoff with full jitter; both capped."""
    if retry_after is not None:
        return min(retry_after, MAX_DELAY_SECONDS)
    # Full jitter spreads out Lambdas that were throttled together; it is not a security use of random.
    return random.uniform(0, min(MAX_DELAY_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))  # noqa: S311
