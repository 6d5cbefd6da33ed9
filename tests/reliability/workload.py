"""The seeded workload: conversations on every channel, bursts of 1-20 messages, duplicates and reordering, and
follow-ups: a short burst the person writes while the AI is still answering their previous one (what supersedes an
answer before it leaves).

Every message carries a unique token ("c0042.m007": conversation 42, the user's 8th message) as its whole text, so
any reply, DLQ record or turn can be traced back to the messages it holds and to the order the user wrote them in.
Timestamps grow by one second per message of a conversation: the user's order is the timestamp order, whatever
order the deliveries arrive in.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from debouncer.domain.models import conversation_key
from tests import builders

CHANNELS = ("whatsapp", "telegram", "instagram", "generic")
TELEGRAM_BOT_ID = "bot"  # the runtime's default TELEGRAM_BOT_ID
TOKEN = re.compile(r"c(\d{4,5})\.m(\d{3})")


@dataclass(frozen=True)
class Message:
    """One user message: its place in the conversation and the exact delivery a channel would redeliver."""

    conversation: int
    seq: int
    message_id: str
    token: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Delivery:
    """One POST of the plan: a first delivery, or a redelivery of a message already delivered once."""

    message: Message
    duplicate: bool = False


@dataclass
class Conversation:
    """One user on one channel; `bursts` in the user's order, `deliveries` in arrival order per burst."""

    index: int
    channel: str
    recipient: str
    key: str
    bursts: list[list[Message]] = field(default_factory=list)
    deliveries: list[list[Delivery]] = field(default_factory=list)
    late_duplicates: list[list[Message]] = field(default_factory=list)
    # Bursts (by index, never 0) the person writes while the AI answers the burst before: the senders post one when
    # the fake AI is first asked about the previous burst, and the AI holds its answer until it has landed.
    follow_ups: set[int] = field(default_factory=set)

    @property
    def messages(self) -> list[Message]:
        """Every message, in the user's order."""
        return [m for burst in self.bursts for m in burst]


@dataclass(frozen=True)
class Shape:
    """How big and how messy the workload is."""

    conversations: int
    # Each conversation has one burst, and another with this chance (again and again, up to max_bursts).
    another_burst: float = 0.15
    max_bursts: int = 3
    # Bursts of 1 to max_burst messages, a burst of k messages with weight 1/k: most are short, as people write.
    max_burst: int = 20
    duplicate_rate: float = 0.10
    reorder_rate: float = 0.10
    # Of the duplicates, the share redelivered after the burst was (most likely) answered.
    late_duplicate_share: float = 0.3
    # Conversations whose second burst is a follow-up (1 to max_follow_up messages) written while the AI answers the
    # first; of those, the share whose third burst follows up the second likewise (a chain of superseded answers).
    follow_up_share: float = 0.2
    follow_up_chain: float = 0.3
    max_follow_up: int = 3


@dataclass
class Workload:
    """Everything the senders post, and the indexes the oracle and the fakes look messages up by."""

    seed: int
    shape: Shape
    conversations: list[Conversation]
    by_token: dict[str, Message] = field(default_factory=dict)
    by_recipient: dict[tuple[str, str], Conversation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for conversation in self.conversations:
            self.by_recipient[(conversation.channel, conversation.recipient)] = conversation
            for message in conversation.messages:
                self.by_token[message.token] = message

    def counts(self) -> dict[str, int]:
        """Sizes worth printing: conversations, bursts, messages, duplicates, out-of-order arrivals."""
        deliveries = [d for c in self.conversations for burst in c.deliveries for d in burst]
        late = sum(len(x) for c in self.conversations for x in c.late_duplicates)
        out_of_order = 0
        for conversation in self.conversations:
            for burst in conversation.deliveries:
                firsts = [d.message.seq for d in burst if not d.duplicate]
                out_of_order += sum(1 for a, b in zip(firsts, sorted(firsts), strict=True) if a != b)
        return {
            "conversations": len(self.conversations),
            "bursts": sum(len(c.bursts) for c in self.conversations),
            "messages": sum(len(c.messages) for c in self.conversations),
            "duplicates_in_burst": sum(1 for d in deliveries if d.duplicate),
            "duplicates_late": late,
            "out_of_order": out_of_order,
            "follow_ups": sum(len(c.follow_ups) for c in self.conversations),
        }


def token_of(conversation: int, seq: int) -> str:
    """The text of message `seq` of `conversation`: unique, and nothing else in a reply looks like it."""
    return f"c{conversation:04d}.m{seq:03d}"


def tokens_in(text: str) -> list[tuple[int, int]]:
    """(conversation, seq) of every message token in a text, in the order they appear."""
    return [(int(c), int(s)) for c, s in TOKEN.findall(text)]


def _recipient(channel: str, index: int, rng: random.Random) -> str:
    if channel == "telegram":
        return str(5_000_000_000 + index * 1_000 + rng.randrange(1_000))  # chat ids are integers
    if channel == "instagram":
        return f"{17_000_000_000_000_000 + index}"
    if channel == "generic":
        return f"conv-{index:05d}"
    return f"1555{index:07d}"


def _message(conversation: Conversation, seq: int, epoch: int) -> Message:
    """The channel's real payload shape for one text message, signed; timestamps one second apart per message."""
    index, channel, user = conversation.index, conversation.channel, conversation.recipient
    token = token_of(index, seq)
    ts = epoch + seq
    payload: dict[str, Any]
    if channel == "whatsapp":
        message_id = f"wamid.{index}.{seq}"
        payload = builders.whatsapp(user, builders.wa_message(user, message_id, token, ts=ts))
    elif channel == "telegram":
        # update_id is unique per bot; message_id per chat.
        payload = builders.telegram(int(user), index * 1_000 + seq + 1, seq + 1, token, ts=ts)
        message_id = f"{user}:{seq + 1}"
    elif channel == "instagram":
        message_id = f"aWdf.{index}.{seq}"
        payload = builders.instagram(user, message_id, token, ts_ms=ts * 1000)
    else:
        message_id = f"g.{index}.{seq}"
        payload = builders.generic(user, message_id, token, ts=ts)
    raw = builders.body(payload)
    return Message(index, seq, message_id, token, raw, builders.sign(channel, raw))


def build(seed: int, shape: Shape) -> Workload:
    """The whole plan from one seed: the same seed gives the same conversations, payloads and arrival orders."""
    rng = random.Random(seed)
    # An hour ago: real-looking timestamps, and a conversation's 100 messages never reach the future.
    epoch = int(time.time()) - 3_600
    conversations: list[Conversation] = []
    for index in range(shape.conversations):
        channel = CHANNELS[index % len(CHANNELS)]
        recipient = _recipient(channel, index, rng)
        account = {
            "whatsapp": builders.PHONE_NUMBER_ID,
            "telegram": TELEGRAM_BOT_ID,
            "instagram": builders.IG_ACCOUNT,
            "generic": "default",
        }[channel]
        conversation = Conversation(index, channel, recipient, conversation_key(channel, account, recipient))  # type: ignore[arg-type]
        seq = 0
        bursts = 1
        while bursts < shape.max_bursts and rng.random() < shape.another_burst:
            bursts += 1
        sizes = range(1, shape.max_burst + 1)
        burst_sizes = rng.choices(sizes, weights=[1 / k for k in sizes], k=bursts)
        if rng.random() < shape.follow_up_share:
            chain = 3 if rng.random() < shape.follow_up_chain else 2
            burst_sizes += rng.choices(sizes, weights=[1 / k for k in sizes], k=max(0, chain - len(burst_sizes)))
            conversation.follow_ups = set(range(1, chain))
            for k in conversation.follow_ups:
                burst_sizes[k] = rng.randint(1, shape.max_follow_up)
        for size in burst_sizes:
            burst = [_message(conversation, seq + i, epoch) for i in range(size)]
            seq += len(burst)
            conversation.bursts.append(burst)
            deliveries, late = _arrivals(burst, shape, rng)
            conversation.deliveries.append(deliveries)
            conversation.late_duplicates.append(late)
        conversations.append(conversation)
    return Workload(seed, shape, conversations)


def _arrivals(burst: list[Message], shape: Shape, rng: random.Random) -> tuple[list[Delivery], list[Message]]:
    """Arrival order of one burst: neighbours swapped (out of order), redeliveries inside it, and late ones."""
    order = list(burst)
    # Each swap of neighbours puts two messages out of order: rate * size / 2 swaps, rounded at random.
    wanted = shape.reorder_rate * len(burst) / 2
    swaps = min(len(burst) // 2, int(wanted) + (rng.random() < wanted % 1))
    starts = rng.sample(range(0, len(burst) - 1, 2), swaps) if swaps else []
    for i in starts:
        order[i], order[i + 1] = order[i + 1], order[i]
    deliveries = [Delivery(m) for m in order]
    late: list[Message] = []
    for message in burst:
        if rng.random() >= shape.duplicate_rate:
            continue
        if rng.random() < shape.late_duplicate_share:
            late.append(message)
            continue
        first = next(i for i, d in enumerate(deliveries) if d.message is message and not d.duplicate)
        deliveries.insert(rng.randint(first + 1, len(deliveries)), Delivery(message, duplicate=True))
    return deliveries, late
