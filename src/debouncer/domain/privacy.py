"""Pseudonyms for logs: conversation keys hold phone numbers and user ids, so logs carry a stable hash instead."""

from __future__ import annotations

import hashlib

REF_CHARS = 12  # 48 bits: unique among a deployment's conversations, short enough to read and grep


def conversation_ref(conversation_key: str) -> str:
    """A conversation's log name: the first characters of the sha256 digest that starts its execution names."""
    return hashlib.sha256(conversation_key.encode()).hexdigest()[:REF_CHARS]
