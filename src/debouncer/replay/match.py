"""Matching collected replies against a fixture's expected bursts, and the PASS/FAIL lines that report it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from debouncer.replay.collect import Reply
from debouncer.replay.fixture import Conversation, ExpectedBurst, Fixture

EXCERPT_CHARS = 160


@dataclass(frozen=True)
class Outcome:
    """One checked expectation (a burst, a silence) or one problem found on the way (an event, an extra reply)."""

    fixture: str
    subject: str
    ok: bool
    reason: str = ""
    counted: bool = True  # bursts and silences: the lines the summary counts
    # Why a failure says nothing about the server's logic: the server took so long to answer that the timeline the
    # expectation assumes never happened (a message meant to precede the max-wait cut reached it after). "" = judged.
    unjudged: str = ""

    def line(self) -> str:
        """`PASS <fixture>: <subject>`, `FAIL <fixture>: <subject>: <why>` or `LATE <fixture>: <subject>: <why>`."""
        if self.ok:
            return f"PASS {self.fixture}: {self.subject}" + (f" ({self.reason})" if self.reason else "")
        if self.unjudged:
            return f"LATE {self.fixture}: {self.subject}: not judged, {self.unjudged}: {self.reason}"
        return f"FAIL {self.fixture}: {self.subject}: {self.reason}"


def quote(text: str) -> str:
    """A text as it appears in a reason: JSON-quoted, so spaces and newlines stay visible."""
    return json.dumps(text, ensure_ascii=False)


def excerpt(reply: Reply) -> str:
    """The start of a reply, on one line."""
    flat = " | ".join(reply.text.splitlines())
    return quote(flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…")


def _contained(texts: Sequence[str], reply: Reply) -> int:
    return sum(1 for text in texts if text in reply.text)


def _in_order(texts: Sequence[str], haystack: str) -> bool:
    position = 0
    for text in texts:
        found = haystack.find(text, position)
        if found < 0:
            return False
        position = found + len(text)
    return True


def burst_problems(
    expected: ExpectedBurst, reply: Reply, *, deadline: float | None, others: Sequence[ExpectedBurst] = ()
) -> list[str]:
    """Why `reply` is not the answer to `expected` ([] when it is)."""
    problems: list[str] = []
    missing = [t for t in expected.messages if t not in reply.text]
    if missing:
        problems.append("texts missing: " + ", ".join(quote(t) for t in missing))
    elif not _in_order(expected.messages, reply.text):
        seen = sorted(expected.messages, key=reply.text.find)
        problems.append("wrong order: the reply has " + ", ".join(quote(t) for t in seen))
    if len(reply.message_ids) != len(expected.messages):
        problem = f"the reply answers {len(reply.message_ids)} messages, expected {len(expected.messages)}"
        strays = [(o.name, t) for o in others for t in o.messages if t in reply.text and t not in expected.messages]
        if strays:
            problem += "; it also has " + ", ".join(f"{quote(t)} (burst {quote(name)})" for name, t in strays)
        problems.append(problem)
    if present := [t for t in expected.absent if t in reply.text]:
        problems.append("must not contain " + ", ".join(quote(t) for t in present))
    if expected.parts is not None and reply.parts != expected.parts:
        problems.append(f"sent in {reply.parts} parts, expected {expected.parts}")
    if deadline is not None and reply.sent_at is not None and reply.sent_at > deadline:
        problems.append(f"sent {reply.sent_at - deadline:.1f}s after its deadline (`by`)")
    if problems:
        problems.append(f"reply: {excerpt(reply)}")
    return problems


def evaluate(
    fixture: Fixture,
    replies: Sequence[Reply],
    user: Callable[[Conversation], Conversation],
    *,
    deadline: Callable[[float], float],
    watched: Mapping[Conversation, Conversation],
) -> list[Outcome]:
    """One outcome per expected burst and silence, in fixture order, plus one per unexpected reply.

    `user` maps a conversation as the fixture names it to its run id; `deadline` turns a burst's `by` into epoch
    seconds; `watched` maps every conversation the run's payloads touched (run id -> fixture name), so a reply to
    one of them that no expectation claims is reported.
    """
    outcomes: dict[str, Outcome] = {}
    by_conversation: dict[Conversation, list[Reply]] = {}
    for reply in replies:
        by_conversation.setdefault(reply.conversation, []).append(reply)
    extra: list[Outcome] = []
    claimed: set[Conversation] = set()

    for conversation in fixture.conversations():
        target = user(conversation)
        claimed.add(target)
        received = by_conversation.get(target, [])
        expected = [b for b in fixture.bursts if b.conversation == conversation]
        if not expected:
            continue
        matched: dict[int, ExpectedBurst] = {}  # reply index -> the burst it answers
        missing: list[ExpectedBurst] = []
        for burst in expected:
            free = [i for i in range(len(received)) if i not in matched]
            best = max(free, key=lambda i: (_contained(burst.messages, received[i]), -i), default=None)
            if best is None or _contained(burst.messages, received[best]) == 0:
                missing.append(burst)
                continue
            matched[best] = burst
            due = None if burst.by is None else deadline(burst.by)
            rest = [b for b in expected if b is not burst]
            problems = burst_problems(burst, received[best], deadline=due, others=rest)
            note = "" if received[best].delivered else "answer recorded, delivery not recorded"
            outcomes[burst.name] = Outcome(
                fixture.name, burst.name, ok=not problems, reason="; ".join(problems) if problems else note
            )
        unclaimed: list[Reply] = []
        for index, reply in enumerate(received):
            if index in matched:
                continue
            twice = next(
                (
                    b
                    for i, b in matched.items()
                    if set(reply.message_ids) & set(received[i].message_ids) or _contained(b.messages, reply)
                ),
                None,
            )
            if twice is None:
                unclaimed.append(reply)
            elif outcomes[twice.name].ok:
                outcomes[twice.name] = Outcome(
                    fixture.name, twice.name, ok=False, reason=f"answered twice; second reply: {excerpt(reply)}"
                )
        for burst in missing:
            why = f"missing reply to {conversation} (sent as {target.user})"
            if unclaimed:
                why += f"; unmatched repl{'y' if len(unclaimed) == 1 else 'ies'}: " + ", ".join(map(excerpt, unclaimed))
            elif matched:
                answered = ", ".join(f"burst {quote(b.name)}" for b in matched.values())
                why += f"; its only repl{'y' if len(matched) == 1 else 'ies'} answered {answered}"
            outcomes[burst.name] = Outcome(fixture.name, burst.name, ok=False, reason=why)
        if not missing:  # otherwise the missing bursts' lines show them
            extra += [
                Outcome(fixture.name, f"unexpected reply to {conversation}", False, excerpt(r), counted=False)
                for r in unclaimed
            ]

    for silence in fixture.silences:
        received = by_conversation.get(user(silence.conversation), [])
        why = f"{len(received)} repl{'y' if len(received) == 1 else 'ies'}: " + ", ".join(map(excerpt, received))
        outcomes[silence.name] = Outcome(fixture.name, silence.name, ok=not received, reason=why if received else "")

    for target, conversation in sorted(watched.items(), key=lambda item: str(item[0])):
        if target in claimed:
            continue
        for reply in by_conversation.get(target, []):
            extra.append(
                Outcome(fixture.name, f"unexpected reply to {conversation}", False, excerpt(reply), counted=False)
            )
    ordered = [outcomes[b.name] for b in fixture.bursts] + [outcomes[s.name] for s in fixture.silences]
    return ordered + extra
