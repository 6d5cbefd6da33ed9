"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM): bounded retries, then PermanentError."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import httpx

# Shared with the transcription adapter (MAX_DELAY_SECONDS: what the tests hold the backoff to).
from debouncer.adapters.http_retry import MAX_DELAY_SECONDS as MAX_DELAY_SECONDS
from debouncer.adapters.http_retry import GaveUp, Refused, post_with_attempts
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest
from debouncer.domain.prompt import ChatTurn, conversation, fitted
from debouncer.media.limits import OPENAI, MediaLimits, Native, only_text


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
        media: bool = True,
        limits: MediaLimits = OPENAI,
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
        self._limits = limits if media else None  # None: a text-only model gets placeholders for every item

    def answer(self, request: AIRequest) -> str:
        """Send system prompt, history and burst; return choices[0].message.content, or raise PermanentError."""
        chat = conversation(request)
        messages: list[dict[str, Any]] = [{"role": "system", "content": chat.system}] if chat.system else []
        messages += [{"role": turn.role, "content": self._turn_content(turn)} for turn in chat.turns]
        body = {"model": self._model, "messages": messages, **self._options}
        key = self._api_key()  # read per answer, so a rotated secret is picked up
        headers = {"Authorization": f"Bearer {key}"} if key else {}

        try:
            response = post_with_attempts(
                lambda: self._client.post(self._url, json=body, headers=headers, timeout=self._timeout),
                attempts=self._max_attempts,
                sleep=self._sleep,
            )
        except Refused as e:
            raise PermanentError(f"{self._name}: {e.failure}, permanent") from e
        except GaveUp as e:
            raise PermanentError(f"{self._name}: {e}") from e
        return self._content(response)

    def _turn_content(self, turn: ChatTurn) -> str | list[dict[str, Any]]:
        """A string, as every OpenAI-compatible server reads; a list of parts in burst order only when it carries an
        image or a file, so a text-only model never sees the list form."""
        items = fitted(turn, self._limits)
        text = only_text(items)
        if text is not None:
            return text
        return [_part(item) if isinstance(item, Native) else {"type": "text", "text": item.text} for item in items]

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


def _part(item: Native) -> dict[str, Any]:
    """An image_url part, or a file part (Chat Completions reads PDFs only), with the bytes in a base64 data URL."""
    url = f"data:{item.format};base64,{base64.b64encode(item.part.data).decode('ascii')}"
    if item.category == "image":
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": "file", "file": {"filename": item.part.filename or "document.pdf", "file_data": url}}
