"""OpenAICompatibleAI against a local fake chat-completions endpoint (pytest-httpserver)."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from dataclasses import replace
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.adapters.ai_openai import MAX_DELAY_SECONDS, OpenAICompatibleAI
from debouncer.config import Settings
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest, HistoryEntry
from debouncer.media.limits import OPENAI
from debouncer.media.model import MediaPart, TextPart
from debouncer.wiring import build_ai
from tests.builders import inbound

PATH = "/v1/chat/completions"
KEY = "sk-test-secret-123"


REQUEST = AIRequest(
    system_prompt="Answer briefly.",
    messages=(inbound("3", "first line"), inbound("4", "second line")),
    history=(HistoryEntry("old question", "old answer"), HistoryEntry("newer question", "newer answer")),
)


def _completion(content: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }


class Sleeps:
    """Records the backoff instead of waiting it out."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _ai(httpserver: HTTPServer, sleeps: Sleeps, *, key: str | None = KEY, **options: Any) -> OpenAICompatibleAI:
    settings: dict[str, Any] = {"timeout_seconds": 5.0, "max_attempts": 3, **options}
    # The trailing slash is how people paste base URLs; it must not double up.
    return OpenAICompatibleAI(httpserver.url_for("/v1/"), "gpt-test", lambda: key, sleep=sleeps, **settings)


def test_posts_system_prompt_history_in_order_and_the_burst_last(httpserver: HTTPServer) -> None:
    expected = {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "old question"},
            {"role": "assistant", "content": "old answer"},
            {"role": "user", "content": "newer question"},
            {"role": "assistant", "content": "newer answer"},
            {"role": "user", "content": "first line\nsecond line"},
        ],
        "max_tokens": 300,
        "temperature": 0.5,
    }
    httpserver.expect_oneshot_request(
        PATH, method="POST", json=expected, headers={"Authorization": f"Bearer {KEY}"}
    ).respond_with_json(_completion("  The answer.\n"))
    sleeps = Sleeps()

    ai = _ai(httpserver, sleeps, max_tokens=300, temperature=0.5)

    assert ai.uses_history
    assert ai.answer(REQUEST) == "The answer."
    assert len(httpserver.log) == 1
    assert httpserver.log[0][0].headers["Content-Type"] == "application/json"
    assert sleeps.calls == []


def test_sends_no_authorization_and_no_options_when_none_are_configured(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(_completion("hi"))

    assert _ai(httpserver, Sleeps(), key=None).answer(REQUEST) == "hi"

    request = httpserver.log[0][0]
    assert "Authorization" not in request.headers
    assert set(json.loads(request.data)) == {"model", "messages"}


def test_honours_retry_after_on_429_then_succeeds(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_json(
        {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
        status=429,
        headers={"Retry-After": "7"},
    )
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_json(_completion("after the wait"))
    sleeps = Sleeps()

    assert _ai(httpserver, sleeps).answer(REQUEST) == "after the wait"

    assert sleeps.calls == [7.0]
    assert len(httpserver.log) == 2


def test_caps_a_long_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_data("", status=503, headers={"Retry-After": "3600"})
    httpserver.expect_ordered_request(PATH).respond_with_json(_completion("ok"))
    sleeps = Sleeps()

    assert _ai(httpserver, sleeps).answer(REQUEST) == "ok"

    assert sleeps.calls == [MAX_DELAY_SECONDS]


def test_honours_retry_after_given_as_an_http_date(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_data(
        "", status=429, headers={"Retry-After": formatdate(time.time() + 10, usegmt=True)}
    )
    httpserver.expect_ordered_request(PATH).respond_with_json(_completion("ok"))
    sleeps = Sleeps()

    assert _ai(httpserver, sleeps).answer(REQUEST) == "ok"

    assert len(sleeps.calls) == 1
    assert 8 <= sleeps.calls[0] <= 10


def test_server_errors_until_attempts_run_out_give_a_permanent_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data("upstream down", status=500)
    sleeps = Sleeps()

    with pytest.raises(PermanentError) as raised:
        _ai(httpserver, sleeps, max_attempts=4).answer(REQUEST)

    assert type(raised.value) is PermanentError  # Step Functions matches the exact class name
    assert str(raised.value) == (
        f"OpenAI-compatible {httpserver.host} model gpt-test: HTTP 500, gave up after 4 attempt(s)"
    )
    assert len(httpserver.log) == 4
    # Backoff between attempts only, growing, jittered and bounded.
    assert len(sleeps.calls) == 3
    assert all(0 <= delay <= bound for delay, bound in zip(sleeps.calls, (0.5, 1.0, 2.0), strict=True))


def test_a_slow_server_times_out_each_attempt_then_gives_up(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response(json.dumps(_completion("too late")), content_type="application/json")

    httpserver.expect_request(PATH, method="POST").respond_with_handler(slow)
    sent: list[httpx.Request] = []
    client = httpx.Client(event_hooks={"request": [sent.append]})
    sleeps = Sleeps()

    started = time.monotonic()
    with pytest.raises(PermanentError) as raised:
        _ai(httpserver, sleeps, timeout_seconds=0.3, max_attempts=2, client=client).answer(REQUEST)
    elapsed = time.monotonic() - started

    assert str(raised.value).endswith("ReadTimeout, gave up after 2 attempt(s)")
    assert len(sent) == 2
    assert len(sleeps.calls) == 1
    assert elapsed < 1.5  # two 0.3 s timeouts, not two full 0.6 s answers
    # The fake server handles one request at a time: let it finish both, so nothing spills into the next test.
    deadline = time.monotonic() + 5
    while len(httpserver.log) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(httpserver.log) == 2


def test_an_unreachable_server_is_retried_then_a_permanent_error_without_the_url() -> None:
    # GIVEN a port nobody listens on, in a base URL that carries credentials
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://user:hunter2@127.0.0.1:{port}/v1"
    sleeps = Sleeps()

    with pytest.raises(PermanentError) as raised:
        OpenAICompatibleAI(url, "m", lambda: KEY, timeout_seconds=1, max_attempts=2, sleep=sleeps).answer(REQUEST)

    assert str(raised.value) == "OpenAI-compatible 127.0.0.1 model m: ConnectError, gave up after 2 attempt(s)"
    assert len(sleeps.calls) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_fail_at_once_naming_the_code_but_never_the_key(httpserver: HTTPServer, status: int) -> None:
    # OpenAI quotes part of a wrong key in its error message: only the machine-readable code may be repeated.
    error = {
        "error": {"message": f"Incorrect API key: {KEY}", "type": "invalid_request_error", "code": "invalid_api_key"}
    }
    httpserver.expect_request(PATH, method="POST").respond_with_json(error, status=status)
    sleeps = Sleeps()

    with pytest.raises(PermanentError) as raised:
        _ai(httpserver, sleeps).answer(REQUEST)

    assert str(raised.value) == (
        f"OpenAI-compatible {httpserver.host} model gpt-test: HTTP {status} invalid_api_key, permanent"
    )
    assert KEY not in str(raised.value)
    assert len(httpserver.log) == 1
    assert sleeps.calls == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"id": "x", "object": "chat.completion"}, "malformed response (HTTP 200)"),
        ({"choices": []}, "malformed response (HTTP 200)"),
        ("not json", "malformed response (HTTP 200)"),
        (_completion(None), "empty answer, finish_reason stop"),
        (_completion("   "), "empty answer, finish_reason stop"),
    ],
)
def test_a_malformed_or_empty_response_is_a_permanent_error(
    httpserver: HTTPServer, body: dict[str, Any] | str, expected: str
) -> None:
    if isinstance(body, str):
        httpserver.expect_request(PATH).respond_with_data(body, content_type="application/json")
    else:
        httpserver.expect_request(PATH).respond_with_json(body)

    with pytest.raises(PermanentError, match=re.escape(f"model gpt-test: {expected}") + "$"):
        _ai(httpserver, Sleeps()).answer(REQUEST)

    assert len(httpserver.log) == 1


PHOTO = MediaPart("image", "image/jpg", b"\xff\xd8\xff photo")
MANUAL = MediaPart("document", "application/pdf", b"%PDF-1.7 manual", "manual.pdf")
MEDIA_REQUEST = AIRequest(
    system_prompt="",
    messages=(inbound("1", "what is wrong?"), inbound("2", "manual attached")),
    history=(HistoryEntry("old question", "old answer"),),
    parts=(
        TextPart("what is wrong?"),
        PHOTO,
        TextPart("[voice, transcribed] it beeps twice"),
        MANUAL,
        TextPart("manual attached"),
    ),
)


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _sent_burst(httpserver: HTTPServer) -> Any:
    return json.loads(httpserver.log[-1][0].data)["messages"][-1]


def test_a_burst_with_media_is_one_user_message_of_parts_in_order_with_data_urls(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(_completion("Replace the filter."))

    assert _ai(httpserver, Sleeps()).answer(MEDIA_REQUEST) == "Replace the filter."

    messages = json.loads(httpserver.log[0][0].data)["messages"]
    assert messages[:2] == [
        {"role": "user", "content": "old question"},
        {"role": "assistant", "content": "old answer"},
    ]
    assert messages[2] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is wrong?"},
            {"type": "image_url", "image_url": {"url": _data_url("image/jpeg", PHOTO.data)}},
            {"type": "text", "text": "[voice, transcribed] it beeps twice"},
            {
                "type": "file",
                "file": {"filename": "manual.pdf", "file_data": _data_url("application/pdf", MANUAL.data)},
            },
            {"type": "text", "text": "manual attached"},
        ],
    }


def test_plain_text_files_are_inlined_and_other_documents_become_placeholders(httpserver: HTTPServer) -> None:
    # GIVEN a text file, a Word document (Chat Completions reads only PDF files) and an image over 20 MB
    notes = MediaPart("document", "text/plain; charset=utf-8", b"gate code 4411", "notes.txt")
    letter = MediaPart("document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK")
    huge = MediaPart("image", "image/png", b"p" * 20_000_001)
    request = AIRequest(
        system_prompt="",
        messages=(inbound("1", "see these"),),
        parts=(TextPart("see these"), notes, letter, huge, PHOTO),
    )
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(_completion("ok"))

    assert _ai(httpserver, Sleeps()).answer(request) == "ok"

    assert _sent_burst(httpserver)["content"] == [
        {
            "type": "text",
            "text": 'see these\n[document "notes.txt", its text follows]\ngate code 4411\n'
            '[end of document "notes.txt"]\n'
            "[document 2 bytes: application/vnd.openxmlformats-officedocument.wordprocessingml.document is a format "
            "this model cannot read, not shown]\n"
            "[image 20.0 MB: over this model's 20 MB limit, not shown]",
        },
        {"type": "image_url", "image_url": {"url": _data_url("image/jpeg", PHOTO.data)}},
    ]


def test_items_past_the_per_request_caps_become_placeholders(httpserver: HTTPServer) -> None:
    # GIVEN a provider whose server takes 2 images a request (vLLM's --limit-mm-per-prompt, say)
    two = replace(OPENAI, images=replace(OPENAI.images, max_count=2))
    photos = [MediaPart("image", "image/webp", bytes([i])) for i in range(3)]
    request = AIRequest(system_prompt="", messages=(inbound("1", "three"),), parts=(TextPart("three"), *photos))
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(_completion("ok"))

    assert _ai(httpserver, Sleeps(), limits=two).answer(request) == "ok"

    assert _sent_burst(httpserver)["content"] == [
        {"type": "text", "text": "three"},
        {"type": "image_url", "image_url": {"url": _data_url("image/webp", b"\x00")}},
        {"type": "image_url", "image_url": {"url": _data_url("image/webp", b"\x01")}},
        {"type": "text", "text": "[image 1 byte: over this model's 2 images per request, not shown]"},
    ]


def test_a_burst_whose_media_all_became_text_is_sent_as_a_string(httpserver: HTTPServer) -> None:
    video = MediaPart("video", "video/mp4", b"v" * 10)
    request = AIRequest(system_prompt="", messages=(inbound("1", "clip"),), parts=(video, TextPart("clip")))
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(_completion("ok"))

    assert _ai(httpserver, Sleeps()).answer(request) == "ok"

    assert _sent_burst(httpserver) == {
        "role": "user",
        "content": "[video 10 bytes: video/mp4 is a format this model cannot read, not shown]\nclip",
    }


def test_ai_media_false_sends_only_text_through_build_ai(httpserver: HTTPServer) -> None:
    # GIVEN AI_MEDIA=false (a text-only model behind Ollama, say), wired as process_message wires it
    settings = Settings(
        ai_provider="openai", openai_base_url=httpserver.url_for("/v1"), openai_model="gpt-test", ai_media=False
    )
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(_completion("noted"))

    assert build_ai(settings).answer(MEDIA_REQUEST) == "noted"

    assert _sent_burst(httpserver) == {
        "role": "user",
        "content": "what is wrong?\n"
        "[image 9 bytes: not shown to this text-only model]\n"
        "[voice, transcribed] it beeps twice\n"
        '[document "manual.pdf" 15 bytes: not shown to this text-only model]\n'
        "manual attached",
    }
