"""BedrockAI against a real bedrock-runtime client: Stubber checks each Converse request against the service model."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from pytest_httpserver import HTTPServer

from debouncer.adapters.ai_bedrock import BedrockAI
from debouncer.config import Settings
from debouncer.errors import PermanentError
from debouncer.ports import AIRequest, HistoryEntry
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
