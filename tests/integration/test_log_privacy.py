"""No personal id in the logs of a whole local run: post, process and reply log a conversation's hash, not its key."""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from debouncer.domain.burst import execution_name
from debouncer.domain.models import conversation_key
from debouncer.domain.privacy import conversation_ref
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

SERVICE = "chat-debouncer"  # POWERTOOLS_SERVICE_NAME of the local runtime: the logger every handler writes through


def _point(handler: logging.StreamHandler[Any], stream: Any) -> None:
    # Not setStream: it flushes the old stream, which may be an earlier test's closed capture.
    with handler.lock or contextlib.nullcontext():
        handler.stream = stream


@pytest.fixture
def powertools_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Everything the three handlers' Powertools loggers print, formatted as on Lambda (appended keys included)."""
    buffer = io.StringIO()
    service = logging.getLogger(SERVICE)
    saved = [(h, h.stream) for h in service.handlers if isinstance(h, logging.StreamHandler)]
    for handler, _ in saved:
        _point(handler, buffer)
    # The runtime loads the handlers after this fixture: their Logger() may add its handler only then.
    original_add = service.addHandler

    def add(handler: logging.Handler) -> None:
        if isinstance(handler, logging.StreamHandler):
            saved.append((handler, handler.stream))
            _point(handler, buffer)
        original_add(handler)

    monkeypatch.setattr(service, "addHandler", add)
    # Powertools sets a service's level only with its first Logger, and a child's (webhook.py) with its import: an
    # earlier test's runtime may have left WARNING on either.
    loggers = [logging.getLogger(n) for n in [SERVICE, *logging.root.manager.loggerDict] if n.startswith(SERVICE)]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)  # setLevel, not .level: it also clears logging's isEnabledFor cache
    try:
        yield buffer
    finally:
        for handler, stream in saved:
            _point(handler, stream)
        for logger, level in levels:
            logger.setLevel(level)


def test_conversation_ref_is_the_start_of_the_execution_names_digest() -> None:
    key = conversation_key("whatsapp", "106540352242922", "16505551234")
    ref = conversation_ref(key)
    assert ref == conversation_ref(key) and ref != conversation_ref(key + "5")
    assert execution_name(key, 7).startswith(ref)
    assert "16505551234" not in ref and len(ref) == 12


def test_a_whole_run_logs_no_phone_number_or_user_id(
    start_runtime: RuntimeFactory, powertools_output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the local pipeline logging everything it can (DEBUG), metrics on, and users on three channels
    runtime = start_runtime(POWERTOOLS_LOG_LEVEL="DEBUG", POWERTOOLS_METRICS_DISABLED="false")
    phone = "1555" + str(uuid.uuid4().int)[:7]
    chat = int("9" + str(uuid.uuid4().int)[:9])
    igsid = "1059" + str(uuid.uuid4().int)[:12]
    # A wamid encodes the sender's number in base64, as Meta's do.
    wamid = "wamid." + base64.b64encode(f"\x15\x02\x00\x11\x18\x0b{phone}".encode()).decode()
    payloads = [
        ("whatsapp", builders.whatsapp(phone, builders.wa_message(phone, wamid, "hello"))),
        ("telegram", builders.telegram(chat, int(uuid.uuid4().int % 10**9), 1452, "hi there")),
        ("instagram", builders.instagram(igsid, f"mid.{uuid.uuid4().hex}", "hey")),
    ]

    # WHEN each is posted, processed and answered
    for channel, payload in payloads:
        assert post(runtime, channel, payload)[0] == 200
    for recipient in (phone, str(chat), igsid):
        wait_for(functools.partial(replies_to, runtime, recipient))
    wait_for(lambda: executions_settled(runtime))

    # THEN the logs carry the conversations' hashes (they were captured), never the ids in clear
    captured = capsys.readouterr()
    logs = powertools_output.getvalue() + captured.out + captured.err
    lines = [json.loads(line) for line in powertools_output.getvalue().splitlines() if line.startswith("{")]
    functions = {line.get("function_name") for line in lines}
    assert {"post_message", "process_message", "reply"} <= functions, functions
    for secret in (phone, str(chat), igsid, wamid, wamid.removeprefix("wamid.")[:16]):
        assert secret not in logs, f"{secret!r} appears in the logs"
    refs = {conversation_ref(conversation_key("whatsapp", builders.PHONE_NUMBER_ID, phone))}
    assert refs <= {line.get("conversation_ref") for line in lines}
