"""Any OpenAI-compatible /audio/transcriptions endpoint (OpenAI, Groq, self-hosted Whisper servers)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from debouncer.adapters.http_retry import GaveUp, Refused, post_with_attempts
from debouncer.adapters.transcribers.formats import audio_format
from debouncer.domain.errors import RetryableError
from debouncer.media.model import FetchedMedia, MediaUnavailableError

# The file name's extension is how these services tell the container: OpenAI lists m4a, not mp4, for audio.
_EXTENSIONS = {"mp4": "m4a"}


class OpenAICompatibleTranscriber:
    """Implements Transcriber with a multipart POST {base_url}/audio/transcriptions; base_url includes `/v1`.

    Worst case one transcribe() takes max_attempts * timeout plus the backoff between attempts (each <= 20 s).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: Callable[[], str | None],
        *,
        timeout_seconds: float,
        max_attempts: int,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._url = f"{base_url.rstrip('/')}/audio/transcriptions"
        # Only the host goes into error messages: a base_url may carry credentials, and the message reaches the AI.
        self._name = f"transcription at {httpx.URL(base_url).host} model {model}"
        self._model = model
        self._api_key = api_key
        self._timeout = httpx.Timeout(timeout_seconds)
        self._max_attempts = max_attempts
        self._client = client or httpx.Client()
        self._sleep = sleep

    def transcribe(self, key: str, media: FetchedMedia) -> str:
        """The spoken text; MediaUnavailableError when refused (4xx), RetryableError once the attempts run out."""
        container = audio_format(media)
        files = {"file": (f"audio.{_EXTENSIONS.get(container, container)}", media.data, media.mime_type)}
        data = {"model": self._model}
        key_value = self._api_key()  # read per call, so a rotated secret is picked up
        headers = {"Authorization": f"Bearer {key_value}"} if key_value else {}

        try:
            response = post_with_attempts(
                lambda: self._client.post(self._url, files=files, data=data, headers=headers, timeout=self._timeout),
                attempts=self._max_attempts,
                sleep=self._sleep,
            )
        except Refused as e:
            # Unsupported format, file too large, bad key or model: the same request fails again.
            raise MediaUnavailableError(f"{self._name}: {e.failure}") from e
        except GaveUp as e:
            # The state machine retries process_message later; the stored media is read again, not downloaded.
            raise RetryableError(f"{self._name}: {e}", e.retry_after) from e
        return self._text(response)

    def _text(self, response: httpx.Response) -> str:
        try:
            text = response.json()["text"]
        except (ValueError, LookupError, TypeError) as e:
            raise MediaUnavailableError(f"{self._name}: malformed response (HTTP {response.status_code})") from e
        if not isinstance(text, str):
            raise MediaUnavailableError(f"{self._name}: malformed response (HTTP {response.status_code})")
        if not text.strip():
            raise MediaUnavailableError(f"{self._name}: no speech recognised")
        return text.strip()
