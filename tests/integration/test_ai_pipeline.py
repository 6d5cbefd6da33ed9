"""The OpenAI-compatible provider inside the pipeline, against a local fake endpoint: history carried from turn to
turn, the timeout honoured with bounded attempts, and a failed AI answered with the fallback and dead-lettered."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.local.runtime import LocalRuntime
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

COMPLETIONS = "/v1/chat/completions"
FALLBACK = "Sorry, I can't answer right now."

pytestmark = pytest.mark.slow


def _start(start_runtime: RuntimeFactory, server: HTTPServer, **extra: str) -> LocalRuntime:
    return start_runtime(
        AI_PROVIDER="openai",
        OPENAI_BASE_URL=server.url_for("/v1"),
        OPENAI_MODEL="local-model",
        AI_TIMEOUT_SECONDS="1",
        AI_MAX_ATTEMPTS="2",
        **extra,
    )


def _say(runtime: LocalRuntime, user: str, text: str) -> None:
    payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{uuid.uuid4().hex}", text))
    assert post(runtime, "whatsapp", payload)[0] == 200


def _completion(content: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def _ai_requests(server: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(r.get_data()) for r, _ in server.log if r.path == COMPLETIONS]


def test_each_burst_carries_the_earlier_turns_as_history(start_runtime: RuntimeFactory, httpserver: HTTPServer) -> None:
    answers = iter(["first answer", "second answer"])
    httpserver.expect_request(COMPLETIONS, method="POST").respond_with_handler(
        lambda request: Response(json.dumps(_completion(next(answers))), content_type="application/json")
    )
    runtime = _start(start_runtime, httpserver)
    user = f"1555{uuid.uuid4().int % 10**8:08d}"

    _say(runtime, user, "first question")
    wait_for(lambda: replies_to(runtime, user))
    _say(runtime, user, "second question")
    wait_for(lambda: len(replies_to(runtime, user)) == 2)

    first, second = _ai_requests(httpserver)
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert second["messages"][1:] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    assert [e["text"] for e in replies_to(runtime, user)] == ["first answer", "second answer"]


def test_a_timed_out_ai_gets_bounded_attempts_then_the_fallback_and_a_dead_letter(
    start_runtime: RuntimeFactory, httpserver: HTTPServer
) -> None:
    def too_slow(request: Request) -> Response:
        time.sleep(1.5)  # beyond AI_TIMEOUT_SECONDS=1
        return Response(json.dumps(_completion("too late")), content_type="application/json")

    httpserver.expect_request(COMPLETIONS, method="POST").respond_with_handler(too_slow)
    runtime = _start(start_runtime, httpserver, AI_FALLBACK_MESSAGE=FALLBACK)
    user = f"1555{uuid.uuid4().int % 10**8:08d}"
    _say(runtime, user, "hello?")

    letters = wait_for(runtime.dead_letters, timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert [e["text"] for e in replies_to(runtime, user)] == [FALLBACK]
    # The fake serves one request at a time, so the abandoned second attempt is logged once its sleep ends.
    wait_for(lambda: len(_ai_requests(httpserver)) >= 2, timeout=10)
    time.sleep(1.6)
    assert len(_ai_requests(httpserver)) == 2, "AI_MAX_ATTEMPTS=2 bounds the attempts"
    assert letters[0]["error"] == "PermanentError"
    assert "ReadTimeout" in letters[0]["cause"] and "2 attempt" in letters[0]["cause"]


def test_a_rejected_ai_request_without_fallback_is_dead_lettered_unanswered(
    start_runtime: RuntimeFactory, httpserver: HTTPServer
) -> None:
    error = {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}
    httpserver.expect_request(COMPLETIONS, method="POST").respond_with_json(error, status=401)
    runtime = _start(start_runtime, httpserver)
    user = f"1555{uuid.uuid4().int % 10**8:08d}"
    _say(runtime, user, "hello?")

    letters = wait_for(runtime.dead_letters, timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert replies_to(runtime, user) == []
    assert len(_ai_requests(httpserver)) == 1, "a 401 is not retried"
    assert "401" in letters[0]["cause"]
