"""What `debouncer serve` writes to its console: a ready line, one line per request and per burst decision, the
conversation as its pseudonym and never a phone number, no moto ERROR for designed behaviour, and one line with the
channel's reason for a reply refused for good."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from debouncer.domain.models import conversation_key
from debouncer.domain.privacy import conversation_ref
from tests import builders
from tests.e2e.conftest import Server, _running, poll

pytestmark = pytest.mark.xdist_group("e2e")

LOG_TIMEOUT = 30.0  # a loaded 2-core machine runs moto's state machine slowly
REFUSAL = "recipient blocked the bot"


def _phone() -> str:
    return "1555" + str(uuid.uuid4().int % 10**8).zfill(8)


def _post(server: Server, channel: str, raw: bytes) -> None:
    status, _, body = server.http("POST", f"/webhook/{channel}", raw, builders.sign(channel, raw))
    assert status == 200, body


def _lines(server: Server, pattern: str) -> list[str]:
    return [line for line in server.log.read_text(errors="replace").splitlines() if re.search(pattern, line)]


def test_requests_and_burst_decisions_get_one_readable_line_each_with_the_conversation_hashed(server: Server) -> None:
    # GIVEN a WhatsApp user, whose conversation key holds their phone number
    user = _phone()
    ref = conversation_ref(conversation_key("whatsapp", builders.PHONE_NUMBER_ID, user))

    # WHEN they write a burst ended early by the flush keyword (the Route Choice reads a path that is absent)
    for mid, text in [("wamid.logs1", "hello"), ("wamid.logs2", "send")]:
        _post(server, "whatsapp", builders.body(builders.whatsapp(user, builders.wa_message(user, mid + user, text))))
    poll(lambda: server.replies_to(user), timeout=LOG_TIMEOUT, what="the reply")

    # THEN the console says it was ready, then one line per request and per decision, by pseudonym
    log = server.log.read_text(errors="replace")
    assert re.search(rf"^chat-debouncer ready on {re.escape(server.base)} \(", log, re.MULTILINE), log[:500]
    assert _lines(server, r"^\d\d:\d\d:\d\d POST /webhook/whatsapp 200 \d+ ms$"), log[-2000:]
    [claimed] = _lines(server, rf"burst \d+ of {ref} claimed")
    assert claimed.endswith("claimed: 2 messages, flushed early (keyword or max messages)"), claimed
    poll(lambda: _lines(server, rf"burst \d+ of {ref} answered$"), timeout=LOG_TIMEOUT, what="the answered line")
    # AND never the phone number, no emulator ERROR for the Choice's absent path, and none of the functions' INFO JSON
    # (what the lines above say; Lambda's log, not a console's)
    assert user not in server.log.read_text(errors="replace")
    assert "NoSuchJsonPathError" not in server.log.read_text(errors="replace")
    assert not _lines(server, r'^\{"level":"INFO"'), _lines(server, r'^\{"level":"INFO"')[:3]


@pytest.fixture
def refusing_server(httpserver: HTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`debouncer serve` whose generic channel's callback refuses every reply for good (403)."""
    httpserver.expect_request("/callback", method="POST").respond_with_json({"error": REFUSAL}, status=403)
    environment = {
        "DEBOUNCE_SECONDS": "1",
        "MAX_WAIT_SECONDS": "4",
        "GENERIC_CALLBACK_URL": httpserver.url_for("/callback"),
    }
    with _running(tmp_path_factory.mktemp("refusing"), {"refusing": environment}) as started:
        yield started["refusing"]


def test_a_reply_refused_for_good_is_one_line_with_the_channels_reason(refusing_server: Server) -> None:
    # GIVEN a conversation whose replies the channel refuses
    user = "+" + _phone()
    ref = conversation_ref(conversation_key("generic", "default", user))

    # WHEN its burst is answered and the reply refused
    _post(refusing_server, "generic", builders.body(builders.generic(user, "m1", "hello")))

    # THEN the dead letter is one line: the burst by pseudonym and the channel's reason, not moto's dump
    [line] = poll(
        lambda: _lines(refusing_server, rf"burst \d+ of {ref} dead-lettered: "),
        timeout=LOG_TIMEOUT,
        what="the dead-lettered line",
    )
    assert "PermanentError: generic: HTTP 403" in line and REFUSAL in line, line
    log = refusing_server.log.read_text(errors="replace")
    assert "ERROR:moto" not in log, log[-3000:]
    assert user.lstrip("+") not in log
    # AND the record on the dead-letter queue still carries the whole cause
    status, _, body = refusing_server.http("GET", "/local/dead-letters")
    assert status == 200 and REFUSAL in json.loads(body)[0]["cause"], body
