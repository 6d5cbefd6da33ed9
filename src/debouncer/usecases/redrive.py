"""Use case: answer the dead-lettered bursts whose turns are still unanswered, once (`debouncer redrive`).

Each DLQ record names a burst and the execution that gave up on it. A burst nobody answered goes back into the
pipeline through an execution of its own, named after that one (`<burst's name>-redrive-<n>`, n one more than the
failed execution's), so every step is idempotent and a crash anywhere is finished by the next run:

1. reopen the turn for that execution (one conditional write: not delivered, not superseded or withheld, no reply
   leaving, no redrive numbered n or later yet), or nothing when the burst was never claimed;
2. start the execution (by name: Standard finds one already started; an Express run that finds the turn taken by
   another ends quietly), which processes at once and replies under the turn's lease, as any execution does;
3. delete the record: only now is the burst safely back in the pipeline (if that execution fails, it dead-letters
   the burst again, under its own name).

A turn delivered (the fallback message included), superseded or withheld needs nothing: its record is deleted. A
record whose burst can no longer be found, or that cannot be read, is left on the queue.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from debouncer.domain.burst import execution_name, iso_second
from debouncer.domain.errors import DebouncerError
from debouncer.domain.ports import DeadLetter, DeadLetters, RedriveBuffer, RedriveTimer, Turn
from debouncer.domain.privacy import conversation_ref

REDRIVE_SUFFIX = "-redrive-"
_ATTEMPT = re.compile(re.escape(REDRIVE_SUFFIX) + r"(\d+)$")

# What was done with a record (in a dry run, what would be: the same outcome, with nothing written or deleted):
# - redriven: its burst went back into the pipeline (the record is deleted);
# - resumed: a redrive had already reopened its turn; its execution is started again (idempotent; deleted);
# - answered, fallback_answered, superseded, withheld: nothing left to answer (deleted);
# - stale: a later redrive has its turn, and dead-letters it again under its own name if it fails (deleted);
# - kept: left on the queue (`detail` says why).
Action = Literal["redriven", "resumed", "answered", "fallback_answered", "superseded", "withheld", "stale", "kept"]


@dataclass(frozen=True)
class Outcome:
    """One record's outcome, for the operator: the conversation's pseudonym, never its key."""

    action: Action
    detail: str
    conversation: str | None = None
    burst: int | None = None
    error: str | None = None  # the error the record carries
    deleted: bool = False  # the record left the queue (never in a dry run)

    @property
    def left_on_queue(self) -> bool:
        return not self.deleted

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Record:
    conversation_key: str
    burst: int
    execution: str
    error: str


def redrive_name(conversation_key: str, burst: int, attempt: int) -> str:
    """The execution of the burst's `attempt`-th redrive: within Step Functions' 80 characters (60 + 9 + digits)."""
    return f"{execution_name(conversation_key, burst)}{REDRIVE_SUFFIX}{attempt}"


def attempt_of(execution_id: str) -> int:
    """Which redrive an execution was: 0 for the burst's own (its timer's or its flush); from its id, whose 8th
    ':'-separated field is the name on both workflow types."""
    fields = execution_id.split(":")
    match = _ATTEMPT.search(fields[7]) if len(fields) > 7 else None
    return int(match.group(1)) if match else 0


def _parse(body: str) -> _Record:
    """The record as the state machine's DeadLetter state writes it; ValueError for anything else."""
    try:
        record = json.loads(body)
        return _Record(
            conversation_key=str(record["conversation_key"]),
            burst=int(record["burst"]),
            execution=str(record.get("execution") or ""),
            error=str(record.get("error") or ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"not a dead-letter record of this pipeline ({type(e).__name__})") from e


class Redrive:
    """Reads the whole queue once; each record is redriven, deleted as settled, or left (see the module docstring)."""

    def __init__(
        self,
        letters: DeadLetters,
        buffer: RedriveBuffer,
        timer: RedriveTimer,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._letters = letters
        self._buffer = buffer
        self._timer = timer
        self._clock = clock

    def run(self, *, dry_run: bool = False, progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Every record's outcome, in the order received. A dry run writes nothing and deletes nothing."""
        outcomes: list[Outcome] = []
        kept: list[DeadLetter] = []
        try:
            # Each record left stays hidden until the end of the pass, so no record is received twice.
            while batch := self._letters.receive():
                for letter in batch:
                    outcome = self._one(letter, dry_run)
                    if not outcome.deleted:
                        kept.append(letter)
                    outcomes.append(outcome)
                    if progress is not None:
                        progress(outcome)
        finally:
            for letter in kept:
                self._letters.release(letter)
        return outcomes

    def _one(self, letter: DeadLetter, dry_run: bool) -> Outcome:
        try:
            record = _parse(letter.body)
        except ValueError as e:
            return Outcome("kept", str(e))
        try:
            outcome = self._settle(record, dry_run)
        except DebouncerError as e:  # AWS throttled or failed this one: the next run takes it again
            outcome = Outcome("kept", f"{type(e).__name__}: {e}")
        outcome = replace(
            outcome, conversation=conversation_ref(record.conversation_key), burst=record.burst, error=record.error
        )
        if outcome.action == "kept" or dry_run:
            return outcome
        try:
            self._letters.delete(letter)
        except DebouncerError as e:  # done, all the same: the next run finds it so and deletes the record
            return replace(outcome, detail=f"{outcome.detail}; the record could not be deleted ({e}): run again")
        return replace(outcome, deleted=True)

    def _settle(self, record: _Record, dry_run: bool) -> Outcome:
        """What the record needs, done (unless a dry run): an Outcome whose action is not "kept" lets it go."""
        key, burst = record.conversation_key, record.burst
        attempt = attempt_of(record.execution) + 1
        name = redrive_name(key, burst, attempt)
        turn = self._buffer.load_turn(key, burst)
        if turn is None:
            if not self._buffer.holds_burst(key, burst):
                return Outcome("kept", "neither its turn nor its messages are stored any more (expired?)")
            # Never claimed (it failed before its claim): an execution that processes at once claims it now.
            return self._start(record, name, dry_run, "redriven", "never claimed: processed now")
        settled = _settled(turn)
        if settled is not None:
            return settled
        if turn.redrives > attempt or (turn.redrives == attempt and turn.failed):
            # That redrive's execution answers it, or dead-letters it again under its own name.
            return Outcome("stale", f"redrive {turn.redrives} took it over")
        if turn.redrives == attempt:
            # Reopened for this very execution by a redrive that stopped before starting it, or after.
            return self._start(record, name, dry_run, "resumed", f"redrive {attempt} started again")
        if dry_run:
            return Outcome("redriven", f"answered again by redrive {attempt}")
        claimer = self._timer.execution_id(name)
        if not self._buffer.reopen(key, burst, claimer=claimer, attempt=attempt, now=self._clock()):
            turn = self._buffer.load_turn(key, burst)
            settled = None if turn is None else _settled(turn)
            return settled or Outcome("kept", "its turn changed meanwhile, or a reply is leaving: run again later")
        return self._start(record, name, dry_run, "redriven", f"answered again by redrive {attempt}")

    def _start(self, record: _Record, name: str, dry_run: bool, action: Action, detail: str) -> Outcome:
        if dry_run:
            return Outcome(action, detail)
        self._timer.start_named(record.conversation_key, record.burst, name=name, wake_at=iso_second(self._clock() - 1))
        return Outcome(action, detail)


def _settled(turn: Turn) -> Outcome | None:
    """The outcome of a record whose turn needs nothing more; None when it is still unanswered."""
    if turn.delivered:
        if turn.ai_failure is not None:
            return Outcome("fallback_answered", "the fallback message was delivered: no second reply")
        return Outcome("answered", "already delivered")
    if turn.superseded:
        return Outcome("superseded", "a later turn answered its messages")
    if turn.withheld:
        return Outcome("withheld", "not to be answered (a human had the conversation, or nothing was left)")
    return None
