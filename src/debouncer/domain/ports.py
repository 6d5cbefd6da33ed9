"""Ports: the small interfaces the use cases need. Adapters implement them, one file each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from debouncer.domain.models import BusinessEcho, InboundMessage, MediaRef, MessageChange
from debouncer.media.model import FetchedMedia, Part, ResolvedMedia


@dataclass(frozen=True)
class AppendResult:
    """What the one buffer write tells the caller: enough to decide about the timer without a read."""

    burst: int
    count: int
    size: int
    # A redelivery of a message still waiting: not stored twice. (One an earlier burst claimed is stored, and
    # dropped by the next claim: the append cannot tell it without one more read per message.)
    duplicate: bool = False
    quiet_deadline: str | None = None  # when the open burst is due if nothing follows it
    opened_burst: bool = False  # this message was the open burst's first: the one that starts its timer
    full: bool = False  # not stored: the open burst has no room left for it until it is claimed (a retry will fit)
    paused: bool = False  # stored while a human has the conversation: it will be history, not answered


@dataclass(frozen=True)
class Turn:
    """A claimed burst: its messages in order, the answer once known, and what was delivered."""

    conversation_key: str
    burst: int
    messages: tuple[InboundMessage, ...]
    claimed_by: str
    answer: str | None = None
    parts_sent: int = 0
    delivered: bool = False
    failed: bool = False  # dead-lettered for good: no run of any execution touches it again
    ai_failure: str | None = None  # why the AI failed, when the answer is the fallback message
    dropped_duplicates: tuple[str, ...] = field(default=())
    media: tuple[ResolvedMedia, ...] | None = None  # what its media resolved to, once read (None: not yet)
    # Earlier turns whose answers this one replaces (superseded before any part left): their messages come first in
    # `messages`, so the AI answers everything the person said at once.
    carried: tuple[int, ...] = field(default=())
    # Ids of messages the person wrote while the conversation was paused (a human had taken over): kept in the turn
    # for the AI's history, never answered.
    held: tuple[str, ...] = field(default=())
    superseded: bool = False  # its answer was never sent: a later turn answers its messages
    withheld: bool = False  # its answer was never sent: the conversation was paused before it could leave
    reply_started: bool = False  # the answer was committed to: it is sent, whatever arrives now
    cap_deadline: str | None = None  # when its oldest message's max wait ran out: the starvation bound of superseding
    claim_reason: str | None = None  # why it was claimed then: "quiet", "max_wait" (still writing) or "flush"
    ideal_at: float | None = None  # when it was ideally due: min(last arrival + debounce, cap) (epoch seconds)
    redrives: int = 0  # how many times `debouncer redrive` gave it to a new execution
    # The execution id the last redrive gave it to (on Express, the id's stem: each run of it adds its own suffix).
    redrive_for: str | None = None

    @property
    def to_answer(self) -> tuple[InboundMessage, ...]:
        """The messages the answer is for: all but the held ones."""
        return tuple(m for m in self.messages if m.message_id not in self.held)


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier exchange of the conversation, for the AI's context."""

    user: str
    assistant: str | None  # None: the person's messages were never answered by the bot (a human had taken over)


class MessageBuffer(Protocol):
    """The per-conversation buffer and its history (docs/architecture.md, The data model)."""

    def append(self, message: InboundMessage, now: float) -> AppendResult: ...

    def claim(
        self,
        conversation_key: str,
        burst: int,
        claimer: str,
        now: float,
        *,
        supersede: bool = False,
        only_if_due: bool = False,
    ) -> Turn | None:
        """Move the open burst into its turn, once; `supersede`: the turn before it, claimed but not yet being sent,
        is superseded and carried into this one (within its max wait). `only_if_due`: raise BurstNotDueError when
        the open burst is not due yet (its timer woke to a deadline a later message moved)."""
        ...

    def history(self, conversation_key: str, before_burst: int, limit: int) -> list[HistoryEntry]: ...

    def record_answer(self, conversation_key: str, burst: int, answer: str, ai_failure: str | None = None) -> None: ...

    def record_media(self, conversation_key: str, burst: int, media: tuple[ResolvedMedia, ...]) -> None: ...

    def record_ai_failure(self, conversation_key: str, burst: int, reason: str, now: float) -> bool: ...

    def record_reply_failure(self, conversation_key: str, burst: int, token: str, reason: str, now: float) -> None: ...

    def report_ai_failure(self, conversation_key: str, burst: int, now: float) -> str | None: ...

    def load_turn(self, conversation_key: str, burst: int) -> Turn | None: ...

    def acquire_reply(self, conversation_key: str, burst: int, token: str, now: float) -> Turn | None: ...

    def acquire_and_begin_reply(
        self, conversation_key: str, burst: int, token: str, now: float, *, supersede: bool
    ) -> Turn | None:
        """acquire_reply, and begin_reply too when nothing stands in the answer's way (no pause; with `supersede`, no
        waiting burst that would supersede it): the turn then comes back with reply_started set. Otherwise the turn
        as acquire_reply returns it, and the caller begins the reply (or not) itself."""
        ...

    def begin_reply(self, turn: Turn, token: str, now: float, *, supersede: bool) -> ReplyStart:
        """Decide, once and for good, whether the answer is sent: before its first part only."""
        ...

    def mark_replying(self, conversation_key: str, now: float, *, replying: bool) -> None:
        """Say (or stop saying) that a reply is leaving: the channel may echo a part before its id is recorded."""
        ...

    def record_delivery(
        self,
        conversation_key: str,
        burst: int,
        token: str,
        parts_sent: int,
        *,
        done: bool,
        now: float,
        sent_id: str | None = None,
    ) -> None: ...


# What happened to an edit or a delete: applied to the open burst; the message was already answered (or is being
# answered); no message with that id has arrived; an older edit arriving after a newer one.
ChangeOutcome = Literal["applied", "answered", "unknown", "outdated"]
# What a reply may do once its answer is ready: send it; not send it, as later messages supersede it; not send it,
# as a human has taken the conversation over; nothing, as the turn is settled (sent, failed or superseded already).
ReplyStart = Literal["send", "superseded", "withheld", "settled"]


class ConversationControl(Protocol):
    """Changes to waiting messages, and the pause a human takeover puts a conversation in (handoff)."""

    def apply_change(self, change: MessageChange, now: float) -> ChangeOutcome: ...

    def is_own_echo(self, echo: BusinessEcho, now: float) -> bool:
        """True when the product sent `echo.message_id` itself (or is sending a reply right now and may have)."""
        ...

    def conversations(self, channel: str, recipient_id: str, account_id: str | None) -> list[str]:
        """The keys of the known conversations with this recipient (in one account when given)."""
        ...

    def pause(self, conversation_key: str, until: float, now: float, *, extend_only: bool = False) -> float:
        """Pause until `until` (epoch seconds); `extend_only` never shortens a longer pause. Returns the pause end."""
        ...

    def resume(self, conversation_key: str, now: float) -> None: ...

    def paused_until(self, conversation_key: str, now: float) -> float | None:
        """When the conversation's pause ends; None when it is not paused."""
        ...


class Timer(Protocol):
    """Starts the one execution of a burst (or its early flush). Idempotent per (conversation, burst, flush)."""

    def start(self, conversation_key: str, burst: int, *, wake_at: str, flush: bool = False) -> None:
        """`wake_at`: the first time worth looking at the buffer (the burst's quiet deadline; now for a flush)."""
        ...


@dataclass(frozen=True)
class DeadLetter:
    """One record received from the dead-letter queue: its body as the state machine wrote it, and the handle that
    deletes it (valid while this receipt lasts)."""

    body: str
    receipt: str


class DeadLetters(Protocol):
    """The dead-letter queue, read by `debouncer redrive`: each record stays on it until deleted."""

    def receive(self) -> list[DeadLetter]:
        """The next few records not yet received in this pass (hidden from other readers meanwhile); [] at the end."""
        ...

    def delete(self, letter: DeadLetter) -> None: ...

    def release(self, letter: DeadLetter) -> None:
        """Make a received record visible again at once (left on the queue)."""
        ...


class RedriveBuffer(Protocol):
    """What a redrive reads and writes of the buffer and its turns."""

    def load_turn(self, conversation_key: str, burst: int) -> Turn | None: ...

    def holds_burst(self, conversation_key: str, burst: int) -> bool:
        """True while this burst is still the buffer's open one, with messages (never claimed)."""
        ...

    def reopen(self, conversation_key: str, burst: int, *, claimer: str, attempt: int, now: float) -> bool:
        """Give an undelivered turn to the execution `claimer` (redrive number `attempt`), once; False when it was
        delivered, superseded or withheld, is being replied to, or an equal or later redrive has it already."""
        ...


class RedriveTimer(Protocol):
    """Starts the execution that answers a dead-lettered burst again: it processes at once."""

    def execution_id(self, name: str) -> str:
        """The id that execution's Process claims as (on Express, the stem each run's id starts with, then ':')."""
        ...

    def start_named(self, conversation_key: str, burst: int, *, name: str, wake_at: str) -> None:
        """Start (or find already started) the execution `name`: idempotent on Standard; on Express another run,
        which finds the turn taken and ends quietly."""
        ...


@dataclass(frozen=True)
class AIRequest:
    """What the AI gets: the whole burst, in order, plus recent history.

    `parts` is the burst as one multimodal user turn, in burst order (texts, transcripts in place of voice notes,
    images and documents as MediaPart, placeholders for what could not be read); empty when the burst has no
    media, and then the burst is its messages' text (burst.concatenate).
    """

    system_prompt: str
    messages: tuple[InboundMessage, ...]
    history: tuple[HistoryEntry, ...] = ()
    parts: tuple[Part, ...] = ()


class MediaSource(Protocol):
    """Downloads one media item of a channel's message: called after the claim, never in the webhook."""

    def fetch(self, message: InboundMessage, media: MediaRef, *, max_bytes: int) -> FetchedMedia:
        """The item's bytes, streamed and refused past `max_bytes`; raises MediaUnavailableError for what no retry
        can read (gone, expired, oversize, unsupported, unsafe URL) and RetryableError for 5xx, 429 and timeouts."""
        ...


class MediaStore(Protocol):
    """Where fetched media is kept once (S3): keyed by the burst, so retries and duplicate runs read, not fetch."""

    def put(self, key: str, media: FetchedMedia) -> None: ...

    def get(self, key: str) -> FetchedMedia | None:
        """The stored item, or None when nothing is stored under `key`."""
        ...

    def uri(self, key: str) -> str:
        """Where a service reads the object from (s3://bucket/key), for Amazon Transcribe."""
        ...


class Transcriber(Protocol):
    """Turns a voice note or an audio file into text; raises MediaUnavailableError or RetryableError."""

    def transcribe(self, key: str, media: FetchedMedia) -> str:
        """The spoken text of the item stored under `key` (its bytes are `media`)."""
        ...


class AIProvider(Protocol):
    """Turns a burst into one answer."""

    uses_history: bool

    def answer(self, request: AIRequest) -> str: ...


@dataclass(frozen=True)
class OutboundMessage:
    """One reply part addressed to a user on a channel."""

    channel: str
    account_id: str
    recipient_id: str
    text: str
    message_ids: tuple[str, ...]
    thread_id: str | None = None
    reply_to: str | None = None

    @classmethod
    def answering(cls, burst: tuple[InboundMessage, ...], text: str) -> OutboundMessage:
        """The reply to a burst goes where its first message came from, naming every message it answers."""
        first = burst[0]
        return cls(
            channel=first.channel,
            account_id=first.account_id,
            recipient_id=first.recipient_id,
            text=text,
            message_ids=tuple(m.message_id for m in burst),
            thread_id=first.thread_id,
        )


@dataclass(frozen=True)
class TextLimit:
    """How long one message may be on a channel, and in which unit the channel counts."""

    size: int
    unit: Literal["chars", "utf16", "bytes"] = "chars"


class ChannelSender(Protocol):
    """Sends reply text through a channel; raises RetryableError or PermanentError."""

    text_limit: TextLimit

    def send(self, message: OutboundMessage) -> str | None:
        """Send one part; returns the id the channel gave the sent message (None when it gives none)."""
        ...

    def show_typing(self, message: OutboundMessage) -> None:
        """Presence, best effort: mark message.message_ids[-1] read where the channel can, show typing.

        message.text is unused. Raises like send(); callers treat any failure as harmless.
        """
        ...
