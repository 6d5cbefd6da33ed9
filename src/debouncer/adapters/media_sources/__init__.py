"""Media sources: one MediaSource per channel, sharing the download in `download` and the URL guard in `urls`."""

from __future__ import annotations

from debouncer.adapters.media_sources.download import build_client
from debouncer.adapters.media_sources.generic import GenericMediaSource
from debouncer.adapters.media_sources.instagram import InstagramMediaSource
from debouncer.adapters.media_sources.telegram import TelegramMediaSource
from debouncer.adapters.media_sources.whatsapp import WhatsAppMediaSource
from debouncer.adapters.secrets import Secrets
from debouncer.config import Settings
from debouncer.domain.ports import MediaSource


def build_media_sources(settings: Settings, secrets: Secrets) -> dict[str, MediaSource]:
    """The media source of each channel configured for its real API, keyed by channel name; build once per
    execution environment.

    As with replies, a channel is real once its access token is configured; without it (`make run`'s default) its
    replies go to the local outbox and its media stays placeholders, with no attempt to reach the channel. The
    generic channel's media is at the URLs its payload gives, so it always has a source.
    """
    timeout = settings.media_fetch_timeout_seconds
    api = build_client()  # the channels' own APIs, at configured base URLs
    payload_urls = build_client(payload_urls=True, allow_loopback=settings.media_allow_loopback)
    sources: dict[str, MediaSource] = {"generic": GenericMediaSource(timeout_seconds=timeout, client=payload_urls)}
    if secrets.configured("whatsapp_access_token"):
        sources["whatsapp"] = WhatsAppMediaSource(
            settings.whatsapp_api_base_url,
            settings.whatsapp_api_version,
            secrets.getter("whatsapp_access_token"),
            timeout_seconds=timeout,
            client=api,
        )
    if secrets.configured("telegram_bot_token"):
        sources["telegram"] = TelegramMediaSource(
            settings.telegram_api_base_url, secrets.getter("telegram_bot_token"), timeout_seconds=timeout, client=api
        )
    if secrets.configured("instagram_access_token"):
        sources["instagram"] = InstagramMediaSource(timeout_seconds=timeout, client=payload_urls)
    return sources
