"""Use case: send a turn's answer through its channel, part by part, never a part twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import ChannelSender, MessageBuffer, OutboundMessage, Turn
from debouncer.domain.splitting import split_text

logger = Logger(child=True)


@dataclass(frozen=True)
class _Delivery:
    """What one reply run did: delivered the answer (and how late its first part left), or found it superseded."""

    delivered: bool = False
    superseded: bool = False
    lateness_seconds: float | None = None  # only from the run that sent the first part


# Channels that echo every message the business account sends back to the webhook, the product's own included: what
# the product sends there is recorded, so that an echo it did not send is known as a human answering (handoff).
ECHOING_CHANNELS = frozenset({"instagram"})


class Replier:
    """What reply does: take the turn's reply lease, send the parts not yet sent, record each one."""

    def __init__(
        self,
        buffer: MessageBuffer,
        senders: Mapping[str, ChannelSender],
        *,
        supersede: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._buffer = buffer
        self._senders = senders
        self._supersede = supersede
        self._clock = clock

    def reply(
        self,
        conversation_key: str,
        burst: int,
        token: str,
        *,
        claimed: bool,
        ai_failed: bool = False,
    ) -> dict[str, Any]:
        """Deliver the answer; {"delivered": False} when there is nothing (left) to send.

        Raises ReplyLeaseHeldError while another run holds the lease (the state machine waits and calls again,
        rather than sending alongside it or failing a burst that is being answered), and PermanentError with the AI's
        error once the fallback message of an AI that failed for good (`ai_failed`) is delivered: that burst is
        dead-lettered, by the first run to report it.
        """
        if not claimed:
            return {"delivered": False, "superseded": False, "lateness_seconds": None}
        # The lease and, when nothing stands in the way, the decision to send: one read and one write.
        turn = self._buffer.acquire_and_begin_reply(
            conversation_key, burst, token, self._clock(), supersede=self._supersede
        )
        outcome = self._deliver(turn, token) if turn is not None else _Delivery()
        if ai_failed:
            failure = self._buffer.report_ai_failure(conversation_key, burst, self._clock())
            if failure is not None:
                raise PermanentError(f"AI failed, fallback sent. {failure}")
        return {
            "delivered": outcome.delivered,
            "superseded": outcome.superseded,
            "lateness_seconds": outcome.lateness_seconds,
        }

    def _deliver(self, turn: Turn, token: str) -> _Delivery:
        if turn.superseded and not turn.reply_started:
            # A later claim carried its messages before this reply began (a claim-time supersede).
            return _Delivery(superseded=True)
        if turn.answer is None or turn.delivered or turn.failed or turn.superseded or turn.withheld:
            return _Delivery()
        messages = turn.to_answer
        if not messages:
            return _Delivery()
        if not turn.reply_started and turn.parts_sent == 0:
            start = self._buffer.begin_reply(turn, token, self._clock(), supersede=self._supersede)
            if start != "send":
                # superseded: the next burst answers these messages with its own; withheld: a human has the
                # conversation. Either way this answer never leaves (its AI call was the price).
                logger.info("answer not sent", outcome=start, messages=len(messages))
                return _Delivery(superseded=start == "superseded")
        conversation_key, burst = turn.conversation_key, turn.burst
        channel = messages[0].channel
        sender = self._senders[channel]
        echoes = channel in ECHOING_CHANNELS
        parts = split_text(turn.answer, sender.text_limit)
        if echoes:
            self._buffer.mark_replying(conversation_key, self._clock(), replying=True)
        lateness: float | None = None
        for index in range(turn.parts_sent, len(parts)):
            try:
                sent_id = sender.send(OutboundMessage.answering(messages, parts[index]))
            except PermanentError as error:
                # Settled for good before the DLQ: a duplicate run of this execution neither waits out the lease
                # nor sends (and dead-letters) again.
                self._buffer.record_reply_failure(conversation_key, burst, token, str(error), self._clock())
                raise
            done = index + 1 == len(parts)
            if index == 0 and turn.ideal_at is not None:
                # When the person saw the first part, after the burst was ideally due (never before it).
                lateness = max(0.0, self._clock() - turn.ideal_at)
            self._buffer.record_delivery(
                conversation_key,
                burst,
                token,
                index + 1,
                done=done,
                now=self._clock(),
                sent_id=sent_id if echoes else None,
            )
        if echoes:
            self._buffer.mark_replying(conversation_key, self._clock(), replying=False)
        return _Delivery(delivered=True, lateness_seconds=lateness)
