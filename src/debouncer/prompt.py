"""The provider-neutral conversation an AIRequest becomes: history turns, then the burst as one user turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from debouncer.burst import concatenate
from debouncer.ports import AIRequest

Role = Literal["user", "assistant"]


class ChatTurn(NamedTuple):
    """One (role, text) turn of the conversation sent to a model."""

    role: Role
    text: str


@dataclass(frozen=True)
class Conversation:
    """The system prompt, kept apart because each API places it differently, and the turns, oldest first."""

    system: str
    turns: tuple[ChatTurn, ...]


def conversation(request: AIRequest) -> Conversation:
    """User/assistant pairs from the history (oldest first), then the whole burst as the final user turn."""
    turns: list[ChatTurn] = []
    for entry in request.history:
        # Chat APIs reject blank turns and need user/assistant to alternate: skip a pair rather than break either.
        if entry.user.strip() and entry.assistant.strip():
            turns += [ChatTurn("user", entry.user), ChatTurn("assistant", entry.assistant)]
    turns.append(ChatTurn("user", concatenate(request.messages)))
    return Conversation(system=request.system_prompt, turns=tuple(turns))
