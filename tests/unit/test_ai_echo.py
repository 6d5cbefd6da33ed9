"""The echo AI: the burst back verbatim, and with media a description of every item it got."""

from __future__ import annotations

from tests.builders import inbound

from debouncer.adapters.ai_echo import EchoAI
from debouncer.config import Settings
from debouncer.domain.models import MediaRef
from debouncer.domain.ports import AIRequest, HistoryEntry
from debouncer.media.model import MediaPart, TextPart
from debouncer.wiring import build_ai

MEDIA_BURST = AIRequest(
    system_prompt="s",
    messages=(
        inbound("1", "what is wrong with it?"),
        inbound("2", None, media=(MediaRef(kind="image", ref="f1"),)),
        inbound("3", None, media=(MediaRef(kind="voice", ref="f2"),)),
        inbound("4", "manual attached", media=(MediaRef(kind="document", ref="f3", filename="manual.pdf"),)),
    ),
    history=(HistoryEntry("q", "a"),),
    parts=(
        TextPart("what is wrong with it?"),
        MediaPart("image", "image/jpeg", b"j" * 245_300),
        TextPart("[voice, transcribed] it beeps twice then stops"),
        MediaPart("document", "application/pdf", b"p" * 1_840_000, "manual.pdf"),
        TextPart("manual attached"),
    ),
)


def test_a_text_burst_is_echoed_one_line_per_message_with_the_count() -> None:
    one = AIRequest(system_prompt="s", messages=(inbound("1", "hi"),))
    three = AIRequest(system_prompt="s", messages=(inbound("1", "a"), inbound("2", "b"), inbound("3", "c")))

    assert EchoAI().answer(one) == "You said (1 message):\nhi"
    assert EchoAI().answer(three) == "You said (3 messages):\na\nb\nc"
    assert EchoAI(media=False).answer(three) == "You said (3 messages):\na\nb\nc"


def test_a_burst_with_media_is_echoed_one_line_per_message_describing_each_item() -> None:
    assert EchoAI().answer(MEDIA_BURST) == (
        "You said (4 messages):\n"
        "what is wrong with it?\n"
        "[image: image/jpeg, 245.3 kB]\n"
        "[voice, transcribed] it beeps twice then stops\n"
        '[document "manual.pdf": application/pdf, 1.8 MB] manual attached'
    )


def test_with_ai_media_off_it_shows_what_a_text_only_model_gets() -> None:
    echo = build_ai(Settings(ai_provider="echo", ai_media=False))

    assert echo.answer(MEDIA_BURST) == (
        "You said (4 messages):\n"
        "what is wrong with it?\n"
        "[image 245.3 kB: not shown to this text-only model]\n"
        "[voice, transcribed] it beeps twice then stops\n"
        '[document "manual.pdf" 1.8 MB: not shown to this text-only model] manual attached'
    )


def test_parts_laid_out_otherwise_than_per_message_get_a_line_each() -> None:
    request = AIRequest(
        system_prompt="s",
        messages=(inbound("1", "two photos"),),
        parts=(TextPart("two photos"), MediaPart("image", "image/png", b"a"), MediaPart("image", "image/png", b"b")),
    )

    assert EchoAI().answer(request) == (
        "You said (1 message):\ntwo photos\n[image: image/png, 1 byte]\n[image: image/png, 1 byte]"
    )
