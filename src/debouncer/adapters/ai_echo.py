"""The embedded default AI: deterministic, offline, and its answer holds every message of the burst in order."""

from __future__ import annotations

from debouncer.media.limits import fit, only_text, size_text, title
from debouncer.media.model import MediaPart
from debouncer.ports import AIRequest
from debouncer.prompt import conversation


class EchoAI:
    """Implements AIProvider without a model, so the whole pipeline runs with no account and no network.

    A burst with media is echoed part by part: texts and transcripts as they are, each image or document described
    (kind, type, size), so a local run shows what a model is sent. `media=False` shows what a text-only model gets.
    """

    uses_history = False

    def __init__(self, *, media: bool = True) -> None:
        self._media = media

    def answer(self, request: AIRequest) -> str:
        """Echo the burst back, one line per message (a burst with media: per part)."""
        count = len(request.messages)
        turn = conversation(request).turns[-1]
        if not turn.parts:
            body = turn.text
        elif self._media:
            body = "\n".join(_describe(p) if isinstance(p, MediaPart) else p.text for p in turn.parts)
        else:  # what a text-only model is sent
            body = only_text(fit(turn.parts, None)) or turn.text
        return f"You said ({count} message{'' if count == 1 else 's'}):\n{body}"


def _describe(part: MediaPart) -> str:
    """`[image: image/png, 12.3 kB]`: echo has no limits, so it names every item it got."""
    return f"[{title(part)}: {part.mime_type}, {size_text(part.size)}]"
