"""Use case: send a turn's answer through its channel, part by part, never a part twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from debouncer.errors import PermanentError
from debouncer.ports import ChannelSender, MessageBuffer, OutboundMessage, Turn
from debouncer.splitting import split_text


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
            return {"delivered": False}
        turn = self._buffer.acquire_reply(conversation_key, burst, token, self._clock())
        delivered = self._deliver(turn, token) if turn is not None else False
        if ai_failed:
            failure = self._buffer.report_ai_failure(conversation_key, burst, self._clock())
            if failure is not None:
                raise PermanentError(f"AI failed, fallback sent. {failure}")
        return {"delivered": delivered}

    def _deliver(self, turn: Turn, token: str) -> bool:
        if turn.answer is None or turn.delivered or turn.failed or not turn.messages:
            return False
        conversation_key, burst = turn.conversation_key, turn.burst
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
        return True
