"""`debouncer replay`: shipped fixtures, the scenario format, run-id rewriting, signing, matching, reply sources."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from jsonschema import Draft202012Validator
from moto import mock_aws
from tests import builders

from debouncer import schemas
from debouncer.adapters.dynamodb import DynamoDbStore
from debouncer.channels import generic, instagram, signatures, telegram, whatsapp
from debouncer.cli import main
from debouncer.config import Settings
from debouncer.domain.models import CHANNELS, BusinessEcho, InboundMessage
from debouncer.local.runtime import DEV_DEFAULTS, create_table
from debouncer.local.server import local_settings
from debouncer.replay import collect, fixture, player, run
from debouncer.replay.collect import Reply, TableSource
from debouncer.replay.fixture import Conversation, ExpectedBurst, ExpectedSilence, Fixture, FixtureError
from debouncer.replay.match import Outcome, evaluate
from debouncer.replay.rewrite import (
    DEV_SECRETS,
    RunIds,
    body,
    channel_secrets,
    payload_accounts,
    sign,
    timestamp_origin,
)
from debouncer.tenants import Tenant, check_tenants

REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "fixtures").glob("*.json"))
SHIPPED_SETTINGS = {"debounce_seconds": 2, "max_wait_seconds": 6, "max_messages": 10}
SERVER = {**SHIPPED_SETTINGS, "flush_keywords": [], "ai_provider": "echo"}
NONCE = "424242"
IG_ACCOUNT = "17841400000000001"


def document(**fields: Any) -> dict[str, Any]:
    """A minimal valid scenario with the given top-level fields replaced."""
    doc: dict[str, Any] = {
        "name": "tiny",
        "settings": dict(SHIPPED_SETTINGS),
        "events": [
            {"at": 0, "channel": "generic", "payload": {"conversation_id": "c1", "message_id": "m1", "text": "hello"}}
        ],
        "expect": [{"burst": "hello", "conversation": "generic:c1", "messages": ["hello"]}],
    }
    return doc | fields


def parsed(**fields: Any) -> Fixture:
    doc = document(**fields)
    fixture.validate_document(doc)
    return fixture.parse(doc, Path("tiny.json"))


# --- the shipped fixtures ---------------------------------------------------------------------------------------


def test_the_scenario_schema_is_a_valid_draft_2020_12_schema_ending_in_a_newline() -> None:
    text = (schemas.SCHEMA_DIR / schemas.SCENARIO_SCHEMA_FILE).read_text(encoding="utf-8")
    assert text.endswith("}\n")
    schema = schemas.load_scenario_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert tuple(schema["$defs"]["channel"]["enum"]) == CHANNELS


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_every_shipped_fixture_is_a_valid_scenario(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    fixture.validate_document(document)  # the schema alone
    loaded = fixture.load(path)  # plus payloads against their channel schemas and the cross-field rules
    assert loaded.name == path.stem
    assert loaded.description
    assert (loaded.settings.debounce_seconds, loaded.settings.max_wait_seconds, loaded.settings.max_messages) == (
        2,
        6,
        10,
    )
    assert loaded.duration <= 15, "keep a scenario short: the e2e test replays them all"
    assert loaded.bursts


def test_the_shipped_fixtures_cover_every_channel_and_the_edge_cases() -> None:
    loaded = [fixture.load(path) for path in FIXTURES]
    assert len(loaded) >= 12
    assert {event.channel for f in loaded for event in f.events} == set(CHANNELS)
    assert {b.conversation.channel for f in loaded for b in f.bursts} == set(CHANNELS)
    events = [event for f in loaded for event in f.events]
    assert any(event.redeliver is not None for event in events), "redeliveries"
    assert any(event.ack is not None and event.ack["accepted"] > 1 for event in events), "several messages in one POST"
    assert any(event.signature != "valid" for event in events), "rejected requests"
    names = {f.name for f in loaded}
    for edge in ("out-of-order-arrival", "max-wait-cap", "early-flush-max-messages", "burst-straddling-a-flush"):
        assert edge in names
    texts = [t for f in loaded for b in f.bursts for t in b.messages]
    assert any(t.startswith(("[image:", "[voice:", "[document:")) for t in texts), "media placeholders"
    assert sum(len(f.silences) for f in loaded) >= 3, "ignored statuses, echoes, receipts"


def test_the_shipped_fixtures_match_the_settings_the_e2e_server_runs_with() -> None:
    for path in FIXTURES:
        assert fixture.settings_mismatch(fixture.load(path), SERVER) == [], path.name


# --- the format's own rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"settings": {"debounce_seconds": 2, "max_wait_seconds": 6}}, "$.settings"),
        ({"events": [{"at": -1, "channel": "generic", "payload": {}}]}, "$.events[0].at"),
        ({"events": [{"at": 0, "channel": "sms", "payload": {}}]}, "$.events[0]"),
        ({"events": [{"at": 0, "redeliver": "x", "payload": {}}]}, "$.events[0]"),
        ({"expect": [{"burst": "b", "conversation": "fax:1", "messages": ["x"]}]}, "$.expect[0].conversation"),
        ({"expect": [{"burst": "b", "conversation": "generic:c1", "messages": []}]}, "$.expect[0].messages"),
        ({"name": "Has Spaces"}, "$.name"),
        ({"extra": 1}, "$"),
    ],
)
def test_a_document_that_is_not_a_scenario_names_the_failing_path(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(FixtureError, match=f"^{re.escape(where)}"):
        fixture.validate_document(document(**fields))


def test_cross_field_mistakes_are_refused() -> None:
    event = document()["events"][0]
    with pytest.raises(FixtureError, match=r"redeliver: no earlier event has id 'nope'"):
        parsed(events=[event, {"at": 1, "redeliver": "nope"}])
    with pytest.raises(FixtureError, match=r"\$\.events\[0\]\.payload: generic payload: \$\.text"):
        parsed(events=[{**event, "payload": {"conversation_id": "c1", "message_id": "m1"}}])
    with pytest.raises(FixtureError, match="names must be unique"):
        parsed(no_reply=[{"name": "hello", "conversation": "generic:c2"}])
    with pytest.raises(FixtureError, match="max_wait_seconds must be >= debounce_seconds"):
        parsed(settings={"debounce_seconds": 7, "max_wait_seconds": 6, "max_messages": 10})
    # A payload meant to be rejected need not pass its channel's schema.
    rejected = {**event, "payload": {"not": "generic"}, "signature": "invalid", "status": 401}
    assert parsed(events=[event, rejected]).events[1].status == 401


def test_a_redelivery_repeats_its_original_channel() -> None:
    loaded = parsed(events=[{**document()["events"][0], "id": "first"}, {"at": 0.5, "redeliver": "first"}])
    assert (loaded.events[1].channel, loaded.events[1].redeliver, loaded.events[1].payload) == ("generic", 1, None)


# --- settings ---------------------------------------------------------------------------------------------------


def test_settings_must_match_the_server() -> None:
    tiny = parsed()
    assert fixture.settings_mismatch(tiny, SERVER) == []
    assert fixture.settings_mismatch(tiny, {**SERVER, "debounce_seconds": 10, "max_messages": 50}) == [
        "debounce_seconds=2 (server: 10)",
        "max_messages=10 (server: 50)",
    ]
    # Without flush_keywords the fixture works with any, unless one of its texts is a keyword.
    assert fixture.settings_mismatch(tiny, {**SERVER, "flush_keywords": ["send"]}) == []
    assert fixture.settings_mismatch(tiny, {**SERVER, "flush_keywords": ["hello"]}) == [
        "no flush keywords among its texts (server flushes on: hello)"
    ]
    keyworded = parsed(settings={**SHIPPED_SETTINGS, "flush_keywords": ["Send"]})
    assert fixture.settings_mismatch(keyworded, {**SERVER, "flush_keywords": ["send"]}) == []
    assert fixture.settings_mismatch(keyworded, SERVER) == ["flush_keywords=send (server: (none))"]


def test_replay_refuses_a_server_with_other_settings_before_sending_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "server_settings", lambda endpoint: {**SERVER, "debounce_seconds": 1})

    def no_requests(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may be sent to a mismatched server")

    monkeypatch.setattr(player, "http_request", no_requests)
    monkeypatch.setattr(run, "http_request", no_requests)
    out, err = io.StringIO(), io.StringIO()
    status = run.replay([str(FIXTURES[0])], endpoint="http://127.0.0.1:9", out=out, err=err)
    assert status == 2
    assert out.getvalue() == ""
    message = err.getvalue()
    assert "settings mismatch" in message
    assert f"{FIXTURES[0]} assumes debounce_seconds=2 (server: 1)" in message
    assert "DEBOUNCE_SECONDS=2 MAX_WAIT_SECONDS=6 MAX_MESSAGES=10 make run" in message


def test_replay_refuses_a_bad_fixture_and_an_unreachable_server(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document(events=[])))
    err = io.StringIO()
    assert run.replay([str(broken)], endpoint="http://127.0.0.1:9", out=io.StringIO(), err=err) == 2
    assert f"{broken}: $.events: [] should be non-empty" in err.getvalue()
    good = tmp_path / "tiny.json"
    good.write_text(json.dumps(document()))
    err = io.StringIO()
    # Port 9 (discard) is not served on loopback here: the connection is refused at once.
    assert run.replay([str(good)], endpoint="http://127.0.0.1:9", out=io.StringIO(), err=err) == 2
    assert "cannot reach http://127.0.0.1:9/health" in err.getvalue()


@contextmanager
def _endpoint(routes: Mapping[str, tuple[int, Any]]) -> Iterator[str]:
    """A loopback HTTP server answering GETs from `routes` (path -> status, JSON body), 404 for any other path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path, (404, {"error": "not found"}))
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_local_servers_settings_come_from_its_local_route_not_from_health() -> None:
    with _endpoint({"/health": (200, {"status": "ok"}), "/local/settings": (200, SERVER)}) as endpoint:
        assert collect.server_settings(endpoint) == SERVER


def test_a_deployed_stack_is_replayed_without_a_settings_check_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an endpoint like API Gateway's: /health tells liveness only, no /local routes
    played: list[str] = []

    def fake_play(scenario: Fixture, **kwargs: object) -> None:
        played.append(scenario.name)
        raise fixture.ReplayError("stopped once playing")

    monkeypatch.setattr(run, "play", fake_play)
    with _endpoint({"/health": (200, {"status": "ok"})}) as endpoint:
        assert collect.server_settings(endpoint) is None

        # WHEN replayed without --table, THEN refused (there is no outbox), after saying the settings go unchecked
        err = io.StringIO()
        assert run.replay([str(FIXTURES[0])], endpoint=endpoint, out=io.StringIO(), err=err) == 2
        assert "they are not checked" in err.getvalue() and "pass --table NAME" in err.getvalue()
        assert played == []

        # WHEN replayed with --table, THEN it plays, with the same note and no settings mismatch
        err = io.StringIO()
        status = run.replay(
            [str(FIXTURES[0])], endpoint=endpoint, table="t", region="us-east-1", out=io.StringIO(), err=err
        )
        assert status == 2 and played == [fixture.load(FIXTURES[0]).name]
        assert "they are not checked; the fixtures assume DEBOUNCE_SECONDS=2" in err.getvalue()
        assert "settings mismatch" not in err.getvalue()


def test_the_command_line_rejects_a_speed_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--speed", "0", "fixtures/whatsapp-burst.json"])
    assert exit_info.value.code == 2
    assert "must be a positive number" in capsys.readouterr().err


# --- run-id rewriting ---------------------------------------------------------------------------------------------


def load_events(name: str) -> Fixture:
    return fixture.load(REPO / "fixtures" / f"{name}.json")


def test_whatsapp_ids_users_and_timestamps_are_rewritten_consistently() -> None:
    loaded = load_events("whatsapp-redelivery-and-statuses")
    ids = RunIds(NONCE, shift=1000)
    payload = loaded.events[0].payload
    assert payload is not None
    out = ids.rewrite("whatsapp", payload)
    value, original = out["entry"][0]["changes"][0]["value"], payload["entry"][0]["changes"][0]["value"]
    message, before = value["messages"][0], original["messages"][0]
    assert message["id"] == f"{before['id']}-{NONCE}"
    assert message["from"] == value["contacts"][0]["wa_id"] == f"15550001003{NONCE}"
    assert message["timestamp"] == str(int(before["timestamp"]) + 1000)
    assert value["metadata"] == original["metadata"], "our own account id stays"
    assert payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"] == "15550001003", "a copy is rewritten"
    [normalized] = whatsapp.normalize(out)
    assert normalized.recipient_id == ids.user("whatsapp", "15550001003")
    assert ids.users == {Conversation("whatsapp", f"15550001003{NONCE}"): Conversation("whatsapp", "15550001003")}
    assert ids.accounts == {"whatsapp": {"106540352242922"}}

    statuses = loaded.events[1].payload
    assert statuses is not None
    status = ids.rewrite("whatsapp", statuses)["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["recipient_id"] == f"15550001004{NONCE}"
    assert status["id"].endswith(f"-{NONCE}")


def test_telegram_ids_stay_integers_and_keep_their_sign() -> None:
    ids = RunIds(NONCE, shift=10)
    update = {
        "update_id": 874512401,
        "message": {
            "message_id": 7,
            "from": {"id": 555000101, "is_bot": False, "first_name": "Ana"},
            "chat": {"id": -1001234567890, "type": "supergroup", "title": "Shop"},
            "date": 1749416400,
            "text": "hi",
            "reply_to_message": {"message_id": 6, "chat": {"id": -1001234567890, "type": "supergroup"}, "date": 5},
        },
    }
    out = ids.rewrite("telegram", update)
    assert out["update_id"] == int(f"874512401{NONCE}")
    assert out["message"]["from"]["id"] == int(f"555000101{NONCE}")
    assert out["message"]["chat"]["id"] == -int(f"1001234567890{NONCE}")
    assert out["message"]["reply_to_message"]["chat"]["id"] == out["message"]["chat"]["id"]
    assert (out["message"]["date"], out["message"]["reply_to_message"]["date"]) == (1749416410, 15)
    assert out["message"]["message_id"] == 7, "unique per chat, and the chat is new"
    [normalized] = telegram.normalize(out, bot_id="bot")
    assert normalized.recipient_id == ids.user("telegram", "-1001234567890")
    assert normalized.message_id == f"{out['message']['chat']['id']}:7"


def test_instagram_keeps_our_account_so_an_echo_stays_an_echo() -> None:
    loaded = load_events("instagram-receipts-and-reactions")
    ids = RunIds(NONCE, shift=100)
    echo = builders.instagram_echo("1059000000000102", "aWdfZAG1faXRlbTo-echo", "Yes, we ship.", 1749416400600)
    out = ids.rewrite("instagram", echo)
    event, before = out["entry"][0]["messaging"][0], echo["entry"][0]["messaging"][0]
    assert event["sender"]["id"] == out["entry"][0]["id"] == IG_ACCOUNT
    assert event["recipient"]["id"] == f"1059000000000102{NONCE}"
    assert event["timestamp"] == before["timestamp"] + 100_000, "milliseconds"
    assert out["entry"][0]["time"] == echo["entry"][0]["time"] + 100_000
    [item] = instagram.normalize(out)
    assert isinstance(item, BusinessEcho) and not item.human
    assert item.conversation_key == f"instagram#{IG_ACCOUNT}#1059000000000102{NONCE}"
    dm = loaded.events[0].payload
    assert dm is not None
    [message] = instagram.normalize(ids.rewrite("instagram", dm))
    assert isinstance(message, InboundMessage)
    assert (message.recipient_id, message.account_id) == (f"1059000000000102{NONCE}", IG_ACCOUNT)
    assert message.message_id == f"{dm['entry'][0]['messaging'][0]['message']['mid']}-{NONCE}"


def test_generic_conversation_ids_get_a_suffix() -> None:
    ids = RunIds(NONCE, shift=5)
    out = ids.rewrite("generic", {"conversation_id": "customer-42", "message_id": "m1", "text": "x", "timestamp": 1})
    assert out == {"conversation_id": f"customer-42-{NONCE}", "message_id": f"m1-{NONCE}", "text": "x", "timestamp": 6}
    [message] = generic.normalize(out)
    assert message.recipient_id == ids.user("generic", "customer-42")


def test_timestamps_move_by_one_constant_so_the_earliest_is_the_start() -> None:
    loaded = load_events("out-of-order-arrival")
    origin = timestamp_origin(loaded.events)
    assert origin == 1749416400
    start = 1_800_000_000
    ids = RunIds(NONCE, shift=start - origin)
    stamps = []
    for event in loaded.events:
        assert event.payload is not None
        stamps += [m.timestamp_ms for m in _normalize(event.channel, ids.rewrite(event.channel, event.payload))]
    assert min(stamps) == start * 1000
    assert max(stamps) == (start + 2) * 1000, "differences kept: the order inside a burst is the fixture's"


def _normalize(channel: str, payload: dict[str, Any]) -> list[InboundMessage]:
    if channel == "telegram":
        return telegram.normalize(payload, bot_id="bot")
    module = {"whatsapp": whatsapp, "instagram": instagram, "generic": generic}[channel]
    messages: list[InboundMessage] = module.normalize(payload)
    return messages


def test_two_runs_never_share_a_message_id_and_one_run_repeats_itself() -> None:
    payload = load_events("telegram-burst").events[0].payload
    assert payload is not None
    first, again, other = RunIds("111111"), RunIds("111111"), RunIds("222222")
    assert body(first.rewrite("telegram", payload)) == body(again.rewrite("telegram", payload))
    [a], [b] = (telegram.normalize(ids.rewrite("telegram", payload), bot_id="bot") for ids in (first, other))
    assert a.message_id != b.message_id and a.conversation_key != b.conversation_key


# --- signing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_each_channel_is_signed_the_way_the_server_verifies_it(channel: str) -> None:
    secret, raw = "s3cret", b'{"x":1}'
    headers = sign(channel, raw, secret)
    verify = {
        "whatsapp": lambda h: signatures.verify_meta_signature(secret, raw, h.get(signatures.META_HEADER)),
        "instagram": lambda h: signatures.verify_meta_signature(secret, raw, h.get(signatures.META_HEADER)),
        "telegram": lambda h: signatures.verify_telegram_secret(secret, h.get(signatures.TELEGRAM_HEADER)),
        "generic": lambda h: signatures.verify_generic_signature(secret, raw, h.get(signatures.GENERIC_HEADER)),
    }[channel]
    verify(headers)
    for mode in ("invalid", "missing"):
        with pytest.raises(signatures.SignatureError):
            verify(sign(channel, raw, secret, mode))


def test_secrets_come_from_the_environment_else_the_local_defaults() -> None:
    assert channel_secrets({}) == {
        "whatsapp": DEV_DEFAULTS["META_APP_SECRET"],
        "instagram": DEV_DEFAULTS["META_APP_SECRET"],
        "telegram": DEV_DEFAULTS["TELEGRAM_SECRET_TOKEN"],
        "generic": DEV_DEFAULTS["GENERIC_SECRET"],
    }
    assert channel_secrets({"GENERIC_SECRET": "g"})["generic"] == "g"
    assert {k: DEV_DEFAULTS[k] for k in DEV_SECRETS} == DEV_SECRETS, "the copy matches the local runtime"


# --- matching -----------------------------------------------------------------------------------------------------

WA = Conversation("whatsapp", "1555")
BURSTS = (
    ExpectedBurst("first", WA, ("hi there", "I need", "to move")),
    ExpectedBurst("second", WA, ("thanks", "bye")),
)


def scenario(*bursts: ExpectedBurst, silences: tuple[ExpectedSilence, ...] = ()) -> Fixture:
    return Fixture(
        path=Path("s.json"),
        name="s",
        description="",
        settings=fixture.ScenarioSettings(2, 6, 10),
        events=(),
        bursts=bursts,
        silences=silences,
    )


def echo(conversation: Conversation, *texts: str, sent_at: float = 100.0, ids: tuple[str, ...] = ()) -> Reply:
    """A reply as the echo AI writes it."""
    text = f"You said ({len(texts)} message{'' if len(texts) == 1 else 's'}):\n" + "\n".join(texts)
    return Reply(conversation, text, ids or tuple(f"id-{t}" for t in texts), sent_at=sent_at)


def check(
    fixture_: Fixture, replies: list[Reply], watched: Mapping[Conversation, Conversation] | None = None
) -> list[str]:
    outcomes: list[Outcome] = evaluate(
        fixture_, replies, lambda c: c, deadline=lambda by: 100.0 + by, watched=watched or {}
    )
    return [o.line() for o in outcomes]


def test_every_burst_answered_once_in_order_passes() -> None:
    replies = [echo(WA, "hi there", "I need", "to move"), echo(WA, "thanks", "bye")]
    assert check(scenario(*BURSTS), replies) == ["PASS s: first", "PASS s: second"]


def test_a_missing_reply_names_the_burst() -> None:
    lines = check(scenario(*BURSTS), [echo(WA, "hi there", "I need", "to move")])
    assert lines[0] == "PASS s: first"
    assert lines[1] == "FAIL s: second: missing reply to whatsapp:1555 (sent as 1555)" + (
        '; its only reply answered burst "first"'
    )
    [line] = check(scenario(BURSTS[1]), [])
    assert line == "FAIL s: second: missing reply to whatsapp:1555 (sent as 1555)"
    [line] = check(scenario(BURSTS[1]), [echo(WA, "something else")])
    assert line.endswith('; unmatched reply: "You said (1 message): | something else"')


def test_wrong_order_missing_texts_and_absent_texts_are_told_apart() -> None:
    [line] = check(scenario(BURSTS[0]), [echo(WA, "I need", "hi there", "to move")])
    assert line.startswith('FAIL s: first: wrong order: the reply has "I need", "hi there", "to move"')
    [line] = check(scenario(BURSTS[0]), [echo(WA, "hi there", "to move")])
    assert line.startswith('FAIL s: first: texts missing: "I need"; the reply answers 2 messages, expected 3')
    edited = replace(BURSTS[0], absent=("meet at 6",))
    [line] = check(scenario(edited), [echo(WA, "hi there", "I need", "to move", "meet at 6")])
    assert 'must not contain "meet at 6"' in line


def test_two_bursts_answered_as_one_fail_both_and_say_why() -> None:
    lines = check(scenario(*BURSTS), [echo(WA, "hi there", "I need", "to move", "thanks", "bye")])
    assert lines[0].startswith(
        'FAIL s: first: the reply answers 5 messages, expected 3; it also has "thanks" (burst "second"), '
        '"bye" (burst "second")'
    )
    assert lines[1].startswith("FAIL s: second: missing reply to whatsapp:1555")
    assert lines[1].endswith('; its only reply answered burst "first"')


def test_a_burst_answered_twice_fails() -> None:
    first = echo(WA, "hi there", "I need", "to move")
    lines = check(scenario(BURSTS[0]), [first, first])
    assert lines == [f'FAIL s: first: answered twice; second reply: "{first.text.replace(chr(10), " | ")}"']


def test_a_reply_nobody_expects_in_a_conversation_the_run_touched_is_reported() -> None:
    stray = Conversation("telegram", "555")
    lines = check(
        scenario(BURSTS[0]), [echo(WA, "hi there", "I need", "to move"), echo(stray, "status?")], {stray: stray}
    )
    assert lines == ["PASS s: first", 'FAIL s: unexpected reply to telegram:555: "You said (1 message): | status?"']
    outcomes = evaluate(scenario(BURSTS[0]), [echo(stray, "x")], lambda c: c, deadline=float, watched={stray: stray})
    assert [o.counted for o in outcomes] == [True, False], "the summary counts bursts; strays are other problems"


def test_a_silent_conversation_must_get_no_reply() -> None:
    quiet = ExpectedSilence("statuses", Conversation("whatsapp", "1666"))
    assert check(scenario(silences=(quiet,)), []) == ["PASS s: statuses"]
    [line] = check(scenario(silences=(quiet,)), [echo(quiet.conversation, "delivered")])
    assert line == 'FAIL s: statuses: 1 reply: "You said (1 message): | delivered"'


def test_by_is_a_deadline_on_the_timeline() -> None:
    early = replace(BURSTS[0], by=2.5)
    assert check(scenario(early), [echo(WA, "hi there", "I need", "to move", sent_at=102.4)]) == ["PASS s: first"]
    [line] = check(scenario(early), [echo(WA, "hi there", "I need", "to move", sent_at=103.5)])
    assert "sent 1.0s after its deadline (`by`)" in line


# --- playing a timeline (no network: a fake server) ---------------------------------------------------------------


class FakeServer:
    """Stands in for the webhook routes and the outbox: records POSTs, answers bursts when told to."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []
        self.outbox: list[Reply] = []
        self.now = 1000.0

    def http(self, method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Any:
        self.posts.append((url, body, dict(headers or {})))
        payload = json.loads(body)
        accepted = 0 if any(raw == body for _, raw, _ in self.posts[:-1]) else 1
        if accepted:
            text = payload["text"]
            self.outbox.append(echo(Conversation("generic", payload["conversation_id"]), text, sent_at=self.now))
        return 200, json.dumps({"accepted": accepted, "duplicates": 1 - accepted}).encode()

    def replies(self, conversations: Any, accounts: Any) -> list[Reply]:
        wanted = set(conversations)
        return [r for r in self.outbox if r.conversation in wanted]

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_play_sends_the_timeline_signed_redelivers_exact_bytes_and_checks_acks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = FakeServer()
    monkeypatch.setattr(player, "http_request", server.http)
    event = {"at": 0, "channel": "generic", "id": "one", "ack": {"accepted": 1, "duplicates": 0}}
    loaded = parsed(
        events=[
            {**event, "payload": {"conversation_id": "c1", "message_id": "m1", "text": "hello", "timestamp": 50}},
            {"at": 1.5, "redeliver": "one", "ack": {"accepted": 1, "duplicates": 0}},
        ],
        expect=[{"burst": "hello", "conversation": "generic:c1", "messages": ["hello"]}],
    )
    playback = player.play(
        loaded,
        endpoint="http://127.0.0.1:1",
        source=server,
        secrets={c: "s" for c in CHANNELS},
        start=1000.1,
        nonce=NONCE,
        clock=server.clock,
        sleep=server.sleep,
    )
    (url, first, headers), (_, second, again) = server.posts
    assert url == "http://127.0.0.1:1/webhook/generic"
    assert json.loads(first) == {"conversation_id": f"c1-{NONCE}", "message_id": f"m1-{NONCE}", "text": "hello",
                                 "timestamp": 1000}  # fmt: skip
    signatures.verify_generic_signature("s", first, headers[signatures.GENERIC_HEADER])
    assert (second, again) == (first, headers), "a redelivery is the same request"
    assert [o.line() for o in playback.outcomes] == [
        'FAIL tiny: event 2 (at 1.5s, generic): acknowledged {"accepted": 0, "duplicates": 1}, '
        'expected {"accepted": 1, "duplicates": 0}',
        "PASS tiny: hello",
    ]


def _play_on_its_clock(loaded: Fixture, server: FakeServer) -> player.Playback:
    """Play a fixture against the fake server from t=1000, on the server's virtual clock."""
    secrets = {c: "s" for c in CHANNELS}
    clock, sleep = server.clock, server.sleep
    return player.play(
        loaded, endpoint="http://x", source=server, secrets=secrets, start=1000.0, clock=clock, sleep=sleep
    )


def test_a_slow_answer_delays_only_the_next_event_unless_after_keeps_the_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer()
    sent: list[float] = []

    def slow(method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Any:
        sent.append(server.now)
        server.now += 2.0 if len(sent) == 1 else 0.0  # the first answer takes 2 s
        return server.http(method, url, body, headers)

    monkeypatch.setattr(player, "http_request", slow)
    payload = {"conversation_id": "c1", "message_id": "m1", "text": "hello"}
    loaded = parsed(
        events=[
            {"at": 0, "channel": "generic", "payload": payload},
            {"at": 0.5, "channel": "generic", "payload": {**payload, "message_id": "m2", "text": "again"}},
            {"at": 3.0, "channel": "generic", "payload": {**payload, "message_id": "m3", "text": "on time"}},
            {"at": 3.1, "after": 1.5, "channel": "generic", "payload": {**payload, "message_id": "m4", "text": "kept"}},
        ],
        expect=[{"burst": "hello", "conversation": "generic:c1", "messages": ["hello"]}],
    )
    playback = _play_on_its_clock(loaded, server)
    # The 2nd leaves at once (late), the 3rd on the fixture's clock, the 4th 1.5 s after the 3rd's answer.
    assert sent == [1000.0, 1002.0, 1003.0, 1004.5]
    assert playback.lateness == pytest.approx(1.5)


@pytest.mark.parametrize(("first_answer", "line", "status"), [(0.3, "FAIL", 1), (2.0, "LATE", 3)])
def test_a_failure_is_not_judged_when_slow_answers_shifted_the_timeline(
    monkeypatch: pytest.MonkeyPatch, first_answer: float, line: str, status: int
) -> None:
    # GIVEN a server that answers each message on its own (not the burst the fixture expects), the first after a while
    server = FakeServer()

    def answering(method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Any:
        server.now += first_answer if not server.posts else 0.0
        return server.http(method, url, body, headers)

    monkeypatch.setattr(player, "http_request", answering)
    payload = {"conversation_id": "c1", "message_id": "m1", "text": "hello"}
    loaded = parsed(
        events=[
            {"at": 0, "channel": "generic", "payload": payload},
            {"at": 0.5, "channel": "generic", "payload": {**payload, "message_id": "m2", "text": "again"}},
        ],
        expect=[{"burst": "both", "conversation": "generic:c1", "messages": ["hello", "again"]}],
    )

    # WHEN the fixture plays
    playback = _play_on_its_clock(loaded, server)
    out = io.StringIO()

    # THEN within the tolerance the wrong burst is a FAIL; when the second message reached the server 1.5 s late
    # (answered 2 s after the first left), it is reported as not judged, and the exit status says: replay again
    assert playback.distortion == pytest.approx(first_answer)
    assert playback.outcomes[0].line().startswith(f"{line} tiny: both: "), playback.outcomes[0].line()
    assert run.report([playback], out, io.StringIO()) == status
    if line == "LATE":
        assert "shifted this file's events by up to 2.0s" in playback.outcomes[0].line()
        assert out.getvalue().endswith(
            "0 passed, 0 failed, 1 not judged (the server answered too slowly: replay those files again) in 1 fixture\n"
        )


def test_each_conversation_plays_in_its_own_lane_in_timeline_order() -> None:
    def lane_indices(name: str) -> list[list[int]]:
        loaded = load_events(name)
        requests = player.prepare(loaded, RunIds(NONCE), {c: "s" for c in CHANNELS})
        return [[r.event.index for r in lane] for lane in player.lanes(requests)]

    # WhatsApp user, Telegram chat, and a second WhatsApp user posting newest first.
    assert lane_indices("out-of-order-arrival") == [[1, 3, 5], [2, 4], [6]]
    # Redeliveries ride with their original; statuses for the same user too; another user's statuses apart.
    assert lane_indices("whatsapp-redelivery-and-statuses") == [[1, 3, 4, 5, 6, 7], [2]]


def test_files_are_staggered_to_keep_the_post_rate() -> None:
    def timeline(name: str, *ats: float) -> Fixture:
        events = tuple(fixture.Event(index=i, at=at, channel="generic") for i, at in enumerate(ats, 1))
        return replace(scenario(), name=name, events=events)

    long = timeline("long", 0, 0.5, 5, 9)
    flood = timeline("flood", *[i / 10 for i in range(10)])
    small = timeline("small", 0, 0.5)
    assert run.stagger([small, flood, long], speed=1, max_rate=4) == [0, 1, 0]
    # At speed 2 the long file's events fall into half as many seconds.
    assert run.stagger([long, long], speed=2, max_rate=2) == [0, 1]


def test_the_start_is_just_after_a_whole_second() -> None:
    assert run.aligned_start(1000.05) == 1000.1 + 1
    assert run.aligned_start(1000.5) == 1001.1


# --- replies from a deployed stack's table (moto) ---------------------------------------------------------------


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "replay-test")
        yield client


def message(user: str, mid: str, text: str, ts: int) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp",
        account_id="106540352242922",
        conversation_key=f"whatsapp#106540352242922#{user}",
        sender_id=user,
        recipient_id=user,
        message_id=mid,
        timestamp_ms=ts * 1000,
        text=text,
    )


def test_the_table_source_reads_answered_turns(table: Any) -> None:
    store = DynamoDbStore(
        table,
        "replay-test",
        debounce_seconds=2,
        max_wait_seconds=6,
        buffer_ttl_seconds=3600,
        history_ttl_seconds=3600,
        dedupe_ttl_seconds=3600,
        reply_lease_seconds=35,
    )
    user, key = "15550001001", "whatsapp#106540352242922#15550001001"
    # GIVEN two answered bursts (the first delivered) and a third still open in the buffer
    bursts = []
    for n, texts in ((1, ("hi there", "I need")), (2, ("thanks",))):
        for i, text in enumerate(texts):
            burst = store.append(message(user, f"{n}-{i}", text, 1000 + i), now=1000.0).burst
        store.claim(key, burst, claimer="exec", now=1010.0 * n)
        store.record_answer(key, burst, answer="whatever the AI said")
        bursts.append(burst)
    store.acquire_reply(key, bursts[0], "token", now=1011.0)
    store.record_delivery(key, bursts[0], "token", 1, done=True, now=1011.0)
    store.append(message(user, "3-0", "still typing", 2000), now=2000.0)

    # WHEN the source reads the conversation
    source = TableSource(table, "replay-test", telegram_bot_id="bot")
    replies = source.replies([Conversation("whatsapp", user)], {"whatsapp": {"106540352242922"}})

    # THEN each answered turn is one reply with the burst as the AI saw it; the open burst is not a reply yet
    assert replies == [
        Reply(Conversation("whatsapp", user), "hi there\nI need", ("1-0", "1-1"), sent_at=1010.0, parts=1),
        Reply(Conversation("whatsapp", user), "thanks", ("2-0",), sent_at=2020.0, parts=0, delivered=False),
    ]


def test_the_table_source_builds_telegram_keys_from_the_bot_id(table: Any) -> None:
    calls: list[str] = []

    class Recorder:
        def query(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs["ExpressionAttributeValues"][":pk"]["S"])
            return {"Items": []}

    TableSource(Recorder(), "t", telegram_bot_id="12345").replies(
        [Conversation("telegram", "555"), Conversation("generic", "c1")], {"generic": {"default"}}
    )
    assert calls == ["telegram#12345#555", "generic#default#c1"]


def test_the_outbox_source_polls_once_for_every_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    requests: list[str] = []
    entry = {"channel": "generic", "recipient": "c1", "text": "t", "message_ids": ["m"], "sent_at": 5.0}

    def fake(method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Any:
        requests.append(url)
        return 200, json.dumps([entry, {**entry, "recipient": "c2"}]).encode()

    monkeypatch.setattr(collect, "http_request", fake)
    source = collect.OutboxSource("http://127.0.0.1:1", refresh_seconds=60)
    assert source.replies([Conversation("generic", "c1")], {}) == [
        Reply(Conversation("generic", "c1"), "t", ("m",), sent_at=5.0)
    ]
    source.replies([Conversation("generic", "c2")], {})
    assert requests == ["http://127.0.0.1:1/local/outbox"]


# --- tenants: declared by a fixture, checked against the server's ---------------------------------------------------

TENANT_FIXTURES = sorted((REPO / "fixtures" / "tenants").glob("*.json"))
CLINIC = {"id": "clinic", "channel": "whatsapp", "account": "106540352200001"}
CLINIC_TIMING = {"debounce_seconds": 1, "max_wait_seconds": 4, "max_messages": 10}
SUPPORT_BOT = {"id": "support-bot", "channel": "telegram", "account": "7000000101", **SHIPPED_SETTINGS}
TELEGRAM_UPDATE = {
    "update_id": 874512401,
    "message": {
        "message_id": 7,
        "from": {"id": 555000101, "is_bot": False, "first_name": "Ana"},
        "chat": {"id": 555000101, "type": "private", "first_name": "Ana"},
        "date": 1749416400,
        "text": "hi bot",
    },
}


def with_tenants(*tenants: dict[str, Any], **fields: Any) -> Fixture:
    return parsed(settings={**SHIPPED_SETTINGS, "tenants": list(tenants)}, **fields)


def running(*tenants: dict[str, Any]) -> dict[str, Any]:
    """A server's /local/settings running these tenants."""
    return {**SERVER, "tenants": list(tenants)}


@pytest.mark.parametrize("path", TENANT_FIXTURES, ids=lambda p: p.name)
def test_every_tenants_fixture_is_a_valid_scenario_declaring_its_tenants(path: Path) -> None:
    # Kept apart from fixtures/*.json: they need a server running their tenants, which the shipped ones do not.
    loaded = fixture.load(path)
    assert loaded.name == path.stem and loaded.description and loaded.settings.tenants
    assert loaded.duration <= 15
    assert fixture.settings_mismatch(loaded, SERVER) != [], "a server without tenants is refused"


def test_the_tenants_fixture_declares_the_accounts_its_payloads_name() -> None:
    loaded = fixture.load(REPO / "fixtures" / "tenants" / "two-whatsapp-tenants.json")
    declared = {(t.channel, t.account) for t in loaded.settings.tenants}
    assert payload_accounts(loaded) == declared == {("whatsapp", "106540352200001"), ("whatsapp", "106540352200002")}
    assert [t.debounce_seconds for t in loaded.settings.tenants] == [1, 3]
    assert (loaded.settings.longest_debounce, loaded.settings.longest_max_wait) == (3, 6), "replay waits this long"
    server = running(*(dataclasses.asdict(t) for t in loaded.settings.tenants))
    assert fixture.settings_mismatch(loaded, server, payload_accounts(loaded)) == []


@pytest.mark.parametrize(
    ("tenant", "where"),
    [
        ({k: v for k, v in CLINIC.items() if k != "account"} | CLINIC_TIMING, "$.settings.tenants[0]"),
        ({**CLINIC, "debounce_seconds": 1, "max_wait_seconds": 4}, "$.settings.tenants[0]"),
        ({**CLINIC, **CLINIC_TIMING, "id": "Clinic A"}, "$.settings.tenants[0].id"),
        ({**CLINIC, **CLINIC_TIMING, "channel": "sms"}, "$.settings.tenants[0].channel"),
        ({**CLINIC, **CLINIC_TIMING, "debounce_seconds": 0}, "$.settings.tenants[0].debounce_seconds"),
        ({**CLINIC, **CLINIC_TIMING, "secrets": {"meta_app_secret": "env:X"}}, "$.settings.tenants[0]"),
    ],
)
def test_a_tenant_that_is_not_one_names_the_failing_path(tenant: dict[str, Any], where: str) -> None:
    with pytest.raises(FixtureError, match=f"^{re.escape(where)}"):
        fixture.validate_document(document(settings={**SHIPPED_SETTINGS, "tenants": [tenant]}))


def test_tenants_are_checked_across_fields() -> None:
    clinic = {**CLINIC, **CLINIC_TIMING}
    with pytest.raises(FixtureError, match=r"^\$\.settings\.tenants\[0\]: tenant 'clinic': max_wait_seconds must be"):
        with_tenants({**clinic, "max_wait_seconds": 1, "debounce_seconds": 2})
    with pytest.raises(FixtureError, match=r"^\$\.settings\.tenants\[1\]\.id: tenant id 'clinic' appears twice"):
        with_tenants(clinic, {**clinic, "account": "106540352200002"})
    with pytest.raises(FixtureError, match=r"tenants 'clinic' and 'sales' share whatsapp account 106540352200001"):
        with_tenants(clinic, {**clinic, "id": "sales"})
    # The same account on two channels is two accounts.
    assert len(with_tenants(clinic, {**clinic, "id": "clinic-ig", "channel": "instagram"}).settings.tenants) == 2


def test_an_event_names_only_a_declared_telegram_tenant() -> None:
    event = {"at": 0, "channel": "telegram", "tenant": "support-bot", "payload": TELEGRAM_UPDATE}
    expect = [{"burst": "hi", "conversation": "telegram:555000101", "messages": ["hi bot"]}]
    loaded = with_tenants(SUPPORT_BOT, events=[{**event, "id": "one"}, {"at": 1, "redeliver": "one"}], expect=expect)
    assert [(e.tenant, e.path) for e in loaded.events] == [("support-bot", "/webhook/telegram/support-bot")] * 2
    with pytest.raises(FixtureError, match=r"^\$\.events\[0\]\.tenant: 'support-bot' is not a Telegram tenant"):
        parsed(events=[event], expect=expect)
    with pytest.raises(FixtureError, match=r"^\$\.events\[0\]\.tenant: only a Telegram event names its tenant"):
        with_tenants({**CLINIC, **CLINIC_TIMING}, events=[{**document()["events"][0], "tenant": "clinic"}])
    # A redelivery repeats its original's path: it names no tenant of its own.
    with pytest.raises(FixtureError, match=r"^\$\.events\[1\]"):
        fixture.validate_document(
            document(events=[{**event, "id": "one"}, {"at": 1, "redeliver": "one", "tenant": "support-bot"}])
        )


def test_declared_tenants_must_run_on_the_server_with_the_same_account_and_timing() -> None:
    clinic = {**CLINIC, **CLINIC_TIMING}
    tiny = with_tenants(clinic)
    assert fixture.settings_mismatch(tiny, running(clinic)) == []
    assert fixture.settings_mismatch(tiny, running(clinic, {**SUPPORT_BOT, "debounce_seconds": 9})) == [], (
        "other tenants the fixture does not reach are fine"
    )
    assert fixture.settings_mismatch(tiny, running()) == [
        "tenant 'clinic' on whatsapp 106540352200001 (server runs no such tenant; its tenants: none)"
    ]
    assert fixture.settings_mismatch(tiny, running({**clinic, "id": "sales"})) == [
        "tenant 'clinic' on whatsapp 106540352200001 (server runs no such tenant; its tenants: sales)"
    ]
    other = {**clinic, "account": "106540352200009", "debounce_seconds": 3, "max_wait_seconds": 6}
    assert fixture.settings_mismatch(tiny, running(other)) == [
        "tenant 'clinic' with account=106540352200001 (server: 106540352200009), debounce_seconds=1 (server: 3), "
        "max_wait_seconds=4 (server: 6)"
    ]
    assert fixture.settings_mismatch(tiny, running({**clinic, "channel": "instagram"})) == [
        "tenant 'clinic' with channel=whatsapp (server: instagram)"
    ]
    # A server from before tenants does not tell them: a fixture declaring some cannot be checked against it.
    assert fixture.settings_mismatch(tiny, SERVER) == ["tenant 'clinic' (server: does not report its tenants)"]
    assert fixture.settings_mismatch(parsed(), SERVER) == [], "a fixture without tenants needs no report"
    # Deployment and tenant differences are listed together.
    assert fixture.settings_mismatch(tiny, {**running(clinic), "max_messages": 50}) == ["max_messages=10 (server: 50)"]


def test_an_undeclared_server_tenant_on_an_account_the_payloads_name_must_keep_the_deployments_timing() -> None:
    tiny = parsed()  # a generic conversation of the deployment's account, "default"
    accounts = {("generic", "default")}
    acme = {"id": "acme", "channel": "generic", "account": "default", **SHIPPED_SETTINGS}
    assert fixture.settings_mismatch(tiny, running(acme), accounts) == []
    assert fixture.settings_mismatch(tiny, running({**acme, "debounce_seconds": 5}), accounts) == [
        "generic account default with debounce_seconds=2 (server: 5), as the server's tenant 'acme' answers it "
        "(declare that tenant in settings.tenants, or run the server without it)"
    ]
    assert fixture.settings_mismatch(tiny, running({**acme, "debounce_seconds": 5}), set()) == [], (
        "an account no payload names is not the fixture's concern"
    )


def test_replay_refuses_a_server_whose_tenant_differs_and_shows_the_tenants_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clinic = {**CLINIC, **CLINIC_TIMING}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(document(settings={**SHIPPED_SETTINGS, "tenants": [clinic]})))
    monkeypatch.setattr(run, "server_settings", lambda endpoint: running({**clinic, "debounce_seconds": 3}))
    monkeypatch.setattr(player, "http_request", lambda *a, **k: pytest.fail("nothing may be sent"))
    out, err = io.StringIO(), io.StringIO()

    assert run.replay([str(path)], endpoint="http://127.0.0.1:9", out=out, err=err) == 2

    assert out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert lines[1] == f"  {path} assumes tenant 'clinic' with debounce_seconds=1 (server: 3)"
    assert lines[2] == (
        "restart it with the fixtures' settings, e.g. "
        "`DEBOUNCE_SECONDS=2 MAX_WAIT_SECONDS=6 MAX_MESSAGES=10 TENANTS_FILE=tenants.json make run`, "
        "where tenants.json holds the tenants the fixtures declare:"
    )
    tenants_file = json.loads(lines[3])
    assert tenants_file == {"tenants": [{**CLINIC, "settings": CLINIC_TIMING}]}
    # What the advice shows is a tenants file the server accepts.
    assert check_tenants(tenants_file, Settings()).tenants[0].settings.debounce_seconds == 1


def test_the_advice_names_fixtures_that_declare_one_tenant_differently(tmp_path: Path) -> None:
    clinic = {**CLINIC, **CLINIC_TIMING}
    first = replace(with_tenants(clinic), path=Path("a.json"))
    second = replace(with_tenants({**clinic, "debounce_seconds": 2}), path=Path("b.json"))
    assert run.advice([first, second]).endswith(
        "a.json and b.json declare tenant 'clinic' differently: replay them against separate servers, each with a "
        "TENANTS_FILE of its fixture's tenants"
    )
    third = replace(with_tenants({**clinic, "id": "sales"}), path=Path("c.json"))
    assert "tenants 'clinic' and 'sales' share whatsapp account 106540352200001" in run.advice([first, third])
    # Fixtures without tenants can run against the tenants' server too: one recipe.
    assert run.advice([first, parsed()]).count("make run") == 1


def test_a_deployed_stack_is_not_checked_and_the_note_names_the_tenants_assumed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(document(settings={**SHIPPED_SETTINGS, "tenants": [{**CLINIC, **CLINIC_TIMING}]})))
    monkeypatch.setattr(run, "server_settings", lambda endpoint: None)
    err = io.StringIO()
    assert run.replay([str(path)], endpoint="https://api", out=io.StringIO(), err=err) == 2  # no --table
    assert (
        "they are not checked; the fixtures assume DEBOUNCE_SECONDS=2 MAX_WAIT_SECONDS=6 MAX_MESSAGES=10, with the "
        "tenants clinic (whatsapp 106540352200001: debounce 1s, max wait 4s, max messages 10)"
    ) in err.getvalue()
    assert "settings mismatch" not in err.getvalue()


def test_a_telegram_tenants_events_go_to_its_path_and_its_replies_are_read_under_its_bot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = with_tenants(
        SUPPORT_BOT,
        events=[
            {"at": 0, "channel": "telegram", "tenant": "support-bot", "payload": TELEGRAM_UPDATE, "id": "one"},
            {"at": 1, "redeliver": "one"},
        ],
        expect=[{"burst": "hi", "conversation": "telegram:555000101", "messages": ["hi bot"]}],
    )
    ids = RunIds(NONCE)
    requests = player.prepare(loaded, ids, {c: "s" for c in CHANNELS})
    assert [r.path for r in requests] == ["/webhook/telegram/support-bot"] * 2
    assert ids.accounts == {"telegram": {"7000000101"}}
    posted: list[str] = []
    monkeypatch.setattr(player, "http_request", lambda method, url, *a: (posted.append(url), (200, b"{}"))[1])
    assert player._post("http://x", requests[0]) is None
    assert posted == ["http://x/webhook/telegram/support-bot"]

    calls: list[str] = []

    class Recorder:
        def query(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs["ExpressionAttributeValues"][":pk"]["S"])
            return {"Items": []}

    TableSource(Recorder(), "t", telegram_bot_id="12345").replies([Conversation("telegram", "555")], ids.accounts)
    assert calls == ["telegram#12345#555", "telegram#7000000101#555"]


def test_a_generic_payloads_account_names_its_tenant() -> None:
    ids = RunIds(NONCE)
    ids.rewrite("generic", {"conversation_id": "c1", "message_id": "m1", "text": "x", "account": "acme"})
    ids.rewrite("generic", {"conversation_id": "c2", "message_id": "m2", "text": "y"})
    assert ids.accounts == {"generic": {"acme", "default"}}


def test_the_local_server_reports_each_tenants_effective_timing_and_never_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {"DEBOUNCE_SECONDS": "2", "MAX_WAIT_SECONDS": "6", "MAX_MESSAGES": "10"}.items():
        monkeypatch.setenv(name, value)
    clinic = Tenant.model_validate(
        {**CLINIC, "settings": {"debounce_seconds": 1, "max_wait_seconds": 4}, "secrets": {"meta_app_secret": "env:S"}}
    )
    sales = Tenant.model_validate(
        {"id": "sales", "channel": "whatsapp", "account": "2", "settings": {"max_messages": 3}}
    )

    reported = local_settings((clinic, sales))

    assert reported["tenants"] == [
        {**CLINIC, **CLINIC_TIMING},
        {"id": "sales", "channel": "whatsapp", "account": "2", "debounce_seconds": 2, "max_wait_seconds": 6,
         "max_messages": 3},
    ]  # fmt: skip
    assert "env:S" not in json.dumps(reported) and "secrets" not in json.dumps(reported)
    assert local_settings()["tenants"] == []
