"""Many senders at once through the real local server: each request is answered as its own, every message once.

Every server thread runs post_message; if concurrent invocations shared state (Powertools' resolver keeps the request
being resolved on a class attribute), a request would read another's headers or body: a correctly signed request
refused with 401, or answered 200 after the other request's message was buffered in its place (lost).
CONCURRENT_SENDERS and CONCURRENT_MESSAGES scale the load (`make soak` can run a heavier version with a fresh seed:
CONCURRENT_SEED unset under RELIABILITY_PROFILE=heavy).
"""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests import builders
from tests.e2e.conftest import Server

CHANNELS = ("whatsapp", "telegram", "instagram", "generic")
HEAVY = os.environ.get("RELIABILITY_PROFILE") == "heavy"
SENDERS = int(os.environ.get("CONCURRENT_SENDERS", "96" if HEAVY else "40"))
# Correctness, not latency, is under test: on a loaded machine a post can wait long for the CPU and the emulator.
POST_TIMEOUT_SECONDS = 90.0
MESSAGES = int(os.environ.get("CONCURRENT_MESSAGES", "6" if HEAVY else "5"))
SEED = int(os.environ.get("CONCURRENT_SEED") or (random.SystemRandom().randrange(2**32) if HEAVY else 20240611))


class Sender:
    """One conversation on one channel; its messages' ids and the recipient its replies are addressed to."""

    def __init__(self, index: int, channel: str, run: str) -> None:
        self.channel = channel
        self.index = index
        numeric = 10_000_000 + index
        self.recipient = {
            "whatsapp": f"1555{run}{index:04d}",
            "telegram": str(int(run, 16) % 10**9 * 10_000 + index),
            "instagram": f"ig{run}{index:04d}",
            "generic": f"conv-{run}-{index}",
        }[channel]
        self.update_base = numeric * 100
        self.run = run
        self.message_ids: list[str] = []

    def payload(self, k: int, text: str) -> dict[str, Any]:
        """The k-th message of this conversation, in its channel's shape; records the id the pipeline will report."""
        mid = f"{self.run}.{self.index}.{k}"
        if self.channel == "whatsapp":
            self.message_ids.append(f"wamid.{mid}")
            return builders.whatsapp(self.recipient, builders.wa_message(self.recipient, f"wamid.{mid}", text))
        if self.channel == "telegram":
            self.message_ids.append(f"{self.recipient}:{k + 1}")
            return builders.telegram(int(self.recipient), self.update_base + k, k + 1, text)
        if self.channel == "instagram":
            self.message_ids.append(f"ig.{mid}")
            return builders.instagram(self.recipient, f"ig.{mid}", text)
        self.message_ids.append(f"gen.{mid}")
        return builders.generic(self.recipient, f"gen.{mid}", text)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=POST_TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def _send_all(server: Server, sender: Sender, start: threading.Barrier) -> list[tuple[int, bytes]]:
    answers: list[tuple[int, bytes]] = []
    bodies = []
    for k in range(MESSAGES):
        raw = builders.body(sender.payload(k, f"{sender.channel} {sender.index} says {k}"))
        bodies.append((raw, builders.sign(sender.channel, raw)))
    start.wait()
    for raw, headers in bodies:
        status, body = _post(server.base + f"/webhook/{sender.channel}", raw, headers)
        answers.append((status, body))
    return answers


def test_concurrent_senders_on_every_channel_are_each_answered_once(concurrency_server: Server) -> None:
    rng = random.Random(SEED)
    run = uuid.uuid4().hex[:8]
    channels = [CHANNELS[i % len(CHANNELS)] for i in range(SENDERS)]
    rng.shuffle(channels)
    senders = [Sender(i, channel, run) for i, channel in enumerate(channels)]
    start = threading.Barrier(SENDERS, timeout=60)

    # WHEN every sender posts its messages, all senders at once, each correctly signed for its own channel
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        results = list(pool.map(lambda s: _send_all(concurrency_server, s, start), senders))
    posted = time.monotonic() - began

    # THEN every post was accepted as its own request
    refused = [
        (s.channel, status, body[:120])
        for s, answers in zip(senders, results, strict=True)
        for status, body in answers
        if status != 200
    ]
    assert not refused, f"seed {SEED}: {len(refused)} of {SENDERS * MESSAGES} posts refused: {refused[:5]}"

    # AND every message is answered exactly once, to its own conversation
    expected = {mid: s.recipient for s in senders for mid in s.message_ids}

    def answered() -> Counter[str]:
        seen: Counter[str] = Counter()
        for entry in concurrency_server.outbox():
            for mid in entry["message_ids"]:
                if mid in expected:
                    assert str(entry["recipient"]) == expected[mid], f"seed {SEED}: {mid} answered to another user"
                    seen[mid] += 1
        return seen

    deadline = time.monotonic() + 60
    while len(answered()) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2.5)  # a duplicate answer would come at least one debounce window later
    final = answered()
    missing = sorted(set(expected) - set(final))
    twice = sorted(mid for mid, n in final.items() if n > 1)
    assert not missing and not twice, f"seed {SEED}: missing {missing[:5]}, answered twice {twice[:5]}"
    print(f"{SENDERS} senders x {MESSAGES} messages posted in {posted:.2f} s; seed {SEED}")
