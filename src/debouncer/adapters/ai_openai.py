"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM): bounded retries, then PermanentError."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from debouncer.errors import PermanentError
from debouncer.ports import AIRequest
from debouncer.prompt import conversation

# The statuses the official openai-python client retries: timeout, lock conflict, rate limit, server errors.
_RETRY_STATUSES = frozenset({408, 409, 429})
# Failures of the exchange itself that a new attempt can get past; other httpx errors (bad URL scheme...) cannot.
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
BACKOFF_BASE_SECONDS = 0.5
MAX_DELAY_SECONDS = 20.0


class OpenAICompatibleAI:
    """Implements AIProvider with POST {base_url}/chat/completions; base_url is the API root, `/v1` included.

    Worst case one answer() takes max_attempts * timeout plus the backoff between attempts (each <= 20 s).
    """

    uses_history = True

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: Callable[[], str | None],
        *,
        timeout_seconds: float,
        max_attempts: int,
        max_tokens: int | None = None,
        temperature: float | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        # Only the host goes into error messages: a base_url may carry credentials.
        self._name = f"OpenAI-compatible {httpx.URL(base_url).host} model {model}"
        self._model = model
        self._api_key = api_key
        self._timeout = httpx.Timeout(timeout_seconds)
        self._max_attempts = max_attempts
        self._options: dict[str, Any] = {}
        if max_tokens is not None:
            self._options["max_tokens"] = max_tokens
        if temperature is not None:
            self._options["temperature"] = temperature
        self._client = client or httpx.Client()
        self._sleep = sleep

    def answer(self, request: AIRequest) -> str:
        """Send system prompt, history and burst; return choices[0].message.content, or raise PermanentError."""
        chat = conversation(request)
        messages = [{"role": "system", "content": chat.system}] if chat.system else []
        messages += [{"role": turn.role, "content": turn.text} for turn in chat.turns]
        body = {"model": self._model, "messages": messages, **self._options}
        key = self._api_key()  # read per answer, so a rotated secret is picked up
        headers = {"Authorization": f"Bearer {key}"} if key else {}

        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._client.post(self._url, json=body, headers=headers, timeout=self._timeout)
            except _TRANSIENT_ERRORS as e:
                # The class name only: httpx's message can hold the URL, and with it credentials.
                failure, retry_after = type(e).__name__, None
            except httpx.HTTPError as e:
                raise PermanentError(f"{self._name}: {type(e).__name__}, permanent") from e
            else:
                if response.is_success:
                    return self._content(response)
                failure = f"HTTP {response.status_code}{_error_code(response)}"
                if response.status_code not in _RETRY_STATUSES and response.status_code < 500:
                    raise PermanentError(f"{self._name}: {failure}, permanent")
                retry_after = _retry_after(response)
            if attempt < self._max_attempts:
                self._sleep(_delay(attempt, retry_after))
        raise PermanentError(f"{self._name}: {failure}, gave up after {self._max_attempts} attempt(s)")

    def _content(self, response: httpx.Response) -> str:
        try:
            choice = response.json()["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, LookupError, TypeError) as e:
            raise PermanentError(f"{self._name}: malformed response (HTTP {response.status_code})") from e
        if not isinstance(content, str) or not content.strip():
            # A refusal or a content filter leaves content null; finish_reason says which.
            raise PermanentError(f"{self._name}: empty answer, finish_reason {choice.get('finish_reason')}")
        return content.strip()


def _error_code(response: httpx.Response) -> str:
    """OpenAI's machine-readable error code ("invalid_api_key"), never its message: that may quote the key."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, dict):
        return ""
    code = error.get("code") or error.get("type")
    return f" {code[:64]}" if isinstance(code, str) else ""


def _retry_after(response: httpx.Response) -> float | None:
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


def _delay(attempt: int, retry_after: float | None) -> float:
    """The server's Retry-After when given, else exponential backoff with full jitter; both capped."""
    if retry_after is not None:
        return min(retry_after, MAX_DELAY_SECONDS)
    # Full jitter spreads out Lambdas that were throttled together; it is not a security use of random.
    return random.uniform(0, min(MAX_DELAY_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))  # noqa: S311
