"""The provider-neutral conversation an AIRequest becomes: history turns, then the burst as one user turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from debouncer.burst import concatenate
from debouncer.media.limits import Fitted, MediaLimits, fit
from debouncer.media.model import Part, TextPart
from debouncer.ports import AIRequest

Role = Literal["user", "assistant"]


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
        # Chat APIs reject blank turns and need user/assistant to alternate: skip a pair rather than break either.
        if entry.user.strip() and entry.assistant.strip():
            turns += [ChatTurn("user", entry.user), ChatTurn("assistant", entry.assistant)]
    turns.append(ChatTurn("user", concatenate(request.messages), request.parts))
    return Conversation(system=request.system_prompt, turns=tuple(turns))


def fitted(turn: ChatTurn, limits: MediaLimits | None) -> tuple[Fitted, ...]:
    """What a provider sends as the turn: its parts fitted to `limits` (None: a text-only model), else its text."""
    return fit(turn.parts, limits) or (TextPart(turn.text),)
