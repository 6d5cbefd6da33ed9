"""Use case: send a turn's answer through its channel, part by part, never a part twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from debouncer.ports import ChannelSender, MessageBuffer, OutboundMessage
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

    def reply(self, conversation_key: str, burst: int, token: str, *, claimed: bool) -> dict[str, Any]:
        """Deliver the answer; returns {"delivered": False} when there is nothing (left) to send."""
        if not claimed:
            return {"delivered": False}
        turn = self._buffer.acquire_reply(conversation_key, burst, token, self._clock())
        if turn is None or turn.answer is None or not turn.messages:
            return {"delivered": False}
        sender = self._senders[turn.messages[0].channel]
        parts = split_text(turn.answer, sender.text_limit)
        for index in range(turn.parts_sent, len(parts)):
            sender.send(OutboundMessage.answering(turn.messages, parts[index]))
            self._buffer.record_delivery(
                conversation_key, burst, token, index + 1, done=index + 1 == len(parts), now=self._clock()
            )
        return {"delivered": True, "parts": len(parts)}
