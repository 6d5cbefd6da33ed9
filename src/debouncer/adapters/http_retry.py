"""Bounded-retry helpers shared by the HTTP adapters (OpenAI-compatible chat and transcription endpoints)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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


class Refused(Exception):  # noqa: N818 - what the server did
    """The exchange failed in a way a new attempt cannot change (a 4xx, a malformed URL): `failure` says how."""

    def __init__(self, failure: str) -> None:
        super().__init__(failure)
        self.failure = failure


class GaveUp(Exception):  # noqa: N818 - what the caller did
    """Every attempt failed transiently; `failure` is the last one's, `retry_after` the server's last hint."""

    def __init__(self, failure: str, attempts: int, retry_after: float | None) -> None:
        super().__init__(f"{failure}, gave up after {attempts} attempt(s)")
        self.failure = failure
        self.retry_after = retry_after


def post_with_attempts(
    send: Callable[[], httpx.Response], *, attempts: int, sleep: Callable[[float], None]
) -> httpx.Response:
    """The first successful answer of up to `attempts` calls of `send`, with backoff (or Retry-After) between them.

    Raises Refused at once for what no new attempt can change, GaveUp once the attempts are spent. Failures name the
    status and the API's error code, or the exception's class: never its message, which can hold the URL and keys.
    """
    failure, wait = "no attempt", None
    for attempt in range(1, attempts + 1):
        try:
            response = send()
        except TRANSIENT_ERRORS as e:
            failure, wait = type(e).__name__, None
        except httpx.HTTPError as e:
            raise Refused(type(e).__name__) from e
        else:
            if response.is_success:
                return response
            failure = f"HTTP {response.status_code}{error_code(response)}"
            if not is_retryable_status(response.status_code):
                raise Refused(failure)
            wait = retry_after(response)
        if attempt < attempts:
            sleep(backoff_delay(attempt, wait))
    raise GaveUp(failure, attempts, wait)
