"""Media domain types: a downloaded item, what a burst's item resolved to, and the parts of one AI turn."""

from __future__ import annotations

from dataclasses import dataclass

from debouncer.domain.errors import PermanentError

# Kinds whose bytes become text through the Transcriber rather than native content for the AI.
SPOKEN_KINDS = frozenset({"audio", "voice"})


class MediaUnavailableError(PermanentError):
    """A media item no retry can read (gone, expired, over the size cap, an unsupported or unsafe type or URL).

    The burst is still answered: the AI is told, in its place, what could not be read. The message never holds a
    token or a signed URL: it is shown to the AI and logged.
    """


@dataclass(frozen=True)
class FetchedMedia:
    """The bytes of one media item and their content type, as downloaded or as stored."""

    data: bytes
    mime_type: str

    @property
    def size(self) -> int:
        """Bytes."""
        return len(self.data)


@dataclass(frozen=True)
class ResolvedMedia:
    """What one media item of a claimed burst resolved to, recorded on the turn so no retry fetches it again.

    `object_key`: where its bytes are stored (the media store); `transcript_key`: where the text of a voice note or
    audio file is stored, once transcribed (transcripts can be long: they live beside the media, not in the turn,
    which must stay one DynamoDB item); `problem`: why it could not be read, told to the AI in its place.
    """

    message_id: str
    index: int  # position among its message's media
    kind: str
    mime_type: str | None = None
    size: int | None = None
    object_key: str | None = None
    transcript_key: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class TextPart:
    """Text of one AI turn: a message's text or caption, a transcript, or a placeholder saying what a part was."""

    text: str


@dataclass(frozen=True)
class MediaPart:
    """An image or document the AI receives as native content (an AI provider turns it into its own content block,
    or into a TextPart placeholder saying why when it is over that provider's limits)."""

    kind: str
    mime_type: str
    data: bytes
    filename: str | None = None

    @property
    def size(self) -> int:
        """Bytes."""
        return len(self.data)


Part = TextPart | MediaPart
