"""Amazon Transcribe: a batch job on the stored S3 object, polled for a bounded time, its transcript read from S3."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from debouncer.adapters.transcribers.formats import audio_format
from debouncer.domain.errors import RetryableError
from debouncer.domain.ports import MediaStore
from debouncer.media.model import FetchedMedia, MediaUnavailableError

# Where Transcribe writes its JSON output, in the media bucket (Terraform: PutObject/GetObject on this prefix).
OUTPUT_PREFIX = "transcripts/"
# Errors a later call can get past: throttling, the account's concurrent-job quota, the service's own failures.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "SlowDown",
        "InternalError",
    }
)
POLL_FIRST_SECONDS = 1.0
POLL_MAX_SECONDS = 5.0
_MAX_DETAIL = 200  # AWS messages name the cause; capped, since they reach the AI and the logs


def job_name(media_uri: str) -> str:
    """The one job name of a stored item: a retry finds its job instead of starting another.

    Hashes the whole s3:// URI, bucket included, so two deployments in one account and Region never share a job.
    """
    return f"debouncer-{hashlib.sha256(media_uri.encode()).hexdigest()}"


class AmazonTranscriber:
    """Implements Transcriber with StartTranscriptionJob on store.uri(key), output to the same bucket.

    `max_wait_seconds` bounds one transcribe(): a job still running then raises RetryableError, and the state
    machine's retry finds the same job (by name) rather than starting another.
    """

    def __init__(
        self,
        transcribe: Any,
        s3: Any,
        store: MediaStore,
        *,
        max_wait_seconds: float,
        language_code: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._transcribe = transcribe
        self._s3 = s3
        self._store = store
        self._max_wait = max_wait_seconds
        self._language_code = language_code
        self._clock = clock
        self._sleep = sleep

    def transcribe(self, key: str, media: FetchedMedia) -> str:
        """The spoken text of the object stored under `key` (Transcribe reads it from S3, not from `media`)."""
        media_format = audio_format(media)
        uri = self._store.uri(key)
        bucket = _bucket_of(uri)
        name = job_name(uri)
        output_key = f"{OUTPUT_PREFIX}{name}.json"
        self._start(name, uri, media_format, bucket, output_key)
        job = self._wait(name)
        if job.get("TranscriptionJobStatus") == "FAILED":
            reason = str(job.get("FailureReason") or "no reason given")[:_MAX_DETAIL]
            raise MediaUnavailableError(f"Amazon Transcribe failed: {reason}")
        return self._read(*(_transcript_location(job) or (bucket, output_key)))

    def _start(self, name: str, uri: str, media_format: str, bucket: str, output_key: str) -> None:
        language: dict[str, Any] = (
            {"LanguageCode": self._language_code} if self._language_code else {"IdentifyLanguage": True}
        )
        try:
            self._transcribe.start_transcription_job(
                TranscriptionJobName=name,
                Media={"MediaFileUri": uri},
                MediaFormat=media_format,
                OutputBucketName=bucket,
                OutputKey=output_key,
                **language,
            )
        except ClientError as e:
            if _code(e) != "ConflictException":  # an earlier attempt started it: wait for that one
                raise _failure("StartTranscriptionJob", e) from e
        except BotoCoreError as e:
            raise _boto_failure("StartTranscriptionJob", e) from e

    def _wait(self, name: str) -> dict[str, Any]:
        """The job once COMPLETED or FAILED, polling with backoff; RetryableError when it outlasts max_wait."""
        deadline = self._clock() + self._max_wait
        delay = POLL_FIRST_SECONDS
        while True:
            try:
                job: dict[str, Any] = self._transcribe.get_transcription_job(TranscriptionJobName=name)[
                    "TranscriptionJob"
                ]
            except ClientError as e:
                raise _failure("GetTranscriptionJob", e) from e
            except BotoCoreError as e:
                raise _boto_failure("GetTranscriptionJob", e) from e
            status = job.get("TranscriptionJobStatus")
            if status in ("COMPLETED", "FAILED"):
                return job
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise RetryableError(f"Amazon Transcribe job still {status} after {self._max_wait:g} s")
            self._sleep(min(delay, remaining))
            delay = min(delay * 2, POLL_MAX_SECONDS)

    def _read(self, bucket: str, key: str) -> str:
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as e:
            raise _failure("reading the transcript", e) from e
        except BotoCoreError as e:
            raise _boto_failure("reading the transcript", e) from e
        try:
            text = json.loads(body)["results"]["transcripts"][0]["transcript"]
        except (ValueError, LookupError, TypeError) as e:
            raise MediaUnavailableError("Amazon Transcribe: malformed transcript file") from e
        if not isinstance(text, str):
            raise MediaUnavailableError("Amazon Transcribe: malformed transcript file")
        if not text.strip():
            raise MediaUnavailableError("Amazon Transcribe: no speech recognised")
        return text.strip()


def _bucket_of(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"the media store gave no s3:// URI: {uri[:100]}")
    return parts.netloc


def _transcript_location(job: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, key) of TranscriptFileUri, a path-style S3 URL (https://s3.<region>.amazonaws.com/<bucket>/<key>)."""
    uri = (job.get("Transcript") or {}).get("TranscriptFileUri")
    if not isinstance(uri, str):
        return None
    parts = urlsplit(uri)
    bucket, _, key = parts.path.lstrip("/").partition("/")
    if parts.scheme != "https" or not (parts.hostname or "").startswith("s3") or not bucket or not key:
        return None
    return bucket, unquote(key)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _failure(what: str, error: ClientError) -> Exception:
    """Throttling, quotas and 5xx: RetryableError; anything else (bad media, access denied): MediaUnavailableError."""
    code = _code(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500):
        return RetryableError(f"Amazon Transcribe {what}: {code}")
    message = str(error.response.get("Error", {}).get("Message", ""))[:_MAX_DETAIL]
    return MediaUnavailableError(f"Amazon Transcribe {what}: {code} {message}".rstrip())


def _boto_failure(what: str, error: BotoCoreError) -> Exception:
    # The class name only: botocore's message holds the endpoint URL, and says nothing more useful.
    if isinstance(error, ConnectionError | HTTPClientError):
        return RetryableError(f"Amazon Transcribe {what}: {type(error).__name__}")
    return MediaUnavailableError(f"Amazon Transcribe {what}: {type(error).__name__}")
