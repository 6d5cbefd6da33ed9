"""An in-memory MessageBuffer for simulation only: what the DynamoDB adapter's writes decide, on a virtual clock.

The use cases (Ingest, Processor, Replier) and the domain's deadline functions run unchanged on top of it; what this
file models is the adapter's side of the contract (debouncer.adapters.dynamodb.DynamoDbStore): one open burst per
conversation whose quiet deadline every message moves and whose cap its first message sets, a claim that moves the
open burst into a turn (carrying the turn before it while that one's answer may still be replaced), and the reply's
decision before its first part (waiting messages supersede it within its max wait). Pauses, edits, history, media
and the item-size limit (max_buffer_bytes flushes long before it) play no part in timing and are left out.
tests/integration/test_tuning_matches_pipeline.py checks it against the real pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

from debouncer.domain.burst import cap_deadline, due_at, epoch_of, first_burst, is_due, ordered, quiet_deadline
from debouncer.domain.errors import BurstNotDueError
from debouncer.domain.models import InboundMessage
from debouncer.domain.ports import AppendResult, HistoryEntry, ReplyStart, Turn
from debouncer.media.model import ResolvedMedia

# Deadlines are whole seconds, and a simulation reads the same ones thousands of times: parse each once.
cached_epoch_of = lru_cache(maxsize=1 << 16)(epoch_of)


@dataclass
class _Buffer:
    """The buffer item of one conversation (its attributes as the adapter names them)."""

    burst: int | None = None
    messages: list[InboundMessage] = field(default_factory=list)
    size: int = 0
    quiet: str | None = None
    cap: str | None = None
    opened_at: float | None = None
    carried: list[int] = field(default_factory=list)
    last_turn: int | None = None


class MemoryBuffer:
    """MessageBuffer on dictionaries, for one simulated setting (debounce and max wait are the adapter's too)."""

    def __init__(self, *, debounce_seconds: int, max_wait_seconds: int) -> None:
        self._debounce = debounce_seconds
        self._max_wait = max_wait_seconds
        self._buffers: dict[str, _Buffer] = {}
        self._turns: dict[tuple[str, int], Turn] = {}

    def open_burst(self, conversation_key: str) -> tuple[int | None, str | None, str | None]:
        """(burst, quiet deadline, cap deadline) as the state machine's ReadBuffer projects them."""
        buffer = self._buffers.get(conversation_key)
        if buffer is None:
            return None, None, None
        return buffer.burst, buffer.quiet, buffer.cap

    def append(self, message: InboundMessage, now: float) -> AppendResult:
        """Append to the open burst, moving its quiet deadline and opening it (number, cap) if none is open."""
        buffer = self._buffers.setdefault(message.conversation_key, _Buffer())
        size = len(message.document.encode()) + len(message.message_id.encode())
        if buffer.burst is None:
            buffer.burst = first_burst(now)
        if any(m.message_id == message.message_id for m in buffer.messages):
            return AppendResult(
                burst=buffer.burst,
                count=len(buffer.messages),
                size=buffer.size,
                duplicate=True,
                quiet_deadline=buffer.quiet,
                opened_burst=buffer.messages[0].message_id == message.message_id,
            )
        buffer.messages.append(message)
        buffer.size += size
        buffer.quiet = quiet_deadline(now, self._debounce)
        if buffer.cap is None:
            buffer.cap = cap_deadline(now, self._max_wait)
        if buffer.opened_at is None:
            buffer.opened_at = now
        return AppendResult(
            burst=buffer.burst,
            count=len(buffer.messages),
            size=buffer.size,
            quiet_deadline=buffer.quiet,
            opened_burst=len(buffer.messages) == 1,
        )

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
        """Move the open burst into its turn once; with `supersede`, carry the turn before it if still replaceable.
        `only_if_due`: BurstNotDueError for an open burst not due yet (as the DynamoDB buffer does)."""
        buffer = self._buffers.get(conversation_key)
        if buffer is None or buffer.burst != burst or not buffer.messages:
            turn = self.load_turn(conversation_key, burst)
            return turn if turn is not None and turn.claimed_by == claimer else None
        if only_if_due and not is_due(buffer.quiet, buffer.cap, now):
            raise BurstNotDueError(f"burst {burst} is not due until {due_at(buffer.quiet, buffer.cap)}")
        carried, cap = list(buffer.carried), buffer.cap
        superseded = self._supersedable(conversation_key, buffer, now) if supersede else None
        if superseded is not None:
            carried = [*superseded.carried, superseded.burst, *carried]
            cap = min(c for c in (cap, superseded.cap_deadline) if c is not None)
            self._turns[(conversation_key, superseded.burst)] = replace(superseded, superseded=True)
        turn = Turn(
            conversation_key=conversation_key,
            burst=burst,
            messages=tuple(ordered(buffer.messages)),
            claimed_by=claimer,
            carried=tuple(carried),
            cap_deadline=cap,
        )
        self._turns[(conversation_key, burst)] = turn
        self._buffers[conversation_key] = _Buffer(burst=max(burst + 1, first_burst(now)), last_turn=burst)
        return self._with_carried(turn)

    def _supersedable(self, conversation_key: str, buffer: _Buffer, now: float) -> Turn | None:
        if buffer.last_turn is None or buffer.last_turn in buffer.carried:
            return None
        turn = self._turns.get((conversation_key, buffer.last_turn))
        if (
            turn is None
            or _settled_or_started(turn)
            or turn.cap_deadline is None
            or cached_epoch_of(turn.cap_deadline) < now
        ):
            return None
        return turn

    def _with_carried(self, turn: Turn) -> Turn:
        messages = list(turn.messages)
        for burst in turn.carried:
            earlier = self._turns.get((turn.conversation_key, burst))
            if earlier is not None:
                messages += earlier.messages
        return replace(turn, messages=tuple(ordered(messages)))

    def load_turn(self, conversation_key: str, burst: int) -> Turn | None:
        """The turn with the messages of the turns it carries."""
        turn = self._turns.get((conversation_key, burst))
        return None if turn is None else self._with_carried(turn)

    def history(self, conversation_key: str, before_burst: int, limit: int) -> list[HistoryEntry]:
        """No history: the simulated AI answers without it."""
        return []

    def record_answer(self, conversation_key: str, burst: int, answer: str, ai_failure: str | None = None) -> None:
        """Store the answer once."""
        turn = self._turns[(conversation_key, burst)]
        if turn.answer is None and not turn.failed:
            self._turns[(conversation_key, burst)] = replace(turn, answer=answer, ai_failure=ai_failure)

    def record_media(self, conversation_key: str, burst: int, media: tuple[ResolvedMedia, ...]) -> None:
        """Nothing to record: simulated messages carry no media."""

    def record_ai_failure(self, conversation_key: str, burst: int, reason: str, now: float) -> bool:
        """The simulated AI never fails."""
        return False

    def record_reply_failure(self, conversation_key: str, burst: int, token: str, reason: str, now: float) -> None:
        """The simulated channel never fails."""

    def report_ai_failure(self, conversation_key: str, burst: int, now: float) -> str | None:
        """Nothing to report: the simulated AI never fails."""
        return None

    def acquire_reply(self, conversation_key: str, burst: int, token: str, now: float) -> Turn | None:
        """The turn to reply with (one run per execution in simulation: the lease is always free)."""
        turn = self._turns.get((conversation_key, burst))
        if turn is None or turn.answer is None:
            return None
        return self._with_carried(turn)

    def acquire_and_begin_reply(
        self, conversation_key: str, burst: int, token: str, now: float, *, supersede: bool
    ) -> Turn | None:
        """acquire_reply only: the simulation counts no AWS calls, so the caller's begin_reply decides."""
        return self.acquire_reply(conversation_key, burst, token, now)

    def begin_reply(self, turn: Turn, token: str, now: float, *, supersede: bool) -> ReplyStart:
        """Send, or stand down for messages waiting in the buffer within this turn's max wait (carrying it)."""
        key = (turn.conversation_key, turn.burst)
        stored = self._turns[key]
        if _settled_or_started(stored):
            return "settled"
        buffer = self._buffers.get(turn.conversation_key) or _Buffer()
        if supersede and self._superseded_by_waiting(stored, buffer, now):
            self._turns[key] = replace(stored, superseded=True)
            buffer.carried = [*buffer.carried, *stored.carried, stored.burst]
            if buffer.cap is not None and stored.cap_deadline is not None:
                buffer.cap = min(buffer.cap, stored.cap_deadline)
            return "superseded"
        self._turns[key] = replace(stored, reply_started=True)
        return "send"

    def _superseded_by_waiting(self, turn: Turn, buffer: _Buffer, now: float) -> bool:
        if turn.cap_deadline is None or buffer.opened_at is None or not buffer.messages or buffer.burst == turn.burst:
            return False
        first_look = cached_epoch_of(quiet_deadline(buffer.opened_at, self._debounce))
        cap = cached_epoch_of(turn.cap_deadline)
        return now < cap and first_look <= cap

    def mark_replying(self, conversation_key: str, now: float, *, replying: bool) -> None:
        """Nothing to mark: simulated channels echo nothing."""

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
    ) -> None:
        """Count the part; the last one delivers the turn."""
        turn = self._turns[(conversation_key, burst)]
        self._turns[(conversation_key, burst)] = replace(turn, parts_sent=parts_sent, delivered=done)


def _settled_or_started(turn: Turn) -> bool:
    return turn.reply_started or turn.superseded or turn.withheld or turn.failed or turn.delivered
