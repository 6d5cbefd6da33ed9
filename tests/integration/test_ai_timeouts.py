"""A hanging AI or a timed-out function still ends every burst once: its fallback, or one DLQ record with the reason.

Both workflow types. process_message stops waiting for the AI shortly before its own deadline (the Lambda context's
remaining time), so an AI that hangs past the function's timeout becomes an AI failure while there is time to record
it; a function that does time out anyway is retried at most by the definition's timeout retrier (never on Express).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.local import emulator as emulator_module
from debouncer.local.runtime import LocalRuntime
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for
from tests.reliability.fakes import COMPLETIONS, serving

pytestmark = pytest.mark.workflow_types()

FALLBACK = "Sorry, I can't answer right now."
PROCESS_TIMEOUT_SECONDS = 4


@pytest.fixture
def hanging_ai() -> Iterator[tuple[HTTPServer, threading.Event]]:
    """An OpenAI-compatible endpoint that answers nothing until released (at teardown)."""
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(30)
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "too late"}}]}
        return Response(json.dumps(body), content_type="application/json")

    with serving() as server:
        server.expect_request(COMPLETIONS, method="POST").respond_with_handler(hang)
        yield server, release
        release.set()


class _Context:
    """A Lambda context whose remaining time runs down from the function's timeout, as Lambda's does."""

    def __init__(self, inner: Any, timeout_seconds: float) -> None:
        self._inner = inner
        self._deadline = time.monotonic() + timeout_seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _with_deadline(runtime: LocalRuntime, function: str, timeout_seconds: float) -> None:
    """Give a function a context with the real deadline (what the emulator does once it enforces timeouts)."""
    handler = runtime.emulator.functions[function]
    runtime.emulator.functions[function] = lambda event, context: handler(event, _Context(context, timeout_seconds))


def _start(start_runtime: RuntimeFactory, server: HTTPServer, **environment: str) -> LocalRuntime:
    runtime = start_runtime(
        AI_PROVIDER="openai",
        OPENAI_BASE_URL=server.url_for("/v1"),
        OPENAI_MODEL="hanging-model",
        AI_TIMEOUT_SECONDS="60",  # the AI's own timeout is longer than the function's: the function's deadline rules
        AI_MAX_ATTEMPTS="1",
        PROCESS_MESSAGE_TIMEOUT_SECONDS=str(PROCESS_TIMEOUT_SECONDS),
        **environment,
    )
    _with_deadline(runtime, "process_message", PROCESS_TIMEOUT_SECONDS)
    return runtime


def _user() -> str:
    return "1555" + uuid.uuid4().hex[:8]


def _send(runtime: LocalRuntime, user: str) -> None:
    status, body = post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}", "hi")))
    assert status == 200, body


def _settled_dead_letters(runtime: LocalRuntime) -> list[dict[str, Any]]:
    wait_for(lambda: runtime.executions() and executions_settled(runtime), timeout=30)
    time.sleep(1)  # a second reply or record would come now, if at all
    return runtime.dead_letters()


def test_an_ai_hanging_past_the_function_timeout_sends_the_fallback_once_and_dead_letters_it_once(
    start_runtime: RuntimeFactory, hanging_ai: tuple[HTTPServer, threading.Event]
) -> None:
    # GIVEN an AI that hangs longer than process_message may run, and a fallback message
    server, _ = hanging_ai
    runtime = _start(start_runtime, server, AI_FALLBACK_MESSAGE=FALLBACK)
    user = _user()

    # WHEN a burst is processed
    _send(runtime, user)

    # THEN the fallback is sent once, and one DLQ record names the AI's timeout
    wait_for(lambda: replies_to(runtime, user), timeout=30)
    records = _settled_dead_letters(runtime)
    assert [r["text"] for r in replies_to(runtime, user)] == [FALLBACK]
    assert len(records) == 1, records
    assert records[0]["error"] == "PermanentError"
    assert "AI timed out" in records[0]["cause"] and "fallback sent" in records[0]["cause"]
    assert len(server.log) <= 1  # one AI request, still hanging or just released


def test_an_ai_hanging_past_the_function_timeout_without_a_fallback_is_dead_lettered_once(
    start_runtime: RuntimeFactory, hanging_ai: tuple[HTTPServer, threading.Event]
) -> None:
    server, _ = hanging_ai
    runtime = _start(start_runtime, server)
    user = _user()

    _send(runtime, user)

    wait_for(lambda: runtime.executions() and executions_settled(runtime), timeout=30)
    records = _settled_dead_letters(runtime)
    assert replies_to(runtime, user) == []
    assert len(records) == 1, records
    assert records[0]["error"] == "PermanentError" and "AI timed out" in records[0]["cause"]
    assert [e["status"] for e in runtime.executions()] == ["FAILED"]


def test_a_timed_out_function_runs_full_length_again_only_where_the_time_limit_allows(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    # GIVEN process_message timing out on every invocation, reported as Lambda reports a timeout
    runtime = start_runtime()
    invocations: list[str] = []

    def timed_out(caller: str, action: str) -> tuple[int, dict[str, str], str] | None:
        if action != "lambda:InvokeFunction":
            return None
        invocations.append(caller)
        payload = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": "RequestId: 1 Error: Task timed out after 4.00 seconds",
        }
        return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(payload)

    runtime.emulator.faults.append(timed_out)
    user = _user()

    # WHEN a burst is processed
    _send(runtime, user)

    # THEN Express does not run it again (each attempt counts full length in its 5 minutes), Standard once;
    # the burst ends as one DLQ record naming the timeout, and nothing is sent
    records = _settled_dead_letters(runtime)
    assert len(invocations) == {"EXPRESS": 1, "STANDARD": 2}[workflow_type]
    assert len(records) == 1, records
    assert records[0]["error"] in {"Lambda.Unknown", "Sandbox.Timedout"}
    assert "timed out" in records[0]["cause"]
    assert replies_to(runtime, user) == []


@pytest.mark.workflow_types("STANDARD")
def test_a_state_entered_on_a_whole_second_without_a_fraction_still_routes(
    start_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN EnteredTime written as "2026-11-30T10:00:00Z" (no fraction), as well as AWS may
    monkeypatch.setattr(emulator_module, "ENTERED_TIME_WHOLE_SECONDS", True)
    runtime = start_runtime()
    user = _user()

    # WHEN a burst goes through ReadBuffer's "now" and Route's timestamp comparisons
    _send(runtime, user)

    # THEN it is answered, and no execution failed on an unparsable "now" (a Choice failure cannot be caught)
    wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime))
    assert [e["status"] for e in runtime.executions()] == ["SUCCEEDED"]
    assert runtime.dead_letters() == []
