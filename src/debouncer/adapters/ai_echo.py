"""The embedded default AI: deterministic, offline, and its answer holds every message of the burst in order."""

from __future__ import annotations

from collections.abc import Sequence

from debouncer.domain.models import InboundMessage
from debouncer.domain.ports import AIRequest
from debouncer.domain.prompt import conversation
from debouncer.media.limits import fit, only_text, size_text, title
from debouncer.media.model import MediaPart, Part


class EchoAI:
    """Implements AIProvider without a model, so the whole pipeline runs with no account and no network.

    One line per message. With media, a message's line is its parts: texts and transcripts as they are, each image or
    document described (kind, type, size), so a local run shows what a model is sent. `media=False` shows what a
    text-only model gets instead.
    """

    uses_history = False

    def __init__(self, *, media: bool = True) -> None:
        self._media = media

    def answer(self, request: AIRequest) -> str:
        """Echo the burst back, one line per message."""
        count = len(request.messages)
        turn = conversation(request).turns[-1]
        body = "\n".join(self._lines(request.messages, turn.parts)) if turn.parts else turn.text
        return f"You said ({count} message{'' if count == 1 else 's'}):\n{body}"

    def _lines(self, messages: Sequence[InboundMessage], parts: Sequence[Part]) -> list[str]:
        """Parts come as media.parts.burst_parts lays them out: per message, its media items, then its text. Were
        they laid out otherwise, each part gets a line of its own rather than a wrong message's."""
        words = [self._words(part) for part in parts]
        sizes = [len(m.media) + bool(m.text) for m in messages]
        if sum(sizes) != len(words):
            return words
        lines, start = [], 0
        for message, size in zip(messages, sizes, strict=True):
            lines.append(" ".join(words[start : start + size]) or message.render())
            start += size
        return lines

    def _words(self, part: Part) -> str:
        if not isinstance(part, MediaPart):
            return part.text
        if not self._media:  # the placeholder a text-only model is sent
            return only_text(fit((part,), None)) or ""
        return f"[{title(part)}: {part.mime_type}, {size_text(part.size)}]"
