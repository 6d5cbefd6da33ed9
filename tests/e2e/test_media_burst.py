"""Issue 12's contract, end to end: `make run`'s server pointed at a fake WhatsApp Graph API (media and messages) and
a fake OpenAI-compatible server (transcriptions and chat). A burst of text, a photo with a caption and a voice note is
one chat request whose parts are in burst order, with the transcript in place of the voice note and the photo's bytes
as a data URL; it gets one reply. A media item that cannot be fetched still yields a reply."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests import builders
from tests.e2e.conftest import Server, _running, poll

TOKEN = "EAAG-e2e-media-token"
API_KEY = "sk-e2e-media-key"
PHOTO = b"\xff\xd8\xff\xe0 a small jpeg"
VOICE = b"OggS a short voice note"
TRANSCRIPT = "and I need it by friday"
ANSWER = "Yes, that one ships by Friday."

pytestmark = pytest.mark.slow


@pytest.fixture
def media_server(httpserver: HTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`debouncer serve` with WhatsApp, the AI and transcription pointed at the fakes."""
    base = httpserver.url_for("").rstrip("/")
    environment = {
        "DEBOUNCE_SECONDS": "1",
        "MAX_WAIT_SECONDS": "6",
        "WHATSAPP_API_BASE_URL": f"{base}/graph",
        "WHATSAPP_API_VERSION": "v25.0",
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "AI_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"{base}/openai/v1",
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_MODEL": "local-vision-model",
        "TRANSCRIBE_PROVIDER": "openai",
        "TRANSCRIBE_MODEL": "whisper-local",
    }
    with _running(tmp_path_factory.mktemp("media"), {"media": environment}) as started:
        yield started["media"]


def _graph_media(httpserver: HTTPServer, media_id: str, content: bytes | None, mime_type: str) -> None:
    """Graph's two steps: the media id gives a URL, the URL (with the same token) gives the bytes; None: expired."""
    if content is None:
        error = {"error": {"message": "Media not found", "type": "OAuthException", "code": 100}}
        httpserver.expect_request(f"/graph/v25.0/{media_id}").respond_with_json(error, status=404)
        return
    url = httpserver.url_for(f"/cdn/{media_id}")
    info = {
        "url": url,
        "mime_type": mime_type,
        "file_size": len(content),
        "id": media_id,
        "messaging_product": "whatsapp",
    }
    httpserver.expect_request(f"/graph/v25.0/{media_id}").respond_with_json(info)
    httpserver.expect_request(f"/cdn/{media_id}").respond_with_data(content, content_type=mime_type)


def _ai_and_send(httpserver: HTTPServer) -> str:
    """The chat and transcription endpoints, and WhatsApp's send: returns the send path."""
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}]}
    httpserver.expect_request("/openai/v1/chat/completions", method="POST").respond_with_json(completion)

    def transcription(request: Request) -> Response:
        assert request.files["file"].read() == VOICE and request.form["model"] == "whisper-local"
        return Response(json.dumps({"text": TRANSCRIPT}), content_type="application/json")

    httpserver.expect_request("/openai/v1/audio/transcriptions", method="POST").respond_with_handler(transcription)
    path = f"/graph/v25.0/{builders.PHONE_NUMBER_ID}/messages"
    httpserver.expect_request(path, method="POST").respond_with_json({"messages": [{"id": "wamid.reply"}]})
    return path


def _post(server: Server, user: str, message: dict[str, Any]) -> None:
    raw = builders.body(builders.whatsapp(user, message))
    status, _, body = server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
    assert status == 200, body
    time.sleep(0.2)


def _burst(server: Server, user: str, photo_id: str, voice_id: str) -> None:
    now = int(time.time())
    _post(server, user, builders.wa_message(user, f"wamid.{user}.0", "hi", now))
    photo = {"caption": "is this the one?", "mime_type": "image/jpeg", "sha256": "x", "id": photo_id}
    _post(server, user, {"from": user, "id": f"wamid.{user}.1", "timestamp": str(now), "type": "image", "image": photo})
    voice = {"mime_type": "audio/ogg; codecs=opus", "sha256": "y", "id": voice_id, "voice": True}
    _post(server, user, {"from": user, "id": f"wamid.{user}.2", "timestamp": str(now), "type": "audio", "audio": voice})


def _one_chat_request_and_one_send(server: Server, httpserver: HTTPServer, send_path: str) -> dict[str, Any]:
    poll(lambda: any(r.path == send_path for r, _ in httpserver.log), timeout=45, what="the WhatsApp send")
    time.sleep(1.5)  # a second execution or a retried reply would show up within this
    chats = [r for r, _ in httpserver.log if r.path.endswith("/chat/completions")]
    sends = [r for r, _ in httpserver.log if r.path == send_path]
    assert len(chats) == 1, server.log_tail()
    assert len(sends) == 1, server.log_tail()
    assert json.loads(sends[0].get_data())["text"]["body"] == ANSWER
    request: dict[str, Any] = json.loads(chats[0].get_data())
    return request


def test_text_photo_and_voice_note_are_one_multimodal_turn(media_server: Server, httpserver: HTTPServer) -> None:
    # GIVEN a photo and a voice note the Graph API serves
    user = f"1555{uuid.uuid4().int % 10**8:08d}"
    _graph_media(httpserver, f"photo{user}", PHOTO, "image/jpeg")
    _graph_media(httpserver, f"voice{user}", VOICE, "audio/ogg")
    send_path = _ai_and_send(httpserver)
    # WHEN the person sends text, the photo with a caption and the voice note in one burst
    _burst(media_server, user, f"photo{user}", f"voice{user}")
    # THEN one chat request carries the burst as parts in order, and one reply leaves
    request = _one_chat_request_and_one_send(media_server, httpserver, send_path)
    content = request["messages"][-1]["content"]
    assert isinstance(content, list), content
    images = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    assert images == ["data:image/jpeg;base64," + base64.b64encode(PHOTO).decode()]
    # The burst read in order (adjacent text parts may be joined into one): text, photo, caption, transcript.
    sequence = "\n".join("<image>" if p["type"] == "image_url" else p["text"] for p in content)
    positions = [sequence.index(s) for s in ("hi", "<image>", "is this the one?", TRANSCRIPT)]
    assert positions == sorted(positions), sequence
    # AND the media was downloaded with the token, once each
    downloads = [r for r, _ in httpserver.log if r.path.startswith("/cdn/")]
    assert sorted(r.path for r in downloads) == sorted([f"/cdn/photo{user}", f"/cdn/voice{user}"])
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in downloads)


def test_media_that_cannot_be_fetched_still_gets_a_reply(media_server: Server, httpserver: HTTPServer) -> None:
    # GIVEN a photo whose media id has expired, and a voice note that still downloads
    user = f"1555{uuid.uuid4().int % 10**8:08d}"
    _graph_media(httpserver, f"photo{user}", None, "image/jpeg")
    _graph_media(httpserver, f"voice{user}", VOICE, "audio/ogg")
    send_path = _ai_and_send(httpserver)
    _burst(media_server, user, f"photo{user}", f"voice{user}")
    # THEN the AI is told the photo could not be read, and the person still gets one reply
    request = _one_chat_request_and_one_send(media_server, httpserver, send_path)
    content = request["messages"][-1]["content"]  # all text: one string, or a list of text parts
    texts = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    assert "could not be read" in texts and TRANSCRIPT in texts
    assert TOKEN not in texts
