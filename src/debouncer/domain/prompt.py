"""The provider-neutral conversation an AIRequest becomes: history turns, then the burst as one user turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from debouncer.domain.burst import concatenate
from debouncer.domain.ports import AIRequest
from debouncer.media.limits import Fitted, MediaLimits, fit
from debouncer.media.model import Part, TextPart

Role = Literal["user", "assistant"]

# The assistant's turn in the history for messages the bot did not answer because a human had taken over.
HUMAN_ANSWERED = "[not answered by the assistant: a human agent was handling the conversation]"


class ChatTurn(NamedTuple):
    """One turn of the conversation sent to a model.

    `text` is the turn as plain text. `parts`, set only on the burst's turn when it has media, is then its content:
    texts, transcripts, images and documents in burst order (a provider fits them to its limits).
    """

    role: Role
    text: str
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True)
class Conversation:
    """The system prompt, kept apart because each API places it differently, and the turns, oldest first."""

    system: str
    turns: tuple[ChatTurn, ...]


def conversation(request: AIRequest) -> Conversation:
    """User/assistant pairs from the history (oldest first, text only), then the whole burst as the final user turn."""
    turns: list[ChatTurn] = []
    for entry in request.history:
        # What the person wrote while a human had the conversation has no answer of the bot's: the model is told so in
        # the assistant's place, which keeps user/assistant alternating as chat APIs require.
        assistant = HUMAN_ANSWERED if entry.assistant is None else entry.assistant
        # Chat APIs reject blank turns and need user/assistant to alternate: skip a pair rather than break either.
        if entry.user.strip() and assistant.strip():
            turns += [ChatTurn("user", entry.user), ChatTurn("assistant", assistant)]
    turns.append(ChatTurn("user", concatenate(request.messages), request.parts))
    return Conversation(system=request.system_prompt, turns=tuple(turns))


def fitted(turn: ChatTurn, limits: MediaLimits | None) -> tuple[Fitted, ...]:
    """What a provider sends as the turn: its parts fitted to `limits` (None: a text-only model), else its text."""
    return fit(turn.parts, limits) or (TextPart(turn.text),)
