"""Use case: read a claimed burst's media once — download, store, transcribe — in parallel and within bounded time."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from aws_lambda_powertools import Logger

from debouncer.domain.errors import RetryableError
from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.domain.ports import MediaSource, MediaStore, Transcriber
from debouncer.media.model import SPOKEN_KINDS, FetchedMedia, MediaUnavailableError, ResolvedMedia

logger = Logger(child=True)

# What is downloaded: what an AI can read natively or a transcriber can turn into text. Videos, locations, contacts
# and shares stay placeholders.
READ_KINDS = frozenset({"image", "photo", "sticker", "document", "file"}) | SPOKEN_KINDS
# A burst's media is read in parallel, at most this many at once; and at most this many items per burst, so the
# record of what they resolved to stays small beside the burst in its one DynamoDB item.
PARALLEL_DOWNLOADS = 4
MAX_ITEMS_PER_BURST = 10
# Of the time the function has left, what reading the media may use: the rest is the AI's.
MEDIA_SHARE_OF_DEADLINE = 0.5


def media_key(conversation_key: str, burst: int, message_id: str, index: int) -> str:
    """Where an item is stored: the same for every run of the burst (so a retry reads instead of downloading), and
    not derivable from a phone number alone (it hashes the burst number and the channel's message id too)."""
    digest = hashlib.sha256(f"{conversation_key}\n{burst}\n{message_id}\n{index}".encode()).hexdigest()
    return f"{digest[:2]}/{digest}"


def transcript_key(object_key: str) -> str:
    """Where an item's transcript is stored, beside it."""
    return f"{object_key}.transcript.txt"


class MediaResolver:
    """Downloads each readable media item of a burst once, stores it, and transcribes voice notes."""

    def __init__(
        self,
        sources: Mapping[str, MediaSource],
        store: MediaStore,
        transcriber: Transcriber | None,
        *,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sources = sources
        self._store = store
        self._transcriber = transcriber
        self._max_bytes = max_bytes
        self._clock = clock

    def resolve(
        self, conversation_key: str, burst: int, messages: tuple[InboundMessage, ...], *, deadline: float | None = None
    ) -> tuple[ResolvedMedia, ...]:
        """What each readable item resolved to, in burst order. What no retry can read is a `problem`; a transient
        failure (5xx, 429, a timeout, the share of the deadline used up) raises RetryableError, and the retry finds
        what was stored already."""
        items = [
            (message, index, media)
            for message in messages
            for index, media in enumerate(message.media)
            # A channel with no source reads no media (not configured for its real API, as its replies then go to
            # the local outbox): its items stay placeholders, as when no media bucket is configured.
            if media.kind in READ_KINDS and media.ref and message.channel in self._sources
        ]
        if not items:
            return ()
        read, skipped = items[:MAX_ITEMS_PER_BURST], items[MAX_ITEMS_PER_BURST:]
        timeout = None if deadline is None else max(0.0, (deadline - self._clock()) * MEDIA_SHARE_OF_DEADLINE)
        # Not a `with` block: leaving it would wait for downloads still running past the time they were given.
        pool = ThreadPoolExecutor(max_workers=PARALLEL_DOWNLOADS, thread_name_prefix="media")
        try:
            futures: list[Future[ResolvedMedia]] = [
                pool.submit(self._one, media_key(conversation_key, burst, m.message_id, i), m, i, media)
                for m, i, media in read
            ]
            done, pending = wait(futures, timeout=timeout, return_when=FIRST_EXCEPTION)
            for future in done:
                if (error := future.exception()) is not None:
                    raise error
            if pending:
                raise RetryableError(f"{len(pending)} of {len(read)} media items not read in {timeout:.0f} s; retry")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        resolved = [f.result() for f in futures]
        resolved += [
            ResolvedMedia(m.message_id, i, media.kind, problem=f"only the first {MAX_ITEMS_PER_BURST} are read")
            for m, i, media in skipped
        ]
        return tuple(resolved)

    def load(self, key: str) -> FetchedMedia | None:
        """A stored item (or transcript), for the AI's turn."""
        return self._store.get(key)

    def _one(self, key: str, message: InboundMessage, index: int, media: MediaRef) -> ResolvedMedia:
        item = ResolvedMedia(message.message_id, index, media.kind)
        stored = self._store.get(key)
        if stored is None:
            try:
                stored = self._sources[message.channel].fetch(message, media, max_bytes=self._max_bytes)
            except MediaUnavailableError as error:
                logger.info("media not readable", extra={"kind": media.kind, "reason": str(error)})
                return replace(item, problem=str(error))
            self._store.put(key, stored)
        item = replace(item, mime_type=stored.mime_type, size=stored.size, object_key=key)
        if media.kind in SPOKEN_KINDS and self._transcriber is not None:
            return self._transcribed(item, key, stored)
        return item

    def _transcribed(self, item: ResolvedMedia, key: str, stored: FetchedMedia) -> ResolvedMedia:
        text_key = transcript_key(key)
        if self._store.get(text_key) is None:
            assert self._transcriber is not None
            try:
                text = self._transcriber.transcribe(key, stored)
            except MediaUnavailableError as error:
                return replace(item, problem=f"could not be transcribed: {error}")
            self._store.put(text_key, FetchedMedia(text.encode(), "text/plain; charset=utf-8"))
        return replace(item, transcript_key=text_key)
