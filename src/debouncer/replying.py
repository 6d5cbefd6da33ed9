"""Use case: send a turn's answer through its channel, part by part, never a part twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from debouncer.burst import iso_second
from debouncer.errors import PermanentError, ReplyLeaseHeldError
from debouncer.ports import ChannelSender, MessageBuffer, OutboundMessage
from debouncer.splitting import split_text

# How often a run that found the reply lease held looks again (it waits in the state machine, not in a Lambda).
LEASE_POLL_SECONDS = 5


class Replier:
    """What reply does: take the turn's reply lease, send the parts not yet sent, record each one."""

    def __init__(
        self,
        buffer: MessageBuffer,
        senders: Mapping[str, ChannelSender],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._buffer = buffer
        self._senders = senders
        self._clock = clock

    def reply(self, conversation_key: str, burst: int, token: str, *, claimed: bool) -> dict[str, Any]:
        """Deliver the answer; {"delivered": False} when there is nothing (left) to send.

        "lease_held_until" (a whole-second UTC timestamp) is set when another run holds the lease: the state machine
        waits until then and calls again, rather than sending alongside it or failing a burst that is being answered.
        """
        if not claimed:
            return {"delivered": False, "lease_held_until": None}
        try:
            turn = self._buffer.acquire_reply(conversation_key, burst, token, self._clock())
        except ReplyLeaseHeldError as held:
            # Look again soon: the holder usually finishes long before its lease would lapse.
            return {
                "delivered": False,
                "lease_held_until": iso_second(min(held.until, self._clock() + LEASE_POLL_SECONDS)),
            }
        if turn is None or turn.answer is None or not turn.messages:
            return {"delivered": False, "lease_held_until": None}
        sender = self._senders[turn.messages[0].channel]
        parts = split_text(turn.answer, sender.text_limit)
        for index in range(turn.parts_sent, len(parts)):
            try:
                sender.send(OutboundMessage.answering(turn.messages, parts[index]))
            except PermanentError as error:
                # Settled for good before the DLQ: a duplicate run of this execution neither waits out the lease
                # nor sends (and dead-letters) again.
                self._buffer.record_reply_failure(conversation_key, burst, token, str(error), self._clock())
                raise
            self._buffer.record_delivery(
                conversation_key, burst, token, index + 1, done=index + 1 == len(parts), now=self._clock()
            )
        return {"delivered": True, "parts": len(parts), "lease_held_until": None}
