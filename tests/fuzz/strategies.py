"""Hypothesis strategies for hostile webhook input: real payload shapes mutated, raw bytes, headers, methods, paths."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from debouncer.channels.signatures import GENERIC_HEADER, META_HEADER, TELEGRAM_HEADER
from debouncer.config import Settings
from debouncer.domain.models import MAX_TEXT_CHARS
from tests import builders

CHANNELS = ("whatsapp", "telegram", "instagram", "generic")
MAX_BODY_BYTES: int = Settings.model_fields["max_body_bytes"].default
SIGNATURE_HEADERS = {
    "whatsapp": META_HEADER,
    "instagram": META_HEADER,
    "telegram": TELEGRAM_HEADER,
    "generic": GENERIC_HEADER,
}

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Raw:
    """A JSON literal json.dumps cannot write: 1e309, -0, a 5000-digit integer, 100,000 nested brackets."""

    literal: str


def encode(document: Any, *, ensure_ascii: bool = True) -> bytes:
    """Serialize with Raw literals spliced in; lone surrogates become "\\ud800" escapes, or invalid UTF-8 bytes."""
    literals: dict[str, str] = {}

    def splice(value: object) -> str:
        if not isinstance(value, Raw):
            raise TypeError(type(value).__name__)
        marker = f"\x00raw{len(literals)}\x00"
        literals[marker] = value.literal
        return marker

    text = json.dumps(document, ensure_ascii=ensure_ascii, separators=(",", ":"), default=splice)
    for marker, literal in literals.items():
        text = text.replace(json.dumps(marker, ensure_ascii=ensure_ascii), literal, 1)
    return text.encode("utf-8", "surrogatepass")


# --- leaf values -----------------------------------------------------------------------------------------------

# Lone and paired surrogates (as JSON escapes), NUL and controls, bidi overrides, BOM, noncharacters, combining
# marks, emoji sequences, the last code point, and characters that break naive quoting or line handling.
ODD_CHARS = (
    "\ud800",
    "\udfff",
    "\ud83d",
    "\udbff\udc00",
    "\x00",
    "\x1f",
    "\x7f",
    "\u200b",
    "\u200f",
    "\u202e",
    "\u2028",
    "\ufeff",
    "\ufffd",
    "\uffff",
    "e\u0301",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0010ffff",
    '"',
    "\\",
    "\r\n",
    "%00",
)
odd_text = st.lists(st.one_of(st.characters(), st.sampled_from(ODD_CHARS)), max_size=12).map("".join)

# Around DynamoDB's key limits (1024 and 2048 bytes), the model's text cap and the body limit; built by repetition,
# so Hypothesis draws a few bytes rather than 256 KiB.
HUGE_SIZES = (1_025, 2_049, MAX_TEXT_CHARS, MAX_TEXT_CHARS + 1, MAX_BODY_BYTES // 4, MAX_BODY_BYTES - 300)
huge_text = st.builds(
    lambda unit, size: (unit * (size // len(unit) + 1))[:size],
    st.sampled_from(("x", "é", "\U0001f600", "\ud800", "\x00", "ab\u202e ")),
    st.one_of(st.sampled_from(HUGE_SIZES), st.integers(1_000, MAX_BODY_BYTES + 1)),
)

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**53, max_value=2**128),
    st.integers(min_value=-(2**128), max_value=-1),
    st.floats(),  # NaN and +-Infinity come out as the non-standard tokens Python's parser accepts
    st.just(-0.0),
    st.sampled_from(
        [Raw("1e309"), Raw("-1e309"), Raw("-0"), Raw("1E-400"), Raw("1" * 5000), Raw("0" * 30 + "1"), Raw("1.0")]
    ),
)

deep_nesting = st.builds(
    lambda depth, kind: Raw("[" * depth + "]" * depth if kind else '{"a":' * depth + "1" + "}" * depth),
    st.one_of(st.integers(1, 50), st.sampled_from([999, 1_000, 5_000, 100_000])),
    st.booleans(),
)

scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text, st.text(max_size=8))
weird_values = st.one_of(
    scalars,
    huge_text,
    deep_nesting,
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=6,
    ),
)


def swap_type(value: Any) -> Any:
    """The same content in the wrong JSON type: "1749416383" -> 1749416383, 5 -> "5", {...} -> [...]."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else [value]
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return dict(enumerate(value)) if value else {}
    return 0


# --- structural mutation of a real payload shape --------------------------------------------------------------


def paths(document: Any, prefix: Path = ()) -> list[Path]:
    """Every value's path in a JSON document, the root () included."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


def _parent(document: Any, path: Path) -> Any:
    for part in path[:-1]:
        document = document[part]
    return document


def _get(document: Any, path: Path) -> Any:
    return _parent(document, path)[path[-1]] if path else document


def _set(document: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    _parent(document, path)[path[-1]] = value
    return document


odd_strings = st.one_of(odd_text, huge_text)
# Ids become DynamoDB keys (conversation key, dedupe record) and execution names: odd ones are worth aiming at.
ID_KEYS = frozenset({"id", "from", "wa_id", "phone_number_id", "mid", "message_id", "conversation_id", "update_id"})
odd_ids = st.one_of(odd_strings, st.builds(lambda digits: 10**digits, st.integers(18, 2_100)))
STRUCTURAL = ("delete", "swap_type", "replace", "empty", "add", "duplicate")
LEAF_TARGETS: dict[str, tuple[Callable[[Path, Any], bool], st.SearchStrategy[Any]]] = {
    "odd_string": (lambda path, value: isinstance(value, str), odd_strings),
    "odd_number": (lambda path, value: isinstance(value, int | float) and not isinstance(value, bool), numbers),
    "odd_id": (lambda path, value: bool(path) and path[-1] in ID_KEYS, odd_ids),
}


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """`base` with one to three mutations: a field removed, retyped, emptied, added or duplicated, any value
    replaced by an odd one, or a string, number or id leaf swapped for an odd one of its kind."""
    document: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.sampled_from([*STRUCTURAL, *LEAF_TARGETS]))
        if operation in LEAF_TARGETS:
            aimed_at, values = LEAF_TARGETS[operation]
            leaves = [p for p in paths(document) if aimed_at(p, _get(document, p))]
            if leaves:
                document = _set(document, draw(st.sampled_from(leaves)), draw(values))
            continue
        path = draw(st.sampled_from(paths(document)))
        current = _get(document, path)
        if operation == "add" and isinstance(current, dict):
            current[draw(st.text(max_size=12))] = draw(weird_values)
        elif operation == "duplicate" and isinstance(current, list) and current:
            current.append(copy.deepcopy(current[draw(st.integers(0, len(current) - 1))]))
        elif operation == "delete" and path:
            del _parent(document, path)[path[-1]]
        elif operation == "swap_type":
            document = _set(document, path, swap_type(current))
        elif operation == "empty":
            document = _set(document, path, type(current)() if isinstance(current, str | list | dict) else None)
        else:
            document = _set(document, path, draw(weird_values))
    return document


# --- real payload shapes, unique per example -------------------------------------------------------------------

WHATSAPP_KINDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "text": lambda mid: {"type": "text", "text": {"body": "hi, do you ship to Canada?"}},
    "image": lambda mid: {
        "type": "image",
        "image": {"id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "SfInY0g=", "caption": "blue?"},
    },
    "voice": lambda mid: {
        "type": "audio",
        "audio": {"id": "1214541180295581", "mime_type": "audio/ogg", "voice": True},
    },
    "location": lambda mid: {
        "type": "location",
        "location": {"latitude": 37.483307, "longitude": -122.148981, "name": "Pablo", "address": "1 Hacker Way"},
    },
    "interactive": lambda mid: {
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "cancel-button", "title": "Cancel"}},
        "context": {"from": "15550783881", "id": f"{mid}.ctx"},
    },
    "button": lambda mid: {"type": "button", "button": {"payload": "yes", "text": "Yes"}},
    "contacts": lambda mid: {
        "type": "contacts",
        "contacts": [{"name": {"formatted_name": "Ana"}, "phones": [{"phone": "+1 555 0100"}]}],
    },
    "reaction": lambda mid: {"type": "reaction", "reaction": {"message_id": f"{mid}.r", "emoji": "\U0001f44d"}},
    "order": lambda mid: {"type": "order", "order": {"catalog_id": "1", "product_items": []}},
}

TELEGRAM_KINDS: dict[str, dict[str, Any]] = {
    "text": {"text": "hola"},
    "photo": {
        "caption": "album",
        "media_group_id": "1",
        "photo": [
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 67},
            {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960},
        ],
    },
    "document": {"document": {"file_id": "doc", "file_unique_id": "d", "mime_type": "application/pdf"}},
    "voice": {"voice": {"file_id": "voice", "file_unique_id": "v", "duration": 3}},
    "venue": {"venue": {"location": {"latitude": 1.5, "longitude": 2.5}, "title": "Cafe", "address": "Main St"}},
    "contact": {"contact": {"phone_number": "+1555", "first_name": "Ana"}},
    "poll": {"poll": {"id": "p", "question": "?"}},
    "topic": {"text": "in a topic", "message_thread_id": 7, "reply_to_message": {"message_id": 7}},
    "service": {"new_chat_title": "renamed"},
}


def whatsapp_payload(n: int, kinds: list[str]) -> dict[str, Any]:
    """A WhatsApp notification from a user unique to `n`, one message per kind."""
    user = f"1555{n:010d}"
    messages = []
    for i, kind in enumerate(kinds):
        mid = f"wamid.fuzz.{n}.{i}"
        messages.append({"from": user, "id": mid, "timestamp": "1749416383", **WHATSAPP_KINDS[kind](mid)})
    return builders.whatsapp(user, *messages)


def telegram_payload(n: int, kind: str) -> dict[str, Any]:
    """A Telegram Update in a private chat unique to `n`."""
    chat = 10**12 + n
    update = builders.telegram(chat, update_id=n, message_id=n % 100_000 + 1, text="")
    del update["message"]["text"]
    update["message"].update(copy.deepcopy(TELEGRAM_KINDS[kind]))
    return update


def instagram_payload(n: int, kinds: list[str]) -> dict[str, Any]:
    """An Instagram notification from a user unique to `n`, one messaging event per kind."""
    sender = f"7{n:015d}"
    payload = builders.instagram(sender, f"mid.fuzz.{n}.0", "hello")
    template = payload["entry"][0]["messaging"][0]
    events = []
    for i, kind in enumerate(kinds):
        event = copy.deepcopy(template)
        mid = f"mid.fuzz.{n}.{i}"
        if kind == "text":
            event["message"] = {"mid": mid, "text": "hello"}
        elif kind == "image":
            event["message"] = {"mid": mid, "attachments": [{"type": "image", "payload": {"url": "https://x/1"}}]}
        elif kind == "story_reply":
            event["message"] = {"mid": mid, "text": "nice", "reply_to": {"story": {"url": "https://x/s", "id": "9"}}}
        elif kind == "postback":
            del event["message"]
            event["postback"] = {"mid": mid, "title": "Get started", "payload": "START"}
        elif kind == "echo":
            event["message"] = {"mid": mid, "text": "our reply", "is_echo": True}
        elif kind == "read":
            del event["message"]
            event["read"] = {"mid": mid}
        events.append(event)
    payload["entry"][0]["messaging"] = events
    return payload


def generic_payload(n: int, with_timestamp: bool) -> dict[str, Any]:
    """The generic channel's body for a conversation unique to `n`."""
    return builders.generic(f"fuzz-{n}", f"msg-{n}", "hello", ts=1749416383 if with_timestamp else None)


@st.composite
def payload_shape(draw: st.DrawFn, channel: str) -> Callable[[int], dict[str, Any]]:
    """A real payload shape of `channel`, as a function of the example's unique number."""
    if channel == "whatsapp":
        kinds = draw(st.lists(st.sampled_from(sorted(WHATSAPP_KINDS)), min_size=1, max_size=3))
        return lambda n: whatsapp_payload(n, kinds)
    if channel == "telegram":
        kind = draw(st.sampled_from(sorted(TELEGRAM_KINDS)))
        return lambda n: telegram_payload(n, kind)
    if channel == "instagram":
        ig_kinds = ["text", "image", "story_reply", "postback", "echo", "read"]
        chosen = draw(st.lists(st.sampled_from(ig_kinds), min_size=1, max_size=3))
        return lambda n: instagram_payload(n, chosen)
    with_timestamp = draw(st.booleans())
    return lambda n: generic_payload(n, with_timestamp)


# Text a user can really send: any Unicode scalar value but a lone surrogate (ODD_CHARS[:4] are surrogates). Long
# texts stop at 2048 characters, so a shape with six text fields, emoji escaped as 12 bytes each, fits the body limit.
user_text = st.one_of(
    st.lists(st.characters(exclude_categories=["Cs"]) | st.sampled_from(ODD_CHARS[4:]), min_size=1, max_size=40).map(
        "".join
    ),
    st.builds(lambda unit, size: (unit * size)[:size], st.sampled_from(["a", "é", "\U0001f600"]), st.integers(1, 2048)),
)

# --- raw bodies, headers, requests ----------------------------------------------------------------------------

garbage_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b" ",
            b"null",
            b"[]",
            b'"{}"',
            b"42",
            b"{}",
            b"\xef\xbb\xbf{}",  # a UTF-8 BOM before the object
            b'{"a":1,"a":2}',
            b"{'single': 'quotes'}",
            b"\xff\xfe{\x00}\x00",  # UTF-16
            b'{"entry":[' * 3,
            b"NaN",
        ]
    ),
)


def signature_variants(channel: str, correct: str) -> st.SearchStrategy[str | None]:
    """Header values for `channel`: missing, empty, wrong, re-cased, padded, truncated, foreign, huge."""
    hex_digest = st.text("0123456789abcdef", min_size=64, max_size=64)
    common = st.one_of(
        st.none(),
        st.just(""),
        st.just(" "),
        st.just(correct.upper()),
        st.just(f" {correct} "),
        st.just(correct[:-1]),
        st.just(correct + "0"),
        st.builds(lambda c: c * 8192, st.sampled_from(["a", "é"])),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=80),
    )
    if channel == "telegram":
        return common | st.just(correct.swapcase()) | st.builds(lambda h: "sha256=" + h, hex_digest)
    return common | st.one_of(
        st.builds(lambda h: "sha256=" + h, hex_digest),
        st.builds(lambda h: "sha1=" + h[:40], hex_digest),
        st.just(correct.removeprefix("sha256=")),
        st.just(correct.replace("sha256=", "sha256:")),
        st.just(correct.replace("sha256=", "SHA256=")),
    )


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT")
methods = st.one_of(st.sampled_from(METHODS), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10))
segment = st.text(st.characters(codec="ascii", exclude_characters="/?#"), min_size=1, max_size=16)
request_paths = st.one_of(
    st.sampled_from([f"/webhook/{c}" for c in CHANNELS] + ["/health", "/", "/webhook", "/webhook/", "/local/outbox"]),
    st.builds(lambda c: f"/webhook/{c}/", st.sampled_from(CHANNELS)),
    st.builds(lambda c: f"/webhook/{c.upper()}", st.sampled_from(CHANNELS)),
    st.builds(lambda s: f"/webhook/{s}", segment),
    st.builds(lambda a, b: f"/{a}/{b}", segment, segment),
    st.builds(lambda c, s: f"/webhook/{c}/{s}", st.sampled_from(CHANNELS), segment),
)

HUB_KEYS = ("hub.mode", "hub.verify_token", "hub.challenge")
query_values = st.one_of(st.text(max_size=20), odd_text, st.sampled_from(["subscribe", "local-verify-token", ""]))
queries = st.lists(
    st.tuples(st.one_of(st.sampled_from(HUB_KEYS), st.text(max_size=10)), query_values),
    max_size=6,
)
