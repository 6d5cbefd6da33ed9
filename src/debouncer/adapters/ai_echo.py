"""The embedded default AI: deterministic, offline, and its answer holds every message of the burst in order."""

from __future__ import annotations

from debouncer.burst import concatenate
from debouncer.ports import AIRequest


class EchoAI:
    """Implements AIProvider without a model, so the whole pipeline runs with no account and no network."""

    uses_history = False

    def answer(self, request: AIRequest) -> str:
        """Echo the burst back, one line per message."""
        return f"You said ({len(request.messages)} messages):\n{concatenate(request.messages)}"
