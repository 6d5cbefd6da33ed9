"""Transcribers: the OpenAI-compatible one against a local fake (pytest-httpserver), Amazon Transcribe on moto."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api import state_manager
from moto.transcribe.models import transcribe_backends
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.adapters.http_retry import MAX_DELAY_SECONDS
from debouncer.adapters.secrets import Secrets
from debouncer.adapters.transcribers import build_transcriber
from debouncer.adapters.transcribers.aws import OUTPUT_PREFIX, AmazonTranscriber, job_name
from debouncer.adapters.transcribers.openai import OpenAICompatibleTranscriber
from debouncer.config import Settings
from debouncer.domain.errors import RetryableError
from debouncer.media.model import FetchedMedia, MediaUnavailableError

PATH = "/v1/audio/transcriptions"
KEY = "sk-transcribe-secret-123"
OGG = b"OggS\x00\x02" + b"\x01" * 64  # the first bytes of an Ogg page; the fake never decodes it
VOICE = FetchedMedia(OGG, "audio/ogg; codecs=opus")
REGION = "us-east-1"
BUCKET = "media-bucket"
MEDIA_KEY = "ab/ab12cd34"


class Sleeps:
    """Records the backoff instead of waiting it out."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Clock:
    """A monotonic clock that moves only when the adapter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --- OpenAI-compatible ---------------------------------------------------------------------------------------------


class Captured:
    """What the fake endpoint received, read inside the handler (werkzeug consumes the multipart stream once)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def handler(self, text: str) -> Any:
        def respond(request: Request) -> Response:
            upload = request.files["file"]
            self.requests.append(
                {
                    "content_type": request.mimetype,
                    "authorization": request.headers.get("Authorization"),
                    "form": dict(request.form),
                    "files": list(request.files),
                    "filename": upload.filename,
                    "file_type": upload.mimetype,
                    "data": upload.read(),
                }
            )
            return Response(json.dumps({"text": text}), content_type="application/json")

        return respond


def _openai(httpserver: HTTPServer, sleeps: Sleeps, *, key: str | None = KEY, **options: Any) -> Any:
    settings: dict[str, Any] = {"timeout_seconds": 5.0, "max_attempts": 3, **options}
    # The trailing slash is how people paste base URLs; it must not double up.
    return OpenAICompatibleTranscriber(httpserver.url_for("/v1/"), "whisper-1", lambda: key, sleep=sleeps, **settings)


@pytest.mark.parametrize(
    ("mime_type", "data", "filename"),
    [
        ("audio/ogg; codecs=opus", OGG, "audio.ogg"),  # WhatsApp voice note
        ("audio/ogg", OGG, "audio.ogg"),  # Telegram voice
        ("audio/mpeg", b"ID3\x04rest", "audio.mp3"),
        ("audio/mp4", b"\x00\x00\x00\x20ftypM4A ", "audio.m4a"),
        ("audio/x-m4a", b"\x00\x00\x00\x20ftypM4A ", "audio.m4a"),
        ("audio/wav", b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio.wav"),
        ("audio/webm", b"\x1a\x45\xdf\xa3rest", "audio.webm"),
        ("audio/amr", b"#!AMR\nrest", "audio.amr"),
        ("application/octet-stream", OGG, "audio.ogg"),  # a sender that did not say: the bytes tell
    ],
)
def test_posts_the_exact_multipart_request_and_returns_the_text(
    httpserver: HTTPServer, mime_type: str, data: bytes, filename: str
) -> None:
    captured = Captured()
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_handler(
        captured.handler(" Move it to Friday.\n")
    )
    sleeps = Sleeps()

    text = _openai(httpserver, sleeps).transcribe(MEDIA_KEY, FetchedMedia(data, mime_type))

    assert text == "Move it to Friday."
    assert captured.requests == [
        {
            "content_type": "multipart/form-data",
            "authorization": f"Bearer {KEY}",
            "form": {"model": "whisper-1"},
            "files": ["file"],
            "filename": filename,
            "file_type": mime_type.split(";")[0],
            "data": data,
        }
    ]
    assert sleeps.calls == []


def test_sends_no_authorization_when_no_key_is_configured(httpserver: HTTPServer) -> None:
    # Self-hosted Whisper servers usually run without a key.
    captured = Captured()
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_handler(captured.handler("hello"))

    assert _openai(httpserver, Sleeps(), key=None).transcribe(MEDIA_KEY, VOICE) == "hello"

    assert captured.requests[0]["authorization"] is None


def test_a_server_error_is_retried_then_succeeds(httpserver: HTTPServer) -> None:
    captured = Captured()
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data("upstream down", status=500)
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_handler(captured.handler("second time"))
    sleeps = Sleeps()

    assert _openai(httpserver, sleeps).transcribe(MEDIA_KEY, VOICE) == "second time"

    assert len(httpserver.log) == 2  # two attempts
    assert captured.requests[0]["data"] == OGG  # the retry sends the whole file again
    assert len(sleeps.calls) == 1
    assert 0 <= sleeps.calls[0] <= 0.5  # jittered first backoff


def test_server_errors_until_attempts_run_out_are_retryable_without_the_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data(f"bad key {KEY}", status=503)
    sleeps = Sleeps()

    with pytest.raises(RetryableError) as raised:
        _openai(httpserver, sleeps, max_attempts=3).transcribe(MEDIA_KEY, VOICE)

    assert type(raised.value) is RetryableError  # Step Functions matches the exact class name
    assert str(raised.value) == (
        f"transcription at {httpserver.host} model whisper-1: HTTP 503, gave up after 3 attempt(s)"
    )
    assert len(httpserver.log) == 3
    assert len(sleeps.calls) == 2


def test_a_rate_limit_honours_retry_after_and_hands_it_to_the_state_machine(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(
        {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}, status=429, headers={"Retry-After": "90"}
    )
    sleeps = Sleeps()

    with pytest.raises(RetryableError) as raised:
        _openai(httpserver, sleeps, max_attempts=2).transcribe(MEDIA_KEY, VOICE)

    assert str(raised.value).endswith("HTTP 429 rate_limit_exceeded, gave up after 2 attempt(s)")
    assert raised.value.retry_after == 90.0
    assert sleeps.calls == [MAX_DELAY_SECONDS]


@pytest.mark.parametrize("status", [400, 401, 413, 415])
def test_a_client_error_is_permanent_at_once_and_never_quotes_the_key(
    httpserver: HTTPServer, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    # OpenAI quotes part of a wrong key in its error message: only the machine-readable code may be repeated.
    error = {"error": {"message": f"Invalid file format. Key {KEY}", "type": "invalid_request_error", "code": None}}
    httpserver.expect_request(PATH, method="POST").respond_with_json(error, status=status)
    sleeps = Sleeps()

    with pytest.raises(MediaUnavailableError) as raised:
        _openai(httpserver, sleeps).transcribe(MEDIA_KEY, VOICE)

    assert (
        str(raised.value) == f"transcription at {httpserver.host} model whisper-1: HTTP {status} invalid_request_error"
    )
    assert KEY not in str(raised.value)
    assert KEY not in caplog.text
    assert len(httpserver.log) == 1
    assert sleeps.calls == []


def test_an_unreachable_server_is_retryable_and_names_only_the_host() -> None:
    # GIVEN a port nobody listens on, in a base URL that carries credentials
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    transcriber = OpenAICompatibleTranscriber(
        f"http://user:hunter2@127.0.0.1:{port}/v1", "m", lambda: KEY, timeout_seconds=1, max_attempts=2, sleep=sleeps
    )

    with pytest.raises(RetryableError) as raised:
        transcriber.transcribe(MEDIA_KEY, VOICE)

    assert str(raised.value) == "transcription at 127.0.0.1 model m: ConnectError, gave up after 2 attempt(s)"
    assert len(sleeps.calls) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"text": "   "}, "no speech recognised"),
        ({"transcript": "x"}, "malformed response (HTTP 200)"),
        ({"text": None}, "malformed response (HTTP 200)"),
    ],
)
def test_an_empty_or_malformed_answer_is_unavailable(
    httpserver: HTTPServer, body: dict[str, Any], expected: str
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(body)

    with pytest.raises(MediaUnavailableError) as raised:
        _openai(httpserver, Sleeps()).transcribe(MEDIA_KEY, VOICE)

    assert str(raised.value).endswith(f"model whisper-1: {expected}")
    assert len(httpserver.log) == 1


def test_an_unknown_audio_type_is_refused_without_a_request(httpserver: HTTPServer) -> None:
    with pytest.raises(MediaUnavailableError, match=r"^unsupported audio type audio/x-caf$"):
        _openai(httpserver, Sleeps()).transcribe(MEDIA_KEY, FetchedMedia(b"caff\x00\x01", "audio/x-caf"))

    assert httpserver.log == []


# --- Amazon Transcribe (moto) --------------------------------------------------------------------------------------
#
# What moto's Transcribe does (5.2.5): each GetTranscriptionJob moves a job one step, QUEUED -> IN_PROGRESS ->
# COMPLETED (the "manual, 1" transition, set below so no other test's choice leaks in); at COMPLETED it reports
# TranscriptFileUri https://s3.<region>.amazonaws.com/<OutputBucketName>/<OutputKey> but writes no file there, and it
# never fails a job. So these tests put the transcript JSON where the job says it is, as Amazon Transcribe would, and
# fail a job through moto's backend; moto's GetTranscriptionJob leaves FailureReason out, so the reason is tested with
# a botocore Stubber.


class BucketStore:
    """The MediaStore's uri(): the transcriber needs nothing else from the store (it reads from S3 itself)."""

    def uri(self, key: str) -> str:
        return f"s3://{BUCKET}/media/{key}"

    def put(self, key: str, media: FetchedMedia) -> None:
        raise AssertionError("the transcriber never stores")

    def get(self, key: str) -> FetchedMedia | None:
        raise AssertionError("the transcriber never reads the store")


MEDIA_URI = BucketStore().uri(MEDIA_KEY)
JOB = job_name(MEDIA_URI)


def _transcript(text: str) -> bytes:
    """Amazon Transcribe's output file, trimmed to what matters."""
    return json.dumps(
        {
            "jobName": JOB,
            "accountId": DEFAULT_ACCOUNT_ID,
            "status": "COMPLETED",
            "results": {"transcripts": [{"transcript": text}], "items": []},
        }
    ).encode()


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    """moto's Transcribe and S3 with the media bucket holding one voice note; jobs advance one step per Get."""
    state_manager.set_transition(
        model_name="transcribe::transcriptionjob", transition={"progression": "manual", "times": 1}
    )
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key=f"media/{MEDIA_KEY}", Body=OGG, ContentType=VOICE.mime_type)
            yield boto3.client("transcribe", region_name=REGION), s3
    finally:
        state_manager.unset_transition("transcribe::transcriptionjob")


def _amazon(transcribe: Any, s3: Any, clock: Clock, *, max_wait: float = 30.0, **options: Any) -> AmazonTranscriber:
    return AmazonTranscriber(
        transcribe, s3, BucketStore(), max_wait_seconds=max_wait, clock=clock, sleep=clock.sleep, **options
    )


def _jobs() -> dict[str, Any]:
    return transcribe_backends[DEFAULT_ACCOUNT_ID][REGION].transcriptions


def test_amazon_transcribe_polls_with_backoff_and_reads_the_transcript_where_the_job_wrote_it(
    aws: tuple[Any, Any],
) -> None:
    transcribe, s3 = aws
    s3.put_object(Bucket=BUCKET, Key=f"{OUTPUT_PREFIX}{JOB}.json", Body=_transcript("Can we move it to Friday?"))
    clock = Clock()

    text = _amazon(transcribe, s3, clock).transcribe(MEDIA_KEY, VOICE)

    assert text == "Can we move it to Friday?"
    assert clock.sleeps == [1.0, 2.0]  # QUEUED, IN_PROGRESS, COMPLETED
    job = transcribe.get_transcription_job(TranscriptionJobName=JOB)["TranscriptionJob"]
    assert job["Media"] == {"MediaFileUri": f"s3://{BUCKET}/media/{MEDIA_KEY}"}
    assert job["MediaFormat"] == "ogg"
    assert job["IdentifyLanguage"] is True
    # The file read is the one the job names.
    assert (
        job["Transcript"]["TranscriptFileUri"] == f"https://s3.{REGION}.amazonaws.com/{BUCKET}/transcripts/{JOB}.json"
    )


def test_a_retry_finds_the_running_job_instead_of_starting_another(aws: tuple[Any, Any]) -> None:
    transcribe, s3 = aws
    clock = Clock()

    # WHEN the first attempt's time runs out while the job is still running
    with pytest.raises(RetryableError, match=r"^Amazon Transcribe job still IN_PROGRESS after 0.5 s$"):
        _amazon(transcribe, s3, clock, max_wait=0.5).transcribe(MEDIA_KEY, VOICE)
    assert clock.sleeps == [0.5]  # never sleeps past its bound, and looks once more at the end of it

    # AND the job completes (this Get moves moto's job its last step), writing where it says it did
    done = transcribe.get_transcription_job(TranscriptionJobName=JOB)["TranscriptionJob"]
    assert done["TranscriptionJobStatus"] == "COMPLETED"
    location = done["Transcript"]["TranscriptFileUri"]
    bucket, _, key = location.removeprefix(f"https://s3.{REGION}.amazonaws.com/").partition("/")
    assert (bucket, key) == (BUCKET, f"{OUTPUT_PREFIX}{JOB}.json")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=OUTPUT_PREFIX)["KeyCount"] == 0  # moto wrote nothing
    s3.put_object(Bucket=bucket, Key=key, Body=_transcript("  Friday works.  "))

    # THEN the state machine's retry (a fresh adapter, as in a new Lambda) reads that job's transcript
    assert _amazon(transcribe, s3, Clock()).transcribe(MEDIA_KEY, VOICE) == "Friday works."
    # AND only one job was ever started
    assert [j["TranscriptionJobName"] for j in transcribe.list_transcription_jobs()["TranscriptionJobSummaries"]] == [
        JOB
    ]


def test_a_configured_language_replaces_identification(aws: tuple[Any, Any]) -> None:
    transcribe, s3 = aws
    s3.put_object(Bucket=BUCKET, Key=f"{OUTPUT_PREFIX}{JOB}.json", Body=_transcript("hola"))

    assert _amazon(transcribe, s3, Clock(), language_code="es-ES").transcribe(MEDIA_KEY, VOICE) == "hola"

    job = _jobs()[JOB]
    assert (job.language_code, job.identify_language) == ("es-ES", None)
    assert (job._output_bucket_name, job.output_key) == (BUCKET, f"{OUTPUT_PREFIX}{JOB}.json")


def test_a_failed_job_makes_the_item_unavailable_and_reads_nothing(aws: tuple[Any, Any]) -> None:
    transcribe, s3 = aws
    # GIVEN an earlier attempt's job, which Amazon Transcribe failed (moto never fails one: its backend does it here)
    transcribe.start_transcription_job(
        TranscriptionJobName=JOB, Media={"MediaFileUri": MEDIA_URI}, MediaFormat="ogg", IdentifyLanguage=True
    )
    _jobs()[JOB].status = "FAILED"

    with pytest.raises(MediaUnavailableError, match=r"^Amazon Transcribe failed: no reason given$"):
        _amazon(transcribe, s3, Clock()).transcribe(MEDIA_KEY, VOICE)

    assert len(_jobs()) == 1


def test_a_failed_jobs_reason_is_told() -> None:
    transcribe = boto3.client("transcribe", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    reason = "The media format that you specified doesn't match the detected media format."
    with Stubber(transcribe) as stub:
        stub.add_response("start_transcription_job", {})
        stub.add_response(
            "get_transcription_job",
            {
                "TranscriptionJob": {
                    "TranscriptionJobName": JOB,
                    "TranscriptionJobStatus": "FAILED",
                    "FailureReason": reason,
                }
            },
            {"TranscriptionJobName": JOB},
        )
        with pytest.raises(MediaUnavailableError) as raised:
            _amazon(transcribe, None, Clock()).transcribe(MEDIA_KEY, VOICE)
        stub.assert_no_pending_responses()

    assert str(raised.value) == f"Amazon Transcribe failed: {reason}"


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("LimitExceededException", 400, RetryableError),  # the account's concurrent-job quota: later, it fits
        ("InternalFailureException", 500, RetryableError),
        ("BadRequestException", 400, MediaUnavailableError),  # e.g. the media cannot be read
    ],
)
def test_start_errors_are_mapped(code: str, status: int, error: type[Exception]) -> None:
    transcribe = boto3.client("transcribe", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(transcribe) as stub:
        stub.add_client_error("start_transcription_job", code, "what went wrong", status)
        with pytest.raises(error) as raised:
            _amazon(transcribe, None, Clock()).transcribe(MEDIA_KEY, VOICE)

    assert type(raised.value) is error
    assert str(raised.value).startswith(f"Amazon Transcribe StartTranscriptionJob: {code}")


def test_a_completed_job_without_its_file_is_unavailable(aws: tuple[Any, Any]) -> None:
    transcribe, s3 = aws

    with pytest.raises(MediaUnavailableError, match=r"^Amazon Transcribe reading the transcript: NoSuchKey"):
        _amazon(transcribe, s3, Clock()).transcribe(MEDIA_KEY, VOICE)


def test_an_unknown_audio_type_starts_no_job(aws: tuple[Any, Any]) -> None:
    transcribe, s3 = aws

    with pytest.raises(MediaUnavailableError, match=r"^unsupported audio type text/plain$"):
        _amazon(transcribe, s3, Clock()).transcribe(MEDIA_KEY, FetchedMedia(b"hello", "text/plain"))

    assert _jobs() == {}


def test_job_names_are_deterministic_valid_and_per_bucket() -> None:
    assert job_name(MEDIA_URI) == JOB
    assert job_name(f"s3://other-bucket/media/{MEDIA_KEY}") != JOB
    assert len(JOB) <= 200
    assert JOB.replace("-", "").isalnum()


# --- build_transcriber ---------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: only what each test passes counts."""
    for name in (
        "TRANSCRIBE_PROVIDER",
        "TRANSCRIBE_BASE_URL",
        "TRANSCRIBE_MODEL",
        "TRANSCRIBE_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "SECRETS_SOURCE",
    ):
        monkeypatch.delenv(name, raising=False)


def _build(**settings: Any) -> Any:
    config = Settings(**settings)
    return build_transcriber(config, Secrets(config), BucketStore())


@pytest.mark.usefixtures("clean_env")
def test_build_none_leaves_voice_notes_as_placeholders() -> None:
    assert _build() is None
    assert _build(transcribe_provider="none", openai_base_url="http://x/v1") is None


@pytest.mark.usefixtures("clean_env")
def test_build_openai_falls_back_to_the_chat_endpoint_and_key(httpserver: HTTPServer) -> None:
    captured = Captured()
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_handler(captured.handler("hi"))

    transcriber = _build(transcribe_provider="openai", openai_base_url=httpserver.url_for("/v1"), openai_api_key=KEY)

    assert isinstance(transcriber, OpenAICompatibleTranscriber)
    assert transcriber.transcribe(MEDIA_KEY, VOICE) == "hi"
    assert captured.requests[0]["authorization"] == f"Bearer {KEY}"
    assert captured.requests[0]["form"] == {"model": "whisper-1"}


@pytest.mark.usefixtures("clean_env")
def test_build_openai_prefers_its_own_endpoint_model_and_key(httpserver: HTTPServer) -> None:
    captured = Captured()
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_handler(captured.handler("hi"))

    transcriber = _build(
        transcribe_provider="openai",
        transcribe_base_url=httpserver.url_for("/v1"),
        transcribe_model="whisper-large-v3",
        transcribe_api_key="gsk-speech",
        openai_base_url="http://127.0.0.1:9/never",
        openai_api_key=KEY,
    )

    assert transcriber.transcribe(MEDIA_KEY, VOICE) == "hi"
    assert captured.requests[0]["authorization"] == "Bearer gsk-speech"
    assert captured.requests[0]["form"] == {"model": "whisper-large-v3"}


@pytest.mark.usefixtures("clean_env")
def test_build_openai_without_any_key_sends_none(httpserver: HTTPServer) -> None:
    captured = Captured()
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_handler(captured.handler("hi"))

    assert _build(transcribe_provider="openai", transcribe_base_url=httpserver.url_for("/v1")).transcribe(
        MEDIA_KEY, VOICE
    )
    assert captured.requests[0]["authorization"] is None


@pytest.mark.usefixtures("clean_env")
def test_build_openai_needs_a_base_url() -> None:
    from debouncer.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="TRANSCRIBE_BASE_URL or OPENAI_BASE_URL"):
        _build(transcribe_provider="openai")


@pytest.mark.usefixtures("clean_env")
def test_build_aws_is_amazon_transcribe_on_the_stores_bucket(aws: tuple[Any, Any]) -> None:
    # Its wait is the AI's per-attempt timeout: a millisecond here, so the test never really sleeps.
    transcriber = _build(transcribe_provider="aws", ai_timeout_seconds=0.001)

    assert isinstance(transcriber, AmazonTranscriber)
    # Its clients reach moto: the job starts on the store's URI, in the settings' Region, and is still queued.
    with pytest.raises(RetryableError, match="still QUEUED"):
        transcriber.transcribe(MEDIA_KEY, VOICE)
    assert _jobs()[JOB].media == {"MediaFileUri": MEDIA_URI}
