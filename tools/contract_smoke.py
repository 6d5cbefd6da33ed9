#!/usr/bin/env python3
"""Smoke test of the local contract: one signed two-message burst per channel, each answered once, in order.

For WhatsApp, Telegram, Instagram and the generic channel it posts two text messages, signed as that channel signs
(docs/channels.md), to a running local server, then reads GET /local/outbox until each burst has its reply, and
checks that each burst got exactly one reply, covering both message ids in the order sent and both texts (the local
`echo` AI repeats the burst). Standard library only, so it runs with any python3, outside the venv too.

Usage: `make contract-smoke` (starts a server itself when none answers), or against a running `make run`:
`python3 tools/contract_smoke.py [BASE_URL]` (default: $BASE_URL, else http://127.0.0.1:8000). The secrets are the
server's: $META_APP_SECRET, $TELEGRAM_SECRET_TOKEN and $GENERIC_SECRET, else the documented local defaults.
Exit status: 0 pass, 1 the contract does not hold, 2 no server or not a local one; the reason is one line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
HTTP_TIMEOUT_SECONDS = 10.0
# How long every burst may take to be answered: the debounce window plus processing, with room for a loaded machine.
REPLY_TIMEOUT_SECONDS = 30.0
# After the last reply, how long a second (wrong) reply to a burst is waited for: Express runs an execution at least
# once, and a duplicate run that answered again would show up within a moment of the first.
GRACE_SECONDS = 2.0
# The gap between a burst's two messages: well inside any debounce window (whole seconds, at least 1).
GAP_SECONDS = 0.3

META_APP_SECRET = os.environ.get("META_APP_SECRET", "local-app-secret")
TELEGRAM_SECRET_TOKEN = os.environ.get("TELEGRAM_SECRET_TOKEN", "local-telegram-secret")
GENERIC_SECRET = os.environ.get("GENERIC_SECRET", "local-generic-secret")
# The accounts the bursts are addressed to: any works without tenants (the local console uses the same ones).
WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
INSTAGRAM_ACCOUNT = "17841400000000001"
CHANNELS = ("whatsapp", "telegram", "instagram", "generic")


class ContractBrokenError(Exception):
    """The contract does not hold; the message is the one-line reason."""


class NoServerError(Exception):
    """Nothing usable answers at BASE_URL; the message is the one-line reason."""


@dataclass(frozen=True)
class Burst:
    """One channel's two messages: who sent them, their ids as the outbox reports them, and their texts."""

    channel: str
    recipient: str
    message_ids: list[str]
    texts: list[str]
    post: Callable[[int], None]


def hmac_sha256(secret: str, body: bytes) -> str:
    """The `sha256=<hex>` HMAC-SHA256 of the raw body: Meta's X-Hub-Signature-256, the generic X-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_json(base: str, path: str, payload: dict[str, Any], sign: Callable[[bytes], dict[str, str]]) -> None:
    """POST the payload, signed over its exact bytes; ContractBrokenError unless the webhook answers 200."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", **sign(body)}
    request = urllib.request.Request(base + path, data=body, method="POST", headers=headers)  # noqa: S310 - http(s), checked in main
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, answer = error.code, error.read()
    if status != 200:
        reason = answer.decode(errors="replace")[:200]
        raise ContractBrokenError(f"POST {path} answered {status}, not 200, to a signed message: {reason}")


def get_json(base: str, path: str) -> Any:
    """The JSON answer of a GET; NoServerError when nothing answers, or the route is not the local runtime's."""
    try:
        with urllib.request.urlopen(base + path, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            raise NoServerError(f"GET {base}{path} answered {error.code}: is it `make run`'s local server?") from error
    except (OSError, ValueError) as error:
        raise NoServerError(f"no local server answers at {base} ({error}): start one with `make run`") from error


def bursts(base: str, run: str) -> list[Burst]:
    """The four bursts of this run, with ids and senders unique to it."""
    now = time.time()
    unique = int(now * 1000) % 10**12
    texts = {channel: [f"smoke {channel} part {i} {run}" for i in range(2)] for channel in CHANNELS}

    wa_user = f"1555{unique % 10**7:07d}"
    wa_ids = [f"wamid.smoke{i}{run}" for i in range(2)]

    def post_whatsapp(i: int) -> None:
        message = {
            "from": wa_user,
            "id": wa_ids[i],
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": texts["whatsapp"][i]},
        }
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": WHATSAPP_PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Smoke"}, "wa_id": wa_user}],
            "messages": [message],
        }
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
        }
        post_json(
            base, "/webhook/whatsapp", payload, lambda body: {"X-Hub-Signature-256": hmac_sha256(META_APP_SECRET, body)}
        )

    chat_id = 7_000_000_000 + unique % 10**9  # a private chat's id is the user's id
    telegram_ids = [1, 2]

    def post_telegram(i: int) -> None:
        person = {"id": chat_id, "is_bot": False, "first_name": "Smoke"}
        message = {
            "message_id": telegram_ids[i],
            "from": person,
            "chat": {"id": chat_id, "first_name": "Smoke", "type": "private"},
            "date": int(time.time()),
            "text": texts["telegram"][i],
        }
        payload = {"update_id": unique * 10 + i, "message": message}
        post_json(
            base, "/webhook/telegram", payload, lambda body: {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET_TOKEN}
        )

    ig_user = f"9{unique:012d}"
    ig_ids = [f"smoke-ig-{i}-{run}" for i in range(2)]

    def post_instagram(i: int) -> None:
        ts_ms = int(time.time() * 1000)
        event = {
            "sender": {"id": ig_user},
            "recipient": {"id": INSTAGRAM_ACCOUNT},
            "timestamp": ts_ms,
            "message": {"mid": ig_ids[i], "text": texts["instagram"][i]},
        }
        payload = {"object": "instagram", "entry": [{"id": INSTAGRAM_ACCOUNT, "time": ts_ms, "messaging": [event]}]}
        post_json(
            base,
            "/webhook/instagram",
            payload,
            lambda body: {"X-Hub-Signature-256": hmac_sha256(META_APP_SECRET, body)},
        )

    conversation = f"smoke-{run}"
    generic_ids = [f"smoke-{i}-{run}" for i in range(2)]

    def post_generic(i: int) -> None:
        payload = {"conversation_id": conversation, "message_id": generic_ids[i], "text": texts["generic"][i]}
        post_json(
            base, "/webhook/generic", payload, lambda body: {"X-Signature-256": hmac_sha256(GENERIC_SECRET, body)}
        )

    return [
        Burst("whatsapp", wa_user, wa_ids, texts["whatsapp"], post_whatsapp),
        Burst("telegram", str(chat_id), [f"{chat_id}:{n}" for n in telegram_ids], texts["telegram"], post_telegram),
        Burst("instagram", ig_user, ig_ids, texts["instagram"], post_instagram),
        Burst("generic", conversation, generic_ids, texts["generic"], post_generic),
    ]


def replies(burst: Burst, outbox: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outbox entries answering this burst's sender on its channel."""
    return [e for e in outbox if e.get("channel") == burst.channel and str(e.get("recipient")) == burst.recipient]


def check(burst: Burst, answered: list[dict[str, Any]]) -> None:
    """ContractBrokenError unless the burst has exactly one reply, covering its ids in order and both its texts."""
    if len(answered) != 1:
        raise ContractBrokenError(f"{burst.channel}: the two-message burst got {len(answered)} replies, not 1")
    reply = answered[0]
    if list(reply.get("message_ids", [])) != burst.message_ids:
        raise ContractBrokenError(
            f"{burst.channel}: the reply covers ids {reply.get('message_ids')}, not {burst.message_ids} in order"
        )
    text = str(reply.get("text", ""))
    missing = [t for t in burst.texts if t not in text]
    if missing or text.find(burst.texts[0]) > text.find(burst.texts[1]):
        raise ContractBrokenError(
            f"{burst.channel}: the reply does not carry both texts in order (is AI_PROVIDER echo?)"
        )


def smoke(base: str) -> None:
    """Post every channel's burst and check the outbox; raises ContractBrokenError or NoServerError with the reason."""
    get_json(base, "/local/outbox")  # a local server answers here, before anything is posted
    run = uuid.uuid4().hex[:8]
    all_bursts = bursts(base, run)
    for i in range(2):  # every channel's first message, then every second one: the bursts overlap in time
        for burst in all_bursts:
            burst.post(i)
        if i == 0:
            time.sleep(GAP_SECONDS)
    deadline = time.monotonic() + REPLY_TIMEOUT_SECONDS
    while True:
        outbox = get_json(base, "/local/outbox")
        waiting = [b.channel for b in all_bursts if not replies(b, outbox)]
        if not waiting:
            break
        if time.monotonic() >= deadline:
            raise ContractBrokenError(f"no reply within {REPLY_TIMEOUT_SECONDS:.0f}s for: {', '.join(waiting)}")
        time.sleep(0.25)
    time.sleep(GRACE_SECONDS)
    outbox = get_json(base, "/local/outbox")
    for burst in all_bursts:
        check(burst, replies(burst, outbox))


def main(argv: list[str]) -> int:
    """Run the smoke test against argv[1], else $BASE_URL, else the default; print one line; return the status."""
    base = (argv[1] if len(argv) > 1 else os.environ.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not base.startswith(("http://", "https://")):
        print(f"contract smoke: ERROR: BASE_URL must be an http(s) URL, not {base!r}", file=sys.stderr)
        return 2
    try:
        smoke(base)
    except NoServerError as error:
        print(f"contract smoke: ERROR: {error}", file=sys.stderr)
        return 2
    except ContractBrokenError as error:
        print(f"contract smoke: FAIL: {error}", file=sys.stderr)
        return 1
    print(f"contract smoke: PASS: {', '.join(CHANNELS)} each answered once, in order ({base})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
