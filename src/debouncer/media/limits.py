"""What one AI provider takes as native content, and the one wording for what it does not: a placeholder saying why.

Every provider runs the burst's parts through `fit` with its own `MediaLimits` (None for a text-only model): what
passes is sent as an image or document block, everything else becomes a TextPart, so a media item never fails the
request.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from debouncer.media.model import MediaPart, Part, TextPart

# Decimal megabytes: the smaller reading of a provider's "MB", so an item within our limit is within theirs either way.
MB = 1_000_000
KB = 1_000

Category = Literal["image", "document"]


@dataclass(frozen=True)
class Allowance:
    """One class of native content (images or documents): the formats read and how much one request may carry."""

    formats: Mapping[str, str]  # MIME type (lower case, no parameters) -> the provider's name for it
    max_bytes: int  # per item
    max_count: int  # per request
    max_total_bytes: int | None = None  # per request, all items of this class together
    max_side: int | None = None  # pixels, width or height, where the header says (images)
    still_gifs_only: bool = False  # an animated GIF is refused (images)


@dataclass(frozen=True)
class MediaLimits:
    """What one provider reads natively; `inline_text` types are read here and sent as text instead."""

    images: Allowance
    documents: Allowance
    inline_text: frozenset[str] = frozenset()
    max_inline_text_bytes: int = 0


@dataclass(frozen=True)
class Native:
    """A MediaPart within its provider's limits, with the provider's name for its format."""

    part: MediaPart
    category: Category
    format: str


Fitted = TextPart | Native


_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}

# Amazon Bedrock Converse, for every model (AWS API reference, "Message" and "DocumentBlock",
# docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html): up to 20 images of at most 3.75 MB and
# 8000 x 8000 px, and up to 5 documents of at most 4.5 MB, per message; the formats are the ImageFormat and
# DocumentFormat enums of the bedrock-runtime service model. A Converse request with a document needs a text block
# too, and document names allow few characters: both are ai_bedrock's.
BEDROCK = MediaLimits(
    images=Allowance(formats=_IMAGE_FORMATS, max_bytes=int(3.75 * MB), max_count=20, max_side=8000),
    documents=Allowance(
        formats={
            "application/pdf": "pdf",
            "text/csv": "csv",
            "application/msword": "doc",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
            "application/vnd.ms-excel": "xls",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
            "text/html": "html",
            "text/plain": "txt",
            "text/markdown": "md",
        },
        max_bytes=int(4.5 * MB),
        max_count=5,
    ),
)

# OpenAI Chat Completions. Images (OpenAI "Images and vision" guide, image input requirements): PNG, JPEG, WEBP and
# non-animated GIF, up to 20 MB each, 500 per request and 50 MB of image bytes per request (no pixel limit: it
# scales images down). Files (OpenAI "File inputs" guide): Chat Completions reads only PDF as a file part, up to
# 100 pages and 32 MB of file content per request (at least a page each, so at most 100 PDFs); other text files are
# to be read by the application and sent as text. The inline-text cap is ours (about 50k tokens), so one pasted
# file cannot crowd a 128k-token context out.
# OpenAI-compatible servers may allow less (vLLM's --limit-mm-per-prompt, a model without vision): pass them their
# own MediaLimits, or set AI_MEDIA=false for a text-only model.
OPENAI = MediaLimits(
    images=Allowance(
        formats={mime: "image/jpeg" if fmt == "jpeg" else mime for mime, fmt in _IMAGE_FORMATS.items()},
        max_bytes=20 * MB,
        max_count=500,
        max_total_bytes=50 * MB,
        still_gifs_only=True,
    ),
    documents=Allowance(
        formats={"application/pdf": "application/pdf"}, max_bytes=32 * MB, max_count=100, max_total_bytes=32 * MB
    ),
    inline_text=frozenset({"text/plain", "text/markdown", "text/csv", "text/html", "application/json"}),
    max_inline_text_bytes=200 * KB,
)


def fit(parts: Sequence[Part], limits: MediaLimits | None) -> tuple[Fitted, ...]:
    """The parts as one provider can send them, in order: each MediaPart within `limits` as Native, any other as a
    placeholder TextPart saying why (`limits` None: a text-only model, every MediaPart is a placeholder).

    Blank texts are dropped and adjacent texts joined by a newline: APIs reject blank text blocks, and one block per
    run of text reads like the plain-text burst.
    """
    counts: dict[Category, int] = {"image": 0, "document": 0}
    totals: dict[Category, int] = {"image": 0, "document": 0}
    out: list[Fitted] = []
    for part in parts:
        item = part if isinstance(part, TextPart) else _fit_one(part, limits, counts, totals)
        if isinstance(item, Native):
            out.append(item)
        elif item.text.strip():
            if out and isinstance(out[-1], TextPart):
                out[-1] = TextPart(f"{out[-1].text}\n{item.text}")
            else:
                out.append(item)
    return tuple(out)


def only_text(items: Iterable[Fitted]) -> str | None:
    """The items as one text when none is native content (what a plain-text message carries), else None."""
    texts: list[str] = []
    for item in items:
        if isinstance(item, Native):
            return None
        texts.append(item.text)
    return "\n".join(texts)


def base_type(mime_type: str) -> str:
    """`Text/Plain; charset=utf-8` -> `text/plain`."""
    return mime_type.split(";", 1)[0].strip().lower()


def size_text(size: int) -> str:
    """A size for people: `512 bytes`, `12.3 kB`, `6.2 MB`."""
    if size < KB:
        return f"{size} byte{'' if size == 1 else 's'}"
    if size < MB:
        return f"{size / KB:.1f} kB"
    return f"{size / MB:.1f} MB"


def title(part: MediaPart) -> str:
    """`image`, `document "report.pdf"`: how a placeholder or a description names an item."""
    name = display_name(part.filename or "")
    return f'{part.kind} "{name}"' if name else part.kind


def label(part: MediaPart) -> str:
    """`image 1.2 MB`, `document "report.pdf" 6.2 MB`: an item's name and size."""
    return f"{title(part)} {size_text(part.size)}"


def display_name(filename: str) -> str:
    """A user's file name made safe to quote inside a bracketed placeholder: one line, no brackets or quotes, short."""
    return re.sub(r"\s+", " ", re.sub(r'[\x00-\x1f\x7f"\[\]]', " ", filename)).strip()[:100]


def placeholder(part: MediaPart, why: str) -> TextPart:
    """The one wording of an item the AI gets as words: `[image 6.2 MB: over this model's 3.75 MB limit, not shown]`."""
    return TextPart(f"[{label(part)}: {why}]")


def _fit_one(
    part: MediaPart, limits: MediaLimits | None, counts: dict[Category, int], totals: dict[Category, int]
) -> Fitted:
    if limits is None:
        return placeholder(part, "not shown to this text-only model")
    if part.size == 0:
        return placeholder(part, "empty, not shown")
    mime = base_type(part.mime_type)
    if mime in limits.inline_text:
        return _inline(part, limits.max_inline_text_bytes)
    if mime in limits.images.formats:
        category: Category = "image"
        allowance = limits.images
    elif mime in limits.documents.formats:
        category, allowance = "document", limits.documents
    else:
        return placeholder(part, f"{mime or 'an unknown type'} is a format this model cannot read, not shown")
    if part.size > allowance.max_bytes:
        return placeholder(part, f"over this model's {_amount(allowance.max_bytes)} limit, not shown")
    if allowance.max_side is not None and (dims := image_size(part.data, mime)) and max(dims) > allowance.max_side:
        return placeholder(part, f"{dims[0]} x {dims[1]} px, over this model's {allowance.max_side} px, not shown")
    if allowance.still_gifs_only and mime == "image/gif" and _animated_gif(part.data):
        return placeholder(part, "an animated GIF, which this model cannot read, not shown")
    if counts[category] >= allowance.max_count:
        return placeholder(part, f"over this model's {allowance.max_count} {category}s per request, not shown")
    if allowance.max_total_bytes is not None and totals[category] + part.size > allowance.max_total_bytes:
        return placeholder(
            part, f"over this model's {_amount(allowance.max_total_bytes)} of {category}s per request, not shown"
        )
    counts[category] += 1
    totals[category] += part.size
    return Native(part, category, allowance.formats[mime])


def _inline(part: MediaPart, max_bytes: int) -> TextPart:
    """A plain-text file, sent as its text between markers so the model tells it from the user's own words."""
    if part.size > max_bytes:
        return placeholder(part, f"over this model's {_amount(max_bytes)} limit for text files, not shown")
    name = title(part)
    text = part.data.decode("utf-8", errors="replace")
    return TextPart(f"[{name}, its text follows]\n{text}\n[end of {name}]")


def _amount(size: int) -> str:
    """A limit as its documentation states it: `3.75 MB`, `200 kB`."""
    if size >= MB:
        return f"{size / MB:g} MB"
    return f"{size / KB:g} kB" if size >= KB else f"{size} bytes"


def image_size(data: bytes, mime: str) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, JPEG or WebP header; None when the header cannot tell (the model judges)."""
    try:
        if mime == "image/png" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if mime == "image/gif" and data[:4] == b"GIF8":
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if mime in ("image/jpeg", "image/jpg"):
            return _jpeg_size(data)
        if mime == "image/webp" and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
    except struct.error:  # a truncated header
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The frame header's size: segments are walked by their lengths, so image data is never taken for a marker."""
    i = 2
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # a fill byte
            i += 1
        elif 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            i += 2
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        else:
            i += 2 + int(struct.unpack(">H", data[i + 2 : i + 4])[0])
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    return None


def _animated_gif(data: bytes) -> bool:
    """More than one graphic control extension: one precedes each frame of an animation, a still GIF has at most
    one. A chance match inside the image data costs only a placeholder."""
    return data.count(b"\x21\xf9\x04", 13) > 1
