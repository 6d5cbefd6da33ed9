"""`debouncer redrive --endpoint` against the real `debouncer serve`, whose AI (a local fake OpenAI-compatible
endpoint) refuses a burst for good, then recovers: the dead-lettered burst is answered once, and the exit statuses
tell a script what happened.

A server of its own: its AI is the fake, and its dead-letter queue must hold only this test's records.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.ops.redrive import EXIT_DONE, EXIT_LEFT, EXIT_REFUSED, report
from tests import builders
from tests.e2e.conftest import Server, _running, poll, run_debouncer

pytestmark = pytest.mark.xdist_group("e2e-redrive")

COMPLETIONS = "/v1/chat/completions"
ANSWER = "Here is your answer, at last."


def _redrive(*args: str) -> subprocess.CompletedProcess[str]:
    return run_debouncer("redrive", *args)


def _dead_letters(server: Server) -> list[dict[str, Any]]:
    status, _, body = server.http("GET", "/local/dead-letters")
    assert status == 200, body
    records: list[dict[str, Any]] = json.loads(body)
    return records


def test_a_burst_the_ai_refused_is_answered_once_by_the_cli_after_the_ai_recovers(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    ai_down = [True]

    def completions(request: Request) -> Response:
        if ai_down[0]:
            error = {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}
            return Response(json.dumps(error), status=401, content_type="application/json")
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}]}
        return Response(json.dumps(answer), content_type="application/json")

    httpserver.expect_request(COMPLETIONS, method="POST").respond_with_handler(completions)
    environment = {
        "DEBOUNCE_SECONDS": "1",
        "MAX_WAIT_SECONDS": "4",
        "AI_PROVIDER": "openai",
        "OPENAI_BASE_URL": httpserver.url_for("/v1"),
        "OPENAI_MODEL": "local-model",
        "AI_MAX_ATTEMPTS": "1",
    }
    with _running(tmp_path, {"redrive": environment}) as servers:
        server = servers["redrive"]
        user = "1555" + str(uuid.uuid4().int % 10**8).zfill(8)
        raw = builders.body(builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}", "are you there?")))
        status, _, body = server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
        assert status == 200, body

        # GIVEN the burst on the DLQ (reading it leaves it there), unanswered
        [record] = poll(lambda: _dead_letters(server), timeout=40, what="a dead-lettered burst")
        assert _dead_letters(server) == [record] and server.replies_to(user) == []

        # WHEN a dry run looks: it would redrive it, and changes nothing
        dry = _redrive("--endpoint", server.base, "--dry-run")
        assert dry.returncode == EXIT_DONE, dry.stderr
        assert dry.stdout.startswith("redriven ") and "dry run, nothing changed" in dry.stdout
        assert user not in dry.stdout, "the output names the conversation by pseudonym"
        assert _dead_letters(server) == [record]

        # AND the redrive runs once the AI is back
        ai_down[0] = False
        done = _redrive("--endpoint", server.base)

        # THEN one reply, the answer, and an empty queue
        assert done.returncode == EXIT_DONE, done.stderr
        assert "1 redriven" in done.stdout
        replies = poll(lambda: server.replies_to(user), timeout=40, what="the redriven reply")
        assert [r["text"] for r in replies] == [ANSWER]
        assert _dead_letters(server) == []

        # AND running it again finds nothing to do
        again = _redrive("--endpoint", server.base)
        assert again.returncode == EXIT_DONE, again.stderr
        assert "the queue is empty" in again.stdout
        assert len(server.replies_to(user)) == 1

        # AND the local routes take only their own method and body
        assert server.http("POST", "/local/dead-letters")[0] == 405
        status, headers, _ = server.http("GET", "/local/redrive")
        assert (status, headers.get("Allow")) == (405, "POST")
        status, _, body = server.http("POST", "/local/redrive", b'{"dry_run": "yes"}')
        assert status == 400, body


def test_an_unreachable_server_or_missing_resources_exit_2() -> None:
    unreachable = _redrive("--endpoint", "http://127.0.0.1:9")
    assert unreachable.returncode == EXIT_REFUSED
    assert "cannot reach" in unreachable.stderr
    missing = _redrive("--queue-url", "https://sqs.us-east-1.amazonaws.com/123456789012/dlq")
    assert missing.returncode == EXIT_REFUSED
    assert "--table" in missing.stderr and "--state-machine-arn" in missing.stderr
    both = _redrive("--endpoint", "http://127.0.0.1:9", "--table", "t")
    assert both.returncode == EXIT_REFUSED


def test_records_left_on_the_queue_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    kept = {"action": "kept", "detail": "unreadable", "conversation": None, "burst": None, "deleted": False}
    redriven = {"action": "redriven", "detail": "answered again", "conversation": "abc", "burst": 1, "deleted": True}
    assert report([redriven, kept], dry_run=False, out=sys.stdout) == EXIT_LEFT
    assert "1 left on the queue" in capsys.readouterr().out
    assert report([redriven], dry_run=False, out=sys.stdout) == EXIT_DONE
    assert report([], dry_run=False, out=sys.stdout) == EXIT_DONE
