"""Media sources against local fakes (pytest-httpserver) of each channel's media endpoints: exact requests, bytes and
MIME type, the size cap while streaming, error mapping, and no token or signed URL in any error or log."""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from debouncer.adapters.media_sources import build_media_sources
from debouncer.adapters.media_sources.generic import GenericMediaSource
from debouncer.adapters.media_sources.instagram import InstagramMediaSource
from debouncer.adapters.media_sources.telegram import BOT_API_DOWNLOAD_LIMIT, TelegramMediaSource
from debouncer.adapters.media_sources.urls import PublicOnlyTransport
from debouncer.adapters.media_sources.whatsapp import WhatsAppMediaSource
from debouncer.adapters.secrets import Secrets
from debouncer.channels import generic, instagram, telegram, whatsapp
from debouncer.config import Settings
from debouncer.domain.errors import RetryableError
from debouncer.domain.models import InboundMessage, MediaRef
from debouncer.domain.ports import MediaSource
from debouncer.media.model import FetchedMedia, MediaUnavailableError
from tests.payloads import load

# Every credential and URL signature holds "s3cr3t", so one search proves none leaked.
LEAK = "s3cr3t"
WA_TOKEN = "EAAG-wa-s3cr3t-token"
TG_TOKEN = "7000000001:tg-s3cr3t-token"
VERSION = "v25.0"
MAX = 1024 * 1024
TIMEOUT = 2.0
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
OGG = b"OggS\x00\x02" + bytes(200)
JPEG_TYPE = "image/jpeg"
PDF = b"%PDF-1.7\n" + bytes(300) + b"%%EOF\n"

# Real payloads: WhatsApp's text + image + voice note POST, Telegram's photo album part, Instagram's image DM.
WA_TEXT, WA_IMAGE, WA_VOICE = whatsapp.normalize(load("whatsapp_multi_message"))
WA_DOCUMENT = next(m for m in whatsapp.normalize(load("whatsapp_other_types")) if m.kind == "document")
[TG_PHOTO] = telegram.normalize(load("telegram_photo_album"), "7000000001")
TG_VOICE_UPDATE = {
    "update_id": 874512310,
    "message": {
        "message_id": 1460,
        "from": {"id": 123456789, "is_bot": False, "first_name": "Ana", "username": "anasilva"},
        "chat": {"id": 123456789, "first_name": "Ana", "username": "anasilva", "type": "private"},
        "date": 1749416395,
        "voice": {
            "duration": 3,
            "mime_type": "audio/ogg",
            "file_id": "AwACAgQAAxkBAAIBdGZvoice",
            "file_unique_id": "AgADvoice",
            "file_size": 9120,
        },
    },
}
[TG_VOICE] = telegram.normalize(TG_VOICE_UPDATE, "7000000001")
IG_IMAGE = instagram.normalize(load("instagram_image_and_story_reply"))[0]
IG_CDN_PATH = "/ig_messaging_cdn/"
IG_CDN_QUERY = {"asset_id": "1800000000000001", "signature": "AbCdEf-s3cr3t"}
WA_MEDIA_PATH = "/whatsapp_business/attachments/"


@pytest.fixture(autouse=True)
def no_unexpected_requests(httpserver: HTTPServer) -> Iterator[None]:
    """A request no handler expected (wrong path, header or query) fails the test, whatever the source did."""
    yield
    httpserver.check_assertions()


def root(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")


def failure(call: Callable[[], object], kind: type[RetryableError | MediaUnavailableError]) -> RetryableError | Any:
    """The error `call` raises, checked to be exactly `kind` and free of credentials and signed URLs."""
    with pytest.raises(kind) as caught:
        call()
    # Step Functions and the resolver match the class: a subclass would be handled as something else.
    assert type(caught.value) is kind
    # The whole rendered traceback, chained exceptions included, as a log line or the DLQ would show it.
    rendered = "".join(traceback.format_exception(caught.value))
    assert LEAK not in rendered
    assert "http://" not in str(caught.value)
    return caught.value


# --- WhatsApp: GET /{version}/{media-id}, then GET url, both with the Bearer token -----------------------------


def wa_source(server: HTTPServer, token: Callable[[], str] | None = lambda: WA_TOKEN) -> WhatsAppMediaSource:
    return WhatsAppMediaSource(root(server), VERSION, token, timeout_seconds=TIMEOUT)


def wa_media_url(server: HTTPServer, media_id: str) -> str:
    # The shape of Meta's URL: lookaside.fbsbx.com/whatsapp_business/attachments/?mid=...&ext=...&hash=...
    return server.url_for(WA_MEDIA_PATH) + f"?mid={media_id}&ext=1749416991&hash=ATs3cr3t-signature"


def wa_media_query(media_id: str) -> dict[str, str]:
    return {"mid": media_id, "ext": "1749416991", "hash": "ATs3cr3t-signature"}


def expect_wa_metadata(server: HTTPServer, media: MediaRef, mime_type: str, size: int | str) -> None:
    assert media.ref is not None
    server.expect_ordered_request(
        f"/{VERSION}/{media.ref}", method="GET", headers={"Authorization": f"Bearer {WA_TOKEN}"}
    ).respond_with_json(
        {
            "messaging_product": "whatsapp",
            "url": wa_media_url(server, media.ref),
            "mime_type": mime_type,
            "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
            "file_size": size,
            "id": media.ref,
        }
    )


def test_whatsapp_image_is_downloaded_in_meta_two_steps(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    expect_wa_metadata(httpserver, image, "image/jpeg", str(len(JPEG)))
    httpserver.expect_ordered_request(
        WA_MEDIA_PATH,
        method="GET",
        query_string=wa_media_query("1003383421387256"),
        headers={"Authorization": f"Bearer {WA_TOKEN}"},
    ).respond_with_data(JPEG, content_type="image/jpeg")

    fetched = wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX)

    assert fetched == FetchedMedia(JPEG, "image/jpeg")
    assert [r.path for r, _ in httpserver.log] == [f"/{VERSION}/1003383421387256", WA_MEDIA_PATH]


def test_whatsapp_voice_note_takes_the_api_mime_type_when_the_file_server_names_none(httpserver: HTTPServer) -> None:
    [voice] = WA_VOICE.media
    assert (voice.kind, voice.ref) == ("voice", "1214541180295581")
    expect_wa_metadata(httpserver, voice, "audio/ogg; codecs=opus", len(OGG))
    httpserver.expect_ordered_request(WA_MEDIA_PATH, query_string=wa_media_query("1214541180295581")).respond_with_data(
        OGG, content_type="application/octet-stream"
    )

    assert wa_source(httpserver).fetch(WA_VOICE, voice, max_bytes=MAX) == FetchedMedia(OGG, "audio/ogg")


def test_whatsapp_document_keeps_its_type(httpserver: HTTPServer) -> None:
    [document] = WA_DOCUMENT.media
    expect_wa_metadata(httpserver, document, "application/pdf", len(PDF))
    httpserver.expect_ordered_request(WA_MEDIA_PATH).respond_with_data(PDF, content_type="application/pdf")

    assert wa_source(httpserver).fetch(WA_DOCUMENT, document, max_bytes=MAX) == FetchedMedia(PDF, "application/pdf")


def test_whatsapp_over_the_cap_by_the_api_file_size_is_refused_before_downloading(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    expect_wa_metadata(httpserver, image, "image/jpeg", "5242880")

    error = failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), MediaUnavailableError)

    assert str(error) == "whatsapp image 1003383421387256: larger than the 1,048,576 byte limit"
    assert len(httpserver.log) == 1  # the bytes were never asked for


def test_whatsapp_expired_media_url_is_unavailable(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    expect_wa_metadata(httpserver, image, "image/jpeg", len(JPEG))
    httpserver.expect_ordered_request(WA_MEDIA_PATH).respond_with_data("URL signature expired", status=404)

    error = failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), MediaUnavailableError)

    assert str(error).startswith("whatsapp image 1003383421387256: HTTP 404")


def test_whatsapp_forbidden_expired_media_url_is_unavailable(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    expect_wa_metadata(httpserver, image, "image/jpeg", len(JPEG))
    httpserver.expect_ordered_request(WA_MEDIA_PATH).respond_with_data("URL signature expired", status=403)

    error = failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), MediaUnavailableError)

    assert "HTTP 403" in str(error)


def test_whatsapp_unknown_media_id_is_unavailable_with_graph_reason(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    httpserver.expect_request(f"/{VERSION}/1003383421387256").respond_with_json(
        {
            "error": {
                "message": "(#100) Invalid parameter",
                "type": "OAuthException",
                "code": 100,
                "error_subcode": 33,
                "fbtrace_id": "AbC",
            }
        },
        status=400,
    )

    error = failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), MediaUnavailableError)

    assert "HTTP 400, error 100: (#100) Invalid parameter" in str(error)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_whatsapp_server_errors_are_retryable(httpserver: HTTPServer, status: int) -> None:
    [image] = WA_IMAGE.media
    httpserver.expect_request(f"/{VERSION}/1003383421387256").respond_with_data("oops", status=status)
    failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), RetryableError)


def test_whatsapp_throttled_media_download_is_retryable_after_retry_after(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    expect_wa_metadata(httpserver, image, "image/jpeg", len(JPEG))
    httpserver.expect_ordered_request(WA_MEDIA_PATH).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )

    error = failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), RetryableError)

    assert error.retry_after == 7


def test_whatsapp_rate_limit_code_is_retryable_whatever_the_status(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    httpserver.expect_request(f"/{VERSION}/1003383421387256").respond_with_json(
        {"error": {"message": "(#4) Application request limit reached", "code": 4}}, status=400
    )
    error = failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), RetryableError)
    assert "error 4" in str(error)


def test_whatsapp_error_page_served_as_200_is_unavailable(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    expect_wa_metadata(httpserver, image, "image/jpeg", len(JPEG))
    httpserver.expect_ordered_request(WA_MEDIA_PATH).respond_with_data(
        "<html>Log in to continue</html>", content_type="text/html; charset=utf-8"
    )

    error = failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), MediaUnavailableError)

    assert "web page (text/html)" in str(error)


def test_whatsapp_graph_answer_without_url_is_unavailable(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    httpserver.expect_request(f"/{VERSION}/1003383421387256").respond_with_json({"id": "1003383421387256"})
    error = failure(lambda: wa_source(httpserver).fetch(WA_IMAGE, image, max_bytes=MAX), MediaUnavailableError)
    assert "without a media URL" in str(error)


def test_whatsapp_without_a_token_is_unavailable_and_calls_nothing(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    error = failure(
        lambda: wa_source(httpserver, token=None).fetch(WA_IMAGE, image, max_bytes=MAX), MediaUnavailableError
    )
    assert str(error) == (
        "whatsapp image 1003383421387256: the whatsapp token is not configured, so its media cannot be fetched"
    )
    assert httpserver.log == []


# --- Telegram: getFile, then /file/bot<token>/<file_path> --------------------------------------------------------


def tg_source(server: HTTPServer | str, token: Callable[[], str] | None = lambda: TG_TOKEN) -> TelegramMediaSource:
    return TelegramMediaSource(server if isinstance(server, str) else root(server), token, timeout_seconds=TIMEOUT)


def expect_get_file(server: HTTPServer, media: MediaRef, file_path: str, size: int) -> None:
    assert media.ref is not None
    server.expect_ordered_request(
        f"/bot{TG_TOKEN}/getFile", method="GET", query_string={"file_id": media.ref}
    ).respond_with_json(
        {
            "ok": True,
            "result": {"file_id": media.ref, "file_unique_id": "AQADlarge", "file_size": size, "file_path": file_path},
        }
    )


def test_telegram_photo_is_downloaded_from_the_file_path_getfile_gives(httpserver: HTTPServer) -> None:
    [photo] = TG_PHOTO.media
    assert photo.ref == "AgACAgQAAxkBAAIBc2Zlarge"  # the largest size
    expect_get_file(httpserver, photo, "photos/file_0.jpg", len(JPEG))
    httpserver.expect_ordered_request(f"/file/bot{TG_TOKEN}/photos/file_0.jpg", method="GET").respond_with_data(
        JPEG, content_type="application/octet-stream"
    )

    # The file server names no type and a PhotoSize has none: the file path's extension does.
    assert tg_source(httpserver).fetch(TG_PHOTO, photo, max_bytes=MAX) == FetchedMedia(JPEG, "image/jpeg")
    assert len(httpserver.log) == 2


def test_telegram_voice_takes_the_message_mime_type(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    expect_get_file(httpserver, voice, "voice/file_3.oga", len(OGG))
    httpserver.expect_ordered_request(f"/file/bot{TG_TOKEN}/voice/file_3.oga").respond_with_data(
        OGG, content_type="application/octet-stream"
    )

    assert tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=MAX) == FetchedMedia(OGG, "audio/ogg")


def test_telegram_file_over_the_bot_api_limit_is_refused_before_downloading(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    expect_get_file(httpserver, voice, "voice/file_3.oga", BOT_API_DOWNLOAD_LIMIT + 1)

    error = failure(
        lambda: tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=100 * 1024 * 1024), MediaUnavailableError
    )

    assert str(error) == "telegram voice: over the Bot API's 20 MB download limit"
    assert len(httpserver.log) == 1


def test_telegram_file_over_the_cap_is_refused_before_downloading(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    expect_get_file(httpserver, voice, "voice/file_3.oga", 2 * MAX)
    error = failure(lambda: tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=MAX), MediaUnavailableError)
    assert "larger than the 1,048,576 byte limit" in str(error)
    assert len(httpserver.log) == 1


def test_telegram_file_too_big_for_getfile_is_unavailable(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    httpserver.expect_request(f"/bot{TG_TOKEN}/getFile").respond_with_json(
        {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"}, status=400
    )
    error = failure(lambda: tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=MAX), MediaUnavailableError)
    assert "HTTP 400, getFile: Bad Request: file is too big" in str(error)


def test_telegram_wrong_token_is_unavailable_without_the_token(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    httpserver.expect_request(f"/bot{TG_TOKEN}/getFile").respond_with_json(
        {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
    )
    error = failure(lambda: tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=MAX), MediaUnavailableError)
    assert "HTTP 401" in str(error)


def test_telegram_flood_control_is_retryable_after_its_retry_after(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    httpserver.expect_request(f"/bot{TG_TOKEN}/getFile").respond_with_json(
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 12",
            "parameters": {"retry_after": 12},
        },
        status=429,
    )
    error = failure(lambda: tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=MAX), RetryableError)
    assert error.retry_after == 12


def test_telegram_file_server_error_is_retryable(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    expect_get_file(httpserver, voice, "voice/file_3.oga", len(OGG))
    httpserver.expect_ordered_request(f"/file/bot{TG_TOKEN}/voice/file_3.oga").respond_with_data("", status=502)
    failure(lambda: tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=MAX), RetryableError)


def test_telegram_expired_file_path_is_unavailable(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    expect_get_file(httpserver, voice, "voice/file_3.oga", len(OGG))
    httpserver.expect_ordered_request(f"/file/bot{TG_TOKEN}/voice/file_3.oga").respond_with_json(
        {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
    )
    failure(lambda: tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=MAX), MediaUnavailableError)


def test_telegram_no_response_is_retryable_and_never_shows_the_token() -> None:
    # A port nothing listens on: httpx's own message would quote the URL, with the token in its path.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    [voice] = TG_VOICE.media
    error = failure(lambda: tg_source(f"http://127.0.0.1:{port}").fetch(TG_VOICE, voice, max_bytes=MAX), RetryableError)
    assert str(error) == "telegram voice: no complete response (ConnectError)"


def test_telegram_logs_never_show_the_token(httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    [voice] = TG_VOICE.media
    expect_get_file(httpserver, voice, "voice/file_3.oga", len(OGG))
    httpserver.expect_ordered_request(f"/file/bot{TG_TOKEN}/voice/file_3.oga").respond_with_data(
        OGG, content_type="application/octet-stream"
    )
    with caplog.at_level(logging.DEBUG):
        tg_source(httpserver).fetch(TG_VOICE, voice, max_bytes=MAX)
    # The fake server's own access log (werkzeug) shows the path; the client side is ours to keep clean.
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any(r.startswith("connect_tcp") for r in ours)  # httpcore's DEBUG lines were captured...
    assert not [line for line in ours if LEAK in line]  # ...and none of them quotes the URL


def test_telegram_without_a_token_is_unavailable(httpserver: HTTPServer) -> None:
    [voice] = TG_VOICE.media
    error = failure(
        lambda: tg_source(httpserver, token=None).fetch(TG_VOICE, voice, max_bytes=MAX), MediaUnavailableError
    )
    assert "the telegram token is not configured" in str(error)
    assert httpserver.log == []


# --- Instagram: the attachment's CDN URL, fetched as it is -------------------------------------------------------


def local_cdn(server: HTTPServer, message: InboundMessage) -> tuple[InboundMessage, MediaRef]:
    """The message with its CDN URL moved to the fake (same path and query: Meta's shape, a local host)."""
    [media] = message.media
    assert media.ref is not None
    assert media.ref.startswith("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1800000000000001&signature=")
    local = media.model_copy(
        update={"ref": server.url_for(IG_CDN_PATH) + "?asset_id=1800000000000001&signature=AbCdEf-s3cr3t"}
    )
    return message.model_copy(update={"media": (local,)}), local


def ig_source(allow_loopback: bool = True) -> InstagramMediaSource:
    return InstagramMediaSource(timeout_seconds=TIMEOUT, allow_loopback=allow_loopback)


def test_instagram_image_is_fetched_from_its_cdn_url_without_a_token(httpserver: HTTPServer) -> None:
    message, media = local_cdn(httpserver, IG_IMAGE)
    httpserver.expect_request(IG_CDN_PATH, method="GET", query_string=IG_CDN_QUERY).respond_with_data(
        JPEG, content_type="image/jpeg"
    )

    assert ig_source().fetch(message, media, max_bytes=MAX) == FetchedMedia(JPEG, "image/jpeg")
    [(request, _)] = httpserver.log
    assert "Authorization" not in request.headers


def test_instagram_http_url_is_refused_unless_loopback_is_allowed(httpserver: HTTPServer) -> None:
    message, media = local_cdn(httpserver, IG_IMAGE)
    error = failure(lambda: ig_source(allow_loopback=False).fetch(message, media, max_bytes=MAX), MediaUnavailableError)
    assert str(error) == "instagram image: URL refused: its host resolves to a loopback address"
    assert httpserver.log == []


def test_instagram_expired_cdn_url_is_unavailable_without_its_signature(httpserver: HTTPServer) -> None:
    message, media = local_cdn(httpserver, IG_IMAGE)
    httpserver.expect_request(IG_CDN_PATH).respond_with_data("URL signature expired", status=403)
    error = failure(lambda: ig_source().fetch(message, media, max_bytes=MAX), MediaUnavailableError)
    assert str(error).startswith("instagram image: HTTP 403")


def test_instagram_attachment_without_url_is_unavailable() -> None:
    media = MediaRef(kind="share")
    error = failure(lambda: ig_source().fetch(IG_IMAGE, media, max_bytes=MAX), MediaUnavailableError)
    assert str(error) == "instagram share: no URL to download"


# --- generic: the payload's media URL -----------------------------------------------------------------------------


def generic_message(*items: dict[str, str]) -> InboundMessage:
    [message] = generic.normalize(
        {"conversation_id": "customer-42", "message_id": "msg-0003", "text": "see attached", "media": list(items)},
        now_ms=0,
    )
    return message


def generic_source(allow_loopback: bool = True, timeout: float = TIMEOUT) -> GenericMediaSource:
    return GenericMediaSource(timeout_seconds=timeout, allow_loopback=allow_loopback)


def test_generic_media_url_is_fetched_with_the_server_type(httpserver: HTTPServer) -> None:
    message = generic_message(
        {"url": httpserver.url_for("/files/invoice.pdf?token=s3cr3t"), "mime_type": "application/pdf"}
    )
    httpserver.expect_request("/files/invoice.pdf", query_string={"token": "s3cr3t"}).respond_with_data(
        PDF, content_type="application/pdf"
    )
    assert generic_source().fetch(message, message.media[0], max_bytes=MAX) == FetchedMedia(PDF, "application/pdf")


def test_generic_media_falls_back_to_the_payload_type(httpserver: HTTPServer) -> None:
    message = generic_message({"url": httpserver.url_for("/files/voice"), "mime_type": "audio/ogg; codecs=opus"})
    httpserver.expect_request("/files/voice").respond_with_data(OGG, content_type="application/octet-stream")
    assert generic_source().fetch(message, message.media[0], max_bytes=MAX) == FetchedMedia(OGG, "audio/ogg")


def test_generic_media_of_the_wrong_family_is_unavailable(httpserver: HTTPServer) -> None:
    message = generic_message({"url": httpserver.url_for("/files/photo"), "mime_type": "image/jpeg"})
    httpserver.expect_request("/files/photo").respond_with_data("not a photo", content_type="text/plain")
    error = failure(lambda: generic_source().fetch(message, message.media[0], max_bytes=MAX), MediaUnavailableError)
    assert str(error) == "generic image: the server sent text/plain, which is not image media"


@pytest.mark.parametrize("allow_loopback", [False, True])
def test_generic_loopback_is_refused_unless_allowed(httpserver: HTTPServer, allow_loopback: bool) -> None:
    message = generic_message({"url": httpserver.url_for("/files/photo.jpg"), "mime_type": "image/jpeg"})
    httpserver.expect_request("/files/photo.jpg").respond_with_data(JPEG, content_type="image/jpeg")
    source = generic_source(allow_loopback=allow_loopback)
    if allow_loopback:
        assert source.fetch(message, message.media[0], max_bytes=MAX).data == JPEG
    else:
        error = failure(lambda: source.fetch(message, message.media[0], max_bytes=MAX), MediaUnavailableError)
        assert "loopback" in str(error)
        assert httpserver.log == []
        httpserver.clear()  # nothing was asked: the unused handler is not a failure


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Resolve the given host names to the given addresses; every other name as usual."""
    real = socket.getaddrinfo

    def install(table: dict[str, str]) -> None:
        def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
            return real(table.get(host, host), port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return install


def test_generic_connects_to_the_address_it_checked_with_the_original_host(
    httpserver: HTTPServer, fake_dns: Callable[[dict[str, str]], None]
) -> None:
    # A name only our resolver knows: the request can only arrive if the connection went to the checked address.
    fake_dns({"media.example.test": "127.0.0.1"})
    port = httpserver.port
    message = generic_message({"url": f"http://media.example.test:{port}/files/photo.jpg", "mime_type": "image/jpeg"})
    httpserver.expect_request("/files/photo.jpg", headers={"Host": f"media.example.test:{port}"}).respond_with_data(
        JPEG, content_type="image/jpeg"
    )
    assert generic_source().fetch(message, message.media[0], max_bytes=MAX).data == JPEG


def test_generic_redirect_to_a_private_address_is_refused(
    httpserver: HTTPServer, fake_dns: Callable[[dict[str, str]], None]
) -> None:
    fake_dns({"internal.example.test": "10.0.0.7"})
    message = generic_message({"url": httpserver.url_for("/files/photo.jpg"), "mime_type": "image/jpeg"})
    httpserver.expect_request("/files/photo.jpg").respond_with_data(
        "", status=302, headers={"Location": "https://internal.example.test/admin?k=s3cr3t"}
    )
    error = failure(lambda: generic_source().fetch(message, message.media[0], max_bytes=MAX), MediaUnavailableError)
    assert str(error) == "generic image: URL refused: its host resolves to a private address"


def test_generic_redirect_on_loopback_is_followed(httpserver: HTTPServer) -> None:
    message = generic_message({"url": httpserver.url_for("/short/abc"), "mime_type": "image/jpeg"})
    httpserver.expect_ordered_request("/short/abc").respond_with_data(
        "", status=302, headers={"Location": "/files/photo.jpg"}
    )
    httpserver.expect_ordered_request("/files/photo.jpg").respond_with_data(JPEG, content_type="image/jpeg")
    assert generic_source().fetch(message, message.media[0], max_bytes=MAX).data == JPEG


@pytest.mark.parametrize(
    ("status", "kind"), [(404, MediaUnavailableError), (410, MediaUnavailableError), (500, RetryableError)]
)
def test_generic_status_mapping(
    httpserver: HTTPServer, status: int, kind: type[RetryableError | MediaUnavailableError]
) -> None:
    message = generic_message({"url": httpserver.url_for("/files/gone.jpg"), "mime_type": "image/jpeg"})
    httpserver.expect_request("/files/gone.jpg").respond_with_data("", status=status)
    failure(lambda: generic_source().fetch(message, message.media[0], max_bytes=MAX), kind)


def test_generic_throttled_is_retryable_after_retry_after(httpserver: HTTPServer) -> None:
    message = generic_message({"url": httpserver.url_for("/files/busy.jpg"), "mime_type": "image/jpeg"})
    httpserver.expect_request("/files/busy.jpg").respond_with_data("", status=429, headers={"Retry-After": "3"})
    error = failure(lambda: generic_source().fetch(message, message.media[0], max_bytes=MAX), RetryableError)
    assert error.retry_after == 3


# --- the size cap and the time budget, while streaming ------------------------------------------------------------

CHUNK = 64 * 1024


def test_oversize_by_content_length_is_refused_before_the_body(httpserver: HTTPServer) -> None:
    message = generic_message({"url": httpserver.url_for("/files/big.jpg"), "mime_type": "image/jpeg"})
    httpserver.expect_request("/files/big.jpg").respond_with_data(b"\xff" * (MAX + 1), content_type="image/jpeg")
    error = failure(lambda: generic_source().fetch(message, message.media[0], max_bytes=MAX), MediaUnavailableError)
    assert str(error) == "generic image: larger than the 1,048,576 byte limit"


def test_oversize_without_content_length_stops_reading_past_the_cap(httpserver: HTTPServer) -> None:
    # A chunked body of 128 MiB: the source must stop soon after 1 MiB, not read (or hold) all of it.
    total_chunks = 2048
    sent: list[int] = []
    done = threading.Event()

    def body() -> Iterator[bytes]:
        try:
            for _ in range(total_chunks):
                sent.append(CHUNK)
                yield b"\x00" * CHUNK
        finally:
            done.set()

    httpserver.expect_request("/files/endless.ogg").respond_with_response(Response(body(), content_type="audio/ogg"))
    message = generic_message({"url": httpserver.url_for("/files/endless.ogg"), "mime_type": "audio/ogg"})

    error = failure(lambda: generic_source().fetch(message, message.media[0], max_bytes=MAX), MediaUnavailableError)

    assert "larger than the 1,048,576 byte limit" in str(error)
    assert done.wait(5)  # the server's generator ended: the client hung up
    assert sum(sent) < total_chunks * CHUNK / 4


def test_a_server_too_slow_to_answer_is_retryable(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.4)
        return Response(JPEG, content_type="image/jpeg")

    httpserver.expect_request("/files/slow.jpg").respond_with_handler(slow)
    message = generic_message({"url": httpserver.url_for("/files/slow.jpg"), "mime_type": "image/jpeg"})
    error = failure(
        lambda: generic_source(timeout=0.15).fetch(message, message.media[0], max_bytes=MAX), RetryableError
    )
    assert str(error) == "generic image: timed out (ReadTimeout)"


def test_a_trickling_download_is_cut_at_the_time_budget(httpserver: HTTPServer) -> None:
    # Each chunk comes well within a per-read timeout; the whole download does not fit the budget.
    def trickle() -> Iterator[bytes]:
        for _ in range(40):
            time.sleep(0.03)
            yield b"\xff" * 16

    httpserver.expect_request("/files/trickle.jpg").respond_with_response(
        Response(trickle(), content_type="image/jpeg")
    )
    message = generic_message({"url": httpserver.url_for("/files/trickle.jpg"), "mime_type": "image/jpeg"})
    started = time.monotonic()
    error = failure(lambda: generic_source(timeout=0.3).fetch(message, message.media[0], max_bytes=MAX), RetryableError)
    assert str(error) == "generic image: not fetched within 0.3 s"
    assert time.monotonic() - started < 1.0


# --- thread safety and wiring -------------------------------------------------------------------------------------


def test_one_source_serves_concurrent_fetches(httpserver: HTTPServer) -> None:
    [image] = WA_IMAGE.media
    bodies = {f"{n:016d}": JPEG + n.to_bytes(2, "big") for n in range(16)}
    for media_id in bodies:
        httpserver.expect_request(f"/{VERSION}/{media_id}").respond_with_json(
            {"url": wa_media_url(httpserver, media_id), "mime_type": "image/jpeg", "id": media_id}
        )
    httpserver.expect_request(WA_MEDIA_PATH).respond_with_handler(
        lambda request: Response(bodies[request.args["mid"]], content_type="image/jpeg")
    )
    source = wa_source(httpserver)

    with ThreadPoolExecutor(max_workers=8) as pool:
        fetched = dict(
            zip(  # noqa: B905 - pool.map yields one result per input
                bodies,
                pool.map(lambda i: source.fetch(WA_IMAGE, image.model_copy(update={"ref": i}), max_bytes=MAX), bodies),
            )
        )

    assert {media_id: f.data for media_id, f in fetched.items()} == bodies


def test_build_media_sources_wires_each_channel_from_settings(httpserver: HTTPServer) -> None:
    settings = Settings(
        whatsapp_api_base_url=root(httpserver),
        whatsapp_api_version=VERSION,
        whatsapp_access_token=WA_TOKEN,
        telegram_api_base_url=root(httpserver),
        telegram_bot_token=TG_TOKEN,
        instagram_access_token="ig-token",
        media_allow_loopback=True,
        media_fetch_timeout_seconds=TIMEOUT,
        secrets_source="env",
    )
    sources: dict[str, MediaSource] = build_media_sources(settings, Secrets(settings))
    assert set(sources) == {"whatsapp", "telegram", "instagram", "generic"}
    # A channel not configured for its real API (no token: replies go to the local outbox) reads no media.
    unconfigured = Settings(media_allow_loopback=True, secrets_source="env")
    assert set(build_media_sources(unconfigured, Secrets(unconfigured))) == {"generic"}

    [image] = WA_IMAGE.media
    expect_wa_metadata(httpserver, image, "image/jpeg", len(JPEG))
    httpserver.expect_ordered_request(WA_MEDIA_PATH).respond_with_data(JPEG, content_type="image/jpeg")
    [photo] = TG_PHOTO.media
    expect_get_file(httpserver, photo, "photos/file_0.jpg", len(JPEG))
    httpserver.expect_ordered_request(f"/file/bot{TG_TOKEN}/photos/file_0.jpg").respond_with_data(
        JPEG, content_type="application/octet-stream"
    )
    ig_message, ig_media = local_cdn(httpserver, IG_IMAGE)
    httpserver.expect_ordered_request(IG_CDN_PATH).respond_with_data(JPEG, content_type="image/jpeg")
    generic_msg = generic_message({"url": httpserver.url_for("/files/photo.jpg"), "mime_type": "image/jpeg"})
    httpserver.expect_ordered_request("/files/photo.jpg").respond_with_data(JPEG, content_type="image/jpeg")

    assert sources["whatsapp"].fetch(WA_IMAGE, image, max_bytes=MAX).data == JPEG
    assert sources["telegram"].fetch(TG_PHOTO, photo, max_bytes=MAX).data == JPEG
    assert sources["instagram"].fetch(ig_message, ig_media, max_bytes=MAX).data == JPEG
    assert sources["generic"].fetch(generic_msg, generic_msg.media[0], max_bytes=MAX).data == JPEG


def test_build_media_sources_refuses_loopback_by_default(httpserver: HTTPServer) -> None:
    settings = Settings(secrets_source="env")
    sources = build_media_sources(settings, Secrets(settings))
    message = generic_message({"url": httpserver.url_for("/files/photo.jpg"), "mime_type": "image/jpeg"})
    failure(lambda: sources["generic"].fetch(message, message.media[0], max_bytes=MAX), MediaUnavailableError)
    assert httpserver.log == []


# --- TLS: the connection goes to the checked address, the certificate is still checked against the host name -----


def certificates(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context holding a certificate for `name`, signed by a throwaway CA the client context trusts."""
    now = datetime.datetime.now(datetime.UTC)

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("test CA", ca_key, ca_key, ca=True)
    cert = issue(name, key, ca_key, ca=False)
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[HTTPServer, ssl.SSLContext]]:
    """An https fake serving a certificate for media.example.test, and a client context trusting its CA."""
    server_context, client_context = certificates(tmp_path, "media.example.test")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context)
    server.start()
    try:
        yield server, client_context
    finally:
        server.clear()
        server.stop()


def test_https_to_the_checked_address_verifies_the_certificate_for_the_host_name(
    tls_server: tuple[HTTPServer, ssl.SSLContext], fake_dns: Callable[[dict[str, str]], None]
) -> None:
    server, trust = tls_server
    fake_dns({"media.example.test": "127.0.0.1", "other.example.test": "127.0.0.1"})
    server.expect_request("/files/photo.jpg", headers={"Host": f"media.example.test:{server.port}"}).respond_with_data(
        JPEG, content_type="image/jpeg"
    )
    client = httpx.Client(transport=PublicOnlyTransport(allow_loopback=True, verify=trust))
    source = GenericMediaSource(timeout_seconds=TIMEOUT, client=client)

    good = generic_message(
        {"url": f"https://media.example.test:{server.port}/files/photo.jpg", "mime_type": "image/jpeg"}
    )
    assert source.fetch(good, good.media[0], max_bytes=MAX).data == JPEG

    # Same address, another name: the certificate does not match it, so no byte is fetched.
    wrong = generic_message(
        {"url": f"https://other.example.test:{server.port}/files/photo.jpg", "mime_type": "image/jpeg"}
    )
    error = failure(lambda: source.fetch(wrong, wrong.media[0], max_bytes=MAX), RetryableError)
    assert str(error) == "generic image: no complete response (ConnectError)"
    assert len(server.log) == 1
