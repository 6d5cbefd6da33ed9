"""BedrockAI against a real bedrock-runtime client: Stubber checks each Converse request against the service model."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from pytest_httpserver import HTTPServer

from debouncer.adapters.ai_bedrock import BedrockAI, document_name
from debouncer.config import Settings
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest, HistoryEntry
from debouncer.media.model import MediaPart, TextPart
from debouncer.wiring import build_ai
from tests.builders import inbound

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


REQUEST = AIRequest(
    system_prompt="Answer briefly.",
    messages=(inbound("3", "and one more"), inbound("4", "thanks")),
    history=(HistoryEntry("earlier question", "earlier answer"), HistoryEntry("later question", "later answer")),
)


def _output(*blocks: dict[str, Any], stop: str = "end_turn") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": list(blocks)}},
        "stopReason": stop,
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 120},
    }


@pytest.fixture
def client() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1", **_CREDENTIALS)


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def test_sends_history_then_burst_with_system_prompt_and_inference_config(client: Any, stubber: Stubber) -> None:
    expected = {
        "modelId": MODEL,
        "messages": [
            {"role": "user", "content": [{"text": "earlier question"}]},
            {"role": "assistant", "content": [{"text": "earlier answer"}]},
            {"role": "user", "content": [{"text": "later question"}]},
            {"role": "assistant", "content": [{"text": "later answer"}]},
            {"role": "user", "content": [{"text": "and one more\nthanks"}]},
        ],
        "system": [{"text": "Answer briefly."}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.2},
    }
    reasoning = {"reasoningContent": {"reasoningText": {"text": "internal", "signature": "sig"}}}
    stubber.add_response("converse", _output(reasoning, {"text": "Hello, "}, {"text": "world."}), expected)

    answer = BedrockAI(client, MODEL, max_tokens=512, temperature=0.2).answer(REQUEST)

    assert answer == "Hello, world."


def test_leaves_out_temperature_and_an_empty_system_prompt(client: Any, stubber: Stubber) -> None:
    expected = {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 64},
    }
    stubber.add_response("converse", _output({"text": "hello"}), expected)

    ai = BedrockAI(client, MODEL, max_tokens=64)

    assert ai.uses_history
    assert ai.answer(AIRequest(system_prompt="", messages=(inbound("1", "hi"),))) == "hello"


@pytest.mark.parametrize(
    ("code", "status", "retries", "expected"),
    [
        ("ThrottlingException", 429, 2, "ThrottlingException (HTTP 429), transient, gave up after 3 attempt(s)"),
        ("ModelTimeoutException", 408, 0, "ModelTimeoutException (HTTP 408), transient, gave up after 1 attempt(s)"),
        ("ValidationException", 400, 0, "ValidationException (HTTP 400), permanent"),
        ("AccessDeniedException", 403, 0, "AccessDeniedException (HTTP 403), permanent"),
        ("ResourceNotFoundException", 404, 0, "ResourceNotFoundException (HTTP 404), permanent"),
        ("ModelErrorException", 424, 0, "ModelErrorException (HTTP 424), permanent"),
    ],
)
def test_service_errors_become_a_permanent_error_naming_code_and_outcome(
    client: Any, stubber: Stubber, code: str, status: int, retries: int, expected: str
) -> None:
    stubber.add_client_error("converse", code, "the reason AWS gives", status, response_meta={"RetryAttempts": retries})

    with pytest.raises(PermanentError) as raised:
        BedrockAI(client, MODEL, max_tokens=64).answer(REQUEST)

    assert type(raised.value) is PermanentError  # Step Functions matches the exact class name
    assert str(raised.value) == f"Bedrock {MODEL}: {expected}: the reason AWS gives"


def test_a_filtered_answer_with_replacement_text_is_returned(client: Any, stubber: Stubber) -> None:
    stubber.add_response("converse", _output({"text": "Sorry, I can't help with that."}, stop="guardrail_intervened"))

    assert BedrockAI(client, MODEL, max_tokens=64).answer(REQUEST) == "Sorry, I can't help with that."


@pytest.mark.parametrize("stop", ["content_filtered", "max_tokens", "end_turn"])
def test_an_empty_answer_is_a_permanent_error_naming_the_stop_reason(client: Any, stubber: Stubber, stop: str) -> None:
    stubber.add_response("converse", _output({"text": "  "}, stop=stop))

    with pytest.raises(PermanentError, match=f"empty answer, stopReason {stop}$"):
        BedrockAI(client, MODEL, max_tokens=64).answer(REQUEST)


def test_an_unreachable_endpoint_is_a_permanent_error_without_the_url() -> None:
    # GIVEN a port nobody listens on, and one attempt
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        config=Config(retries={"max_attempts": 1}),
        **_CREDENTIALS,
    )

    with pytest.raises(PermanentError) as raised:
        BedrockAI(client, MODEL, max_tokens=64).answer(REQUEST)

    assert str(raised.value) == f"Bedrock {MODEL}: EndpointConnectionError, transient, retries exhausted"
    assert url not in str(raised.value)


def test_a_read_timeout_from_the_client_config_is_a_permanent_error() -> None:
    # GIVEN a server that accepts the connection (the kernel's backlog does) and never answers
    with socket.create_server(("127.0.0.1", 0)) as silent:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=0.3, connect_timeout=1),
            **_CREDENTIALS,
        )

        with pytest.raises(PermanentError) as raised:
            BedrockAI(client, MODEL, max_tokens=64).answer(REQUEST)

    assert str(raised.value) == f"Bedrock {MODEL}: ReadTimeoutError, transient, retries exhausted"


@pytest.mark.parametrize("attempts", [1, 2, 3])
def test_ai_max_attempts_counts_calls_not_retries(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, attempts: int
) -> None:
    # GIVEN the client the process_message Lambda builds, pointed at a fake Bedrock that is always unavailable
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", httpserver.url_for(""))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    httpserver.expect_request(f"/model/{MODEL}/converse", method="POST").respond_with_json(
        {"message": "try later"}, status=503, headers={"x-amzn-ErrorType": "ServiceUnavailableException"}
    )
    settings = Settings(ai_provider="bedrock", bedrock_model_id=MODEL, ai_max_attempts=attempts, ai_timeout_seconds=5)

    # WHEN it asks once
    with pytest.raises(PermanentError) as raised:
        build_ai(settings).answer(REQUEST)

    # THEN AI_MAX_ATTEMPTS is the number of calls (botocore's max_attempts would have made one more)
    assert len(httpserver.log) == attempts
    assert f"gave up after {attempts} attempt(s)" in str(raised.value)


PHOTO = MediaPart("image", "image/jpeg", b"\xff\xd8\xff photo")
MANUAL = MediaPart("document", "application/pdf", b"%PDF-1.7 manual", "Manual_v2 (final).pdf")
MEDIA_REQUEST = AIRequest(
    system_prompt="",
    messages=(inbound("1", "what is wrong?"), inbound("2", "manual attached")),
    history=(HistoryEntry("earlier question", "earlier answer"),),
    parts=(
        TextPart("what is wrong?"),
        PHOTO,
        TextPart("[voice, transcribed] it beeps twice"),
        MANUAL,
        TextPart("manual attached"),
    ),
)


def test_a_burst_with_media_is_one_user_message_of_text_image_and_document_blocks_in_order(
    client: Any, stubber: Stubber
) -> None:
    expected = {
        "modelId": MODEL,
        "messages": [
            {"role": "user", "content": [{"text": "earlier question"}]},
            {"role": "assistant", "content": [{"text": "earlier answer"}]},
            {
                "role": "user",
                "content": [
                    {"text": "what is wrong?"},
                    {"image": {"format": "jpeg", "source": {"bytes": PHOTO.data}}},
                    {"text": "[voice, transcribed] it beeps twice"},
                    {"document": {"format": "pdf", "name": "Manual v2 (final)", "source": {"bytes": MANUAL.data}}},
                    {"text": "manual attached"},
                ],
            },
        ],
        "inferenceConfig": {"maxTokens": 64},
    }
    stubber.add_response("converse", _output({"text": "Replace the filter."}), expected)

    assert BedrockAI(client, MODEL, max_tokens=64).answer(MEDIA_REQUEST) == "Replace the filter."


def test_items_over_bedrocks_limits_become_placeholders_and_the_request_still_goes(
    client: Any, stubber: Stubber
) -> None:
    # GIVEN an image over 3.75 MB, a video (no Converse format), 21 images and 6 documents of one name
    big = MediaPart("image", "image/png", b"p" * 3_750_001)
    video = MediaPart("video", "video/mp4", b"v" * 2048)
    images = [MediaPart("image", "image/webp", bytes([i])) for i in range(21)]
    sheets = [MediaPart("document", "text/csv", f"a,{i}".encode(), "prices.csv") for i in range(6)]
    request = AIRequest(system_prompt="", messages=(inbound("1", None),), parts=(big, video, *images, *sheets))
    expected_content = [
        {
            "text": "[image 3.8 MB: over this model's 3.75 MB limit, not shown]\n"
            "[video 2.0 kB: video/mp4 is a format this model cannot read, not shown]"
        },
        *({"image": {"format": "webp", "source": {"bytes": image.data}}} for image in images[:20]),
        {"text": "[image 1 byte: over this model's 20 images per request, not shown]"},
        *(
            {"document": {"format": "csv", "name": name, "source": {"bytes": sheet.data}}}
            for name, sheet in zip(
                ["prices", "prices (2)", "prices (3)", "prices (4)", "prices (5)"], sheets, strict=False
            )
        ),
        {"text": '[document "prices.csv" 3 bytes: over this model\'s 5 documents per request, not shown]'},
    ]
    stubber.add_response(
        "converse",
        _output({"text": "ok"}),
        {"modelId": MODEL, "messages": [{"role": "user", "content": expected_content}], "inferenceConfig": ANY},
    )

    # THEN the answer comes back: no media item fails the request
    assert BedrockAI(client, MODEL, max_tokens=64).answer(request) == "ok"


def test_a_document_without_any_text_gets_the_text_block_converse_requires(client: Any, stubber: Stubber) -> None:
    request = AIRequest(system_prompt="", messages=(inbound("1", None),), parts=(MANUAL,))
    content = [
        {"document": {"format": "pdf", "name": "Manual v2 (final)", "source": {"bytes": MANUAL.data}}},
        {"text": "[sent without any text]"},
    ]
    stubber.add_response(
        "converse",
        _output({"text": "ok"}),
        {"modelId": MODEL, "messages": [{"role": "user", "content": content}], "inferenceConfig": ANY},
    )

    assert BedrockAI(client, MODEL, max_tokens=64).answer(request) == "ok"


@pytest.mark.parametrize(
    ("filename", "kind", "name"),
    [
        ("Q3 report_final.v2.pdf", "document", "Q3 report final v2"),
        ("résumé  ✓.docx", "document", "resume"),
        ("../../etc/passwd", "file", "passwd"),
        ("C:\\Users\\ana\\a.b.xlsx", "file", "a b"),
        ("[draft] - notes.txt", "document", "[draft] - notes"),
        (".pdf", "document", "pdf"),
        ("日本語.pdf", "document", "document"),
        (None, "file", "file"),
        ("x" * 300 + ".pdf", "document", "x" * 190),
    ],
)
def test_document_names_keep_only_what_converse_allows(filename: str | None, kind: str, name: str) -> None:
    part = MediaPart(kind, "application/pdf", b"%PDF", filename)

    assert document_name(part, set()) == name
    assert document_name(part, {name, f"{name} (2)"}) == f"{name} (3)"


def test_ai_media_false_sends_bedrock_only_text(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN process_message's own client, AI_MEDIA=false (a text-only model), and a fake Bedrock
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", httpserver.url_for(""))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    httpserver.expect_oneshot_request(f"/model/{MODEL}/converse", method="POST").respond_with_json(
        _output({"text": "noted"})
    )
    settings = Settings(ai_provider="bedrock", bedrock_model_id=MODEL, ai_media=False)

    assert build_ai(settings).answer(MEDIA_REQUEST) == "noted"

    sent = json.loads(httpserver.log[0][0].data)
    assert sent["messages"][-1] == {
        "role": "user",
        "content": [
            {
                "text": "what is wrong?\n"
                "[image 9 bytes: not shown to this text-only model]\n"
                "[voice, transcribed] it beeps twice\n"
                '[document "Manual_v2 (final).pdf" 15 bytes: not shown to this text-only model]\n'
                "manual attached"
            }
        ],
    }
