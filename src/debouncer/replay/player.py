"""Playing one fixture's timeline: rewrite and sign each payload, POST it on time, then wait for the replies."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from debouncer.replay.collect import ReplySource, http_request
from debouncer.replay.fixture import Conversation, Event, Fixture
from debouncer.replay.match import Outcome, evaluate
from debouncer.replay.rewrite import RunIds, body, new_nonce, sign, timestamp_origin

POLL_SECONDS = 0.5
# After the last event: a deadline is rounded up to the next whole second, then the state machine and the
# handlers need their time. A second answer to a burst (what this watches for) would come within this.
SETTLE_SECONDS = 3.5
# How far a conversation's events may reach the server off their relative schedule before a failure is no longer
# the server's logic's: below every margin the fixtures keep around a debounce or max-wait boundary (0.8 s and up),
# above a quiet server's answer time (tens of milliseconds).
TIMELINE_TOLERANCE = 0.5


@dataclass(frozen=True)
class Request:
    """One POST, ready to send: the rewritten body and the headers that sign it."""

    event: Event
    channel: str
    body: bytes
    headers: Mapping[str, str]
    users: frozenset[Conversation] = frozenset()
    path: str = ""  # the webhook route: /webhook/<channel>, or a Telegram tenant's /webhook/telegram/<tenant>


@dataclass
class Playback:
    """What playing one fixture gave: the outcomes, how late the worst-timed POST left, and how far the server's
    answers shifted a conversation's events against each other (`distortion`, seconds)."""

    fixture: Fixture
    outcomes: list[Outcome] = field(default_factory=list)
    lateness: float = 0.0
    distortion: float = 0.0


def prepare(fixture: Fixture, ids: RunIds, secrets: Mapping[str, str]) -> list[Request]:
    """Every event as a signed request, in timeline order (a redelivery repeats its original's exact request)."""
    prepared: dict[int, Request] = {}
    for event in sorted(fixture.events, key=lambda e: e.at):
        if event.redeliver is not None:
            original = prepared[event.redeliver]
            prepared[event.index] = replace(original, event=event)
            continue
        assert event.payload is not None  # the schema requires channel and payload without redeliver
        raw = body(ids.rewrite(event.channel, event.payload))
        headers = sign(event.channel, raw, secrets[event.channel], event.signature)
        for name, value in event.headers.items():
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            if value is not None:
                headers[name] = value
        prepared[event.index] = Request(event, event.channel, raw, headers, frozenset(ids.touched), event.path)
        tenant = fixture.settings.tenant(event.tenant) if event.tenant else None
        if tenant is not None:
            # Telegram's updates do not name the bot: the tenant's path does, and its conversations are keyed by it.
            ids.accounts.setdefault(tenant.channel, set()).add(tenant.account)
    return list(prepared.values())


def lanes(requests: list[Request]) -> list[list[Request]]:
    """The requests split into conversations: requests naming a common user share a lane, in timeline order.

    Lanes play side by side, as a channel delivers different conversations' webhooks, so one conversation's slow
    answer does not hold back another's messages.
    """
    parent = list(range(len(requests)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    first: dict[Conversation, int] = {}
    for i, request in enumerate(requests):
        for user in request.users:
            parent[root(i)] = root(first.setdefault(user, i))
    grouped: dict[int, list[Request]] = {}
    for i, request in enumerate(requests):
        grouped.setdefault(root(i), []).append(request)
    return list(grouped.values())


def _post(endpoint: str, request: Request) -> str | None:
    """Why the server's answer is not the one the event expects (None when it is)."""
    event = request.event
    try:
        path = request.path or f"/webhook/{request.channel}"
        status, answer = http_request("POST", f"{endpoint}{path}", request.body, request.headers)
    except OSError as e:
        return f"request failed: {e}"
    if status != event.status:
        return f"HTTP {status}, expected {event.status}: {answer[:200].decode(errors='replace')}"
    if event.ack is not None and status == 200:
        try:
            got = json.loads(answer)
        except ValueError:
            return f"answer is not JSON: {answer[:200]!r}"
        wanted = dict(event.ack)
        if got != wanted:
            return f"acknowledged {json.dumps(got)}, expected {json.dumps(wanted)}"
    return None


def play(
    fixture: Fixture,
    *,
    endpoint: str,
    source: ReplySource,
    secrets: Mapping[str, str],
    start: float,
    speed: float = 1.0,
    margin: float = 5.0,
    nonce: str | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Playback:
    """POST the timeline from `start` (epoch seconds), wait for the replies, and check them."""
    playback = Playback(fixture)
    delays: list[tuple[float, float]] = []  # (when scheduled, how late it left)
    origin = timestamp_origin(fixture.events)
    ids = RunIds(nonce or new_nonce(), shift=int(start) - origin if origin is not None else 0)
    outcomes: list[tuple[int, Outcome]] = []
    distortions: list[float] = []

    def play_lane(lane: list[Request]) -> None:
        answered: float | None = None  # when the previous event's answer came
        # Each event reached the server between leaving and being answered: [earliest, latest] off its schedule.
        earliest: list[float] = []
        latest: list[float] = []
        for request in lane:
            # On the fixture's clock, so a slow answer delays only the next event, not the rest of the timeline (a
            # max_wait cap counts from the first message); `after` keeps the gaps that must hold whatever the server.
            scheduled = start + request.event.at / speed
            due = scheduled
            if request.event.after is not None and answered is not None:
                due = max(due, answered + request.event.after / speed)
            if (wait := due - clock()) > 0:
                sleep(wait)
            left = clock()
            delays.append((scheduled, left - scheduled))
            problem = _post(endpoint, request)
            answered = clock()
            earliest.append(left - due)
            latest.append(answered - due)
            if problem is not None:
                failure = Outcome(fixture.name, request.event.label(), False, problem, counted=False)
                outcomes.append((request.event.index, failure))
        if len(lane) > 1:  # one event has no timeline to distort
            distortions.append(max(latest) - min(earliest))

    conversations = lanes(prepare(fixture, ids, secrets))
    with ThreadPoolExecutor(max_workers=len(conversations), thread_name_prefix=f"replay-{fixture.name}") as pool:
        for done in [pool.submit(play_lane, lane) for lane in conversations]:
            done.result()
    playback.outcomes.extend(outcome for _, outcome in sorted(outcomes, key=lambda item: item[0]))
    playback.lateness = max((late for _, late in delays), default=0.0)
    playback.distortion = max(distortions, default=0.0)
    last = clock()

    def user(conversation: Conversation) -> Conversation:
        return Conversation(conversation.channel, ids.user(conversation.channel, conversation.user))

    def deadline(by: float) -> float:
        # A timeline that left late is judged on its own clock: `by` moves with the events due before it.
        due = start + by / speed
        return due + max((late for when, late in delays if when <= due), default=0.0)

    watched = dict(ids.users)
    for conversation in fixture.conversations():
        watched.setdefault(user(conversation), conversation)
    wanted = Counter(user(b.conversation) for b in fixture.bursts)
    settings = fixture.settings
    # A tenant may have a longer window than the deployment: wait as long as the slowest conversation needs.
    settled = last + settings.longest_debounce + SETTLE_SECONDS
    give_up = last + settings.longest_max_wait + 1 + margin
    complete_at: float | None = None
    while True:
        replies = source.replies(watched, ids.accounts)
        now = clock()
        got = Counter(reply.conversation for reply in replies)
        if complete_at is None and all(got[c] >= n for c, n in wanted.items()):
            complete_at = now
        if (complete_at is not None and now >= max(settled, complete_at + 1.0)) or now >= give_up:
            break
        sleep(POLL_SECONDS)
    judged = evaluate(fixture, replies, user, deadline=deadline, watched=watched)
    if playback.distortion > TIMELINE_TOLERANCE:
        # The bursts the fixture expects assume its timeline: a slow server replaced it with another, so a reply
        # that differs is no evidence against the server's logic. Saying FAIL would send testers after a non-bug.
        why = f"the server's slow answers shifted this file's events by up to {playback.distortion:.1f}s"
        judged = [o if o.ok else replace(o, unjudged=why) for o in judged]
    playback.outcomes.extend(judged)
    return playback
