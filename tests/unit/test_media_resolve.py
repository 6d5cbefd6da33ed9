"""Reading a burst's media once: download, store, transcribe, in burst order; and the parts of the AI's turn."""

from __future__ import annotations

import threading

import pytest
from tests.builders import inbound

from debouncer.domain.errors import RetryableError
from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.media.model import FetchedMedia, MediaPart, MediaUnavailableError, ResolvedMedia, TextPart
from debouncer.media.parts import burst_parts
from debouncer.media.resolve import MAX_ITEMS_PER_BURST, MediaResolver, media_key, transcript_key

PHOTO = FetchedMedia(b"\x89PNG fake", "image/png")
VOICE = FetchedMedia(b"OggS fake", "audio/ogg")


class MemoryStore:
    """An in-memory MediaStore that counts puts."""

    def __init__(self) -> None:
        self.objects: dict[str, FetchedMedia] = {}
        self.puts = 0

    def put(self, key: str, media: FetchedMedia) -> None:
        self.puts += 1
        self.objects[key] = media

    def get(self, key: str) -> FetchedMedia | None:
        return self.objects.get(key)

    def uri(self, key: str) -> str:
        return f"s3://bucket/media/{key}"


class ScriptedSource:
    """A MediaSource answering by media ref: bytes, or an exception to raise; counts fetches."""

    def __init__(self, answers: dict[str, FetchedMedia | Exception]) -> None:
        self.answers = answers
        self.fetches: list[str] = []
        self._lock = threading.Lock()

    def fetch(self, message: InboundMessage, media: MediaRef, *, max_bytes: int) -> FetchedMedia:
        with self._lock:
            self.fetches.append(str(media.ref))
        answer = self.answers[str(media.ref)]
        if isinstance(answer, Exception):
            raise answer
        return answer


class CountingTranscriber:
    """A Transcriber that says what it heard and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(self, key: str, media: FetchedMedia) -> str:
        self.calls += 1
        return "see you at five"


def burst() -> tuple[InboundMessage, ...]:
    return (
        inbound("m1", text="hi"),
        inbound("m2", text="is this the one?", media=(MediaRef(kind="image", ref="photo-1"),)),
        inbound("m3", text=None, media=(MediaRef(kind="voice", ref="voice-1"),)),
        inbound("m4", media=(MediaRef(kind="location"),), text="here"),
    )


def test_media_is_read_once_and_the_turn_is_in_burst_order() -> None:
    # GIVEN a burst of text, a photo with a caption, a voice note and a location
    store, transcriber = MemoryStore(), CountingTranscriber()
    source = ScriptedSource({"photo-1": PHOTO, "voice-1": VOICE})
    resolver = MediaResolver({"whatsapp": source}, store, transcriber, max_bytes=1024)
    # WHEN it is resolved twice (a retry of process_message)
    first = resolver.resolve("whatsapp#1#555", 7, burst())
    again = resolver.resolve("whatsapp#1#555", 7, burst())
    # THEN each item was downloaded and transcribed once, and both runs agree
    assert sorted(source.fetches) == ["photo-1", "voice-1"] and transcriber.calls == 1 and first == again
    photo, voice = first
    assert photo == ResolvedMedia(
        "m2", 0, "image", "image/png", len(PHOTO.data), media_key("whatsapp#1#555", 7, "m2", 0)
    )
    assert voice.transcript_key == transcript_key(voice.object_key or "")
    # AND the AI's turn has the parts in burst order, the transcript in place of the voice note
    parts = burst_parts(burst(), first, resolver.load)
    assert parts == (
        TextPart("hi"),
        MediaPart("image", "image/png", PHOTO.data),
        TextPart("is this the one?"),
        TextPart("[voice, transcribed] see you at five"),
        TextPart("[location]"),
        TextPart("here"),
    )


def test_what_cannot_be_read_is_told_to_the_ai_and_the_rest_still_arrives() -> None:
    source = ScriptedSource({"photo-1": MediaUnavailableError("expired (HTTP 404)"), "voice-1": VOICE})
    resolver = MediaResolver({"whatsapp": source}, MemoryStore(), None, max_bytes=1024)
    resolved = resolver.resolve("whatsapp#1#555", 7, burst())
    assert resolved[0].problem == "expired (HTTP 404)" and resolved[0].object_key is None
    parts = burst_parts(burst(), resolved, resolver.load)
    assert TextPart("[image: could not be read (expired (HTTP 404))]") in parts
    assert TextPart("[voice: voice-1]") in parts  # no transcriber: the placeholder stays


def test_a_transient_failure_is_retried_and_what_was_stored_is_not_downloaded_again() -> None:
    store = MemoryStore()
    source = ScriptedSource({"photo-1": PHOTO, "voice-1": RetryableError("HTTP 503")})
    resolver = MediaResolver({"whatsapp": source}, store, None, max_bytes=1024)
    with pytest.raises(RetryableError):
        resolver.resolve("whatsapp#1#555", 7, burst())
    source.answers["voice-1"] = VOICE
    resolver.resolve("whatsapp#1#555", 7, burst())
    assert source.fetches.count("photo-1") == 1 and source.fetches.count("voice-1") == 2


def test_media_past_its_share_of_the_deadline_is_a_retry_not_a_wait() -> None:
    release = threading.Event()

    class Hanging(ScriptedSource):
        def fetch(self, message: InboundMessage, media: MediaRef, *, max_bytes: int) -> FetchedMedia:
            release.wait(5)
            return PHOTO

    clock = [1000.0]
    resolver = MediaResolver({"whatsapp": Hanging({})}, MemoryStore(), None, max_bytes=1024, clock=lambda: clock[0])
    try:
        with pytest.raises(RetryableError, match="not read"):
            resolver.resolve("whatsapp#1#555", 7, burst(), deadline=1000.2)
    finally:
        release.set()


def test_at_most_ten_items_a_burst_are_read_and_the_rest_say_so() -> None:
    many = tuple(inbound(f"m{i}", media=(MediaRef(kind="image", ref=f"p{i}"),)) for i in range(MAX_ITEMS_PER_BURST + 2))
    source = ScriptedSource({f"p{i}": PHOTO for i in range(MAX_ITEMS_PER_BURST + 2)})
    resolved = MediaResolver({"whatsapp": source}, MemoryStore(), None, max_bytes=1024).resolve("k", 1, many)
    assert len(source.fetches) == MAX_ITEMS_PER_BURST
    assert [r.problem for r in resolved[MAX_ITEMS_PER_BURST:]] == ["only the first 10 are read"] * 2


def test_a_burst_without_media_is_plain_text() -> None:
    assert burst_parts((inbound("m1", text="hi"),), (), MemoryStore().get) == ()


def test_media_keys_hide_the_phone_number() -> None:
    key = media_key("whatsapp#100#15551234567", 1764500000000, "wamid.X", 0)
    assert "15551234567" not in key and key == media_key("whatsapp#100#15551234567", 1764500000000, "wamid.X", 0)
    assert key != media_key("whatsapp#100#15551234567", 1764500000001, "wamid.X", 0)
