"""Which audio container a voice note or audio file is in: from its MIME type, else from its first bytes."""

from __future__ import annotations

from debouncer.media.model import FetchedMedia, MediaUnavailableError

# MIME types (without parameters) the channels send for audio, to the container format both transcription services
# name. WhatsApp voice notes are `audio/ogg; codecs=opus`, Telegram's `audio/ogg`; the rest arrive as audio files.
_BY_MIME = {
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "application/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mpeg3": "mp3",
    "audio/x-mpeg-3": "mp3",
    "audio/mp4": "mp4",
    "audio/m4a": "mp4",
    "audio/x-m4a": "mp4",
    "audio/aac": "mp4",  # what WhatsApp calls its AAC audio, carried in an MP4 container
    "video/mp4": "mp4",
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/x-wav": "wav",
    "audio/vnd.wave": "wav",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/amr": "amr",
    "audio/webm": "webm",
    "video/webm": "webm",
}

# Magic numbers, for items whose sender said only application/octet-stream (generic channel, some file uploads).
_BY_PREFIX = (
    (b"OggS", "ogg"),
    (b"ID3", "mp3"),
    (b"\xff\xfb", "mp3"),
    (b"\xff\xf3", "mp3"),
    (b"\xff\xf2", "mp3"),
    (b"fLaC", "flac"),
    (b"#!AMR", "amr"),
    (b"\x1a\x45\xdf\xa3", "webm"),
)


def audio_format(media: FetchedMedia) -> str:
    """ogg, mp3, mp4, wav, flac, amr or webm; MediaUnavailableError for anything else (no service would read it)."""
    mime = media.mime_type.split(";", 1)[0].strip().lower()
    known = _BY_MIME.get(mime)
    if known:
        return known
    head = media.data[:16]
    for prefix, name in _BY_PREFIX:
        if head.startswith(prefix):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "mp4"
    raise MediaUnavailableError(f"unsupported audio type {mime[:64] or 'unknown'}")
