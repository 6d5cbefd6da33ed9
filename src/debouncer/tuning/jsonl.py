"""Timings from a JSON Lines file: one message a line, {"conversation", "timestamp" (epoch seconds), "tenant"?,
"channel"?}. Any other field (a text, say) is never read."""

from __future__ import annotations

import json
import math
from pathlib import Path

from debouncer.domain.models import CHANNELS
from debouncer.tuning.trace import TimedMessage, TraceError


def read_jsonl(path: Path) -> list[TimedMessage]:
    """Every message of the file; TraceError names the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TraceError(f"{path}: {e}") from e
    messages = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            messages.append(_message(json.loads(line)))
        except (ValueError, TypeError) as e:
            raise TraceError(f"{path}:{number}: {e}") from e
    return messages


def _message(record: object) -> TimedMessage:
    if not isinstance(record, dict):
        raise TypeError("each line must be a JSON object")
    conversation, timestamp = record.get("conversation"), record.get("timestamp")
    if not isinstance(conversation, str) or not conversation:
        raise TypeError('"conversation" must be a non-empty string')
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float) or not math.isfinite(timestamp):
        raise TypeError('"timestamp" must be a number of epoch seconds')
    if timestamp < 0:
        raise ValueError('"timestamp" must not be negative')
    tenant, channel = record.get("tenant"), record.get("channel")
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        raise TypeError('"tenant" must be a non-empty string when given')
    if channel is not None and channel not in CHANNELS:
        raise ValueError(f'"channel" must be one of {", ".join(CHANNELS)} when given')
    # The same name under two tenants or channels is two conversations (the deployment's group holds several channels).
    qualified = f"{tenant or ''}/{channel or ''}/{conversation}"
    return TimedMessage(conversation=qualified, at=float(timestamp), tenant=tenant, channel=channel)
