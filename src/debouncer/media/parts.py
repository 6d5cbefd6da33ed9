"""The burst as one multimodal AI turn: its messages' texts and media, in burst order. Pure: reads go through `load`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.media.model import SPOKEN_KINDS, FetchedMedia, MediaPart, Part, ResolvedMedia, TextPart

Load = Callable[[str], FetchedMedia | None]


def placeholder(media: MediaRef, why: str | None = None) -> TextPart:
    """A media item the AI gets as words: its kind (and reference), and why it is not there itself."""
    label = f"{media.kind}: {media.ref}" if media.ref and why is None else media.kind
    return TextPart(f"[{label}]" if why is None else f"[{label}: {why}]")


def burst_parts(messages: Sequence[InboundMessage], resolved: Sequence[ResolvedMedia], load: Load) -> tuple[Part, ...]:
    """Texts, captions, transcripts in place of voice notes, images and documents as MediaPart, and a placeholder
    saying why for each item that could not be read; empty when the burst has no media (its text is then enough)."""
    if not any(m.media for m in messages):
        return ()
    by_item: Mapping[tuple[str, int], ResolvedMedia] = {(r.message_id, r.index): r for r in resolved}
    parts: list[Part] = []
    for message in messages:
        for index, media in enumerate(message.media):
            parts.append(_part(media, by_item.get((message.message_id, index)), load))
        if message.text:
            parts.append(TextPart(message.text))
    return tuple(parts)


def _part(media: MediaRef, item: ResolvedMedia | None, load: Load) -> Part:
    if item is None:
        return placeholder(media)  # a kind that is not read (location, contacts, video...), or media is off
    if item.problem is not None:
        return placeholder(media, f"could not be read ({item.problem})")
    if item.transcript_key is not None:
        transcript = load(item.transcript_key)
        if transcript is None:
            return placeholder(media, "its transcript is no longer stored")
        return TextPart(f"[{media.kind}, transcribed] {transcript.data.decode()}")
    if media.kind in SPOKEN_KINDS or item.object_key is None:
        return placeholder(media)  # no transcriber configured: the placeholder stays
    stored = load(item.object_key)
    if stored is None:
        return placeholder(media, "no longer stored")
    return MediaPart(kind=media.kind, mime_type=stored.mime_type, data=stored.data, filename=media.filename)
