"""Media sources: one MediaSource per channel, sharing the download in `download` and the URL guard in `urls`."""

from __future__ import annotations

from debouncer.adapters.media_sources.download import build_client
from debouncer.adapters.media_sources.generic import GenericMediaSource
from debouncer.adapters.media_sources.instagram import InstagramMediaSource
from debouncer.adapters.media_sources.telegram import TelegramMediaSource
from debouncer.adapters.media_sources.whatsapp import WhatsAppMediaSource
from debouncer.adapters.secrets import Secrets
from debouncer.config import Settings
from debouncer.ports import MediaSource


def build_media_sources(settings: Settings, secrets: Secrets) -> dict[str, MediaSource]:
    """The media source of each channel, keyed by channel name; build once per execution environment.

    A channel without its token still has a source: each fetch then says the token is not configured.
    """
    timeout = settings.media_fetch_timeout_seconds
    api = build_client()  # the channels' own APIs, at configured base URLs
    payload_urls = build_client(payload_urls=True, allow_loopback=settings.media_allow_loopback)
    whatsapp_token = secrets.getter("whatsapp_access_token") if secrets.configured("whatsapp_access_token") else None
    telegram_token = secrets.getter("telegram_bot_token") if secrets.configured("telegram_bot_token") else None
    return {
        "whatsapp": WhatsAppMediaSource(
            settings.whatsapp_api_base_url,
            settings.whatsapp_api_version,
            whatsapp_token,
            timeout_seconds=timeout,
            client=api,
        ),
        "telegram": TelegramMediaSource(
            settings.telegram_api_base_url, telegram_token, timeout_seconds=timeout, client=api
        ),
        "instagram": InstagramMediaSource(timeout_seconds=timeout, client=payload_urls),
        "generic": GenericMediaSource(timeout_seconds=timeout, client=payload_urls),
    }
