"""The provider-neutral conversation: history pairs oldest first, then the whole burst as one user turn."""

from __future__ import annotations

from tests.builders import inbound

from debouncer.domain.models import MediaRef
from debouncer.domain.ports import AIRequest, HistoryEntry
from debouncer.domain.prompt import ChatTurn, conversation, fitted
from debouncer.media.limits import BEDROCK, Native
from debouncer.media.model import MediaPart, TextPart


def test_history_pairs_come_first_in_order_then_the_burst_as_one_user_turn() -> None:
    request = AIRequest(
        system_prompt="Be brief.",
        messages=(
            inbound("1", "hi"),
            inbound("2", None, media=(MediaRef(kind="image", ref="f1"),)),
            inbound("3", "ok?"),
        ),
        history=(HistoryEntry("first q", "first a"), HistoryEntry("second q", "second a")),
    )

    chat = conversation(request)

    assert chat.system == "Be brief."
    assert chat.turns == (
        ChatTurn("user", "first q"),
        ChatTurn("assistant", "first a"),
        ChatTurn("user", "second q"),
        ChatTurn("assistant", "second a"),
        ChatTurn("user", "hi\n[image: f1]\nok?"),
    )


def test_without_history_the_burst_is_the_only_turn() -> None:
    chat = conversation(AIRequest(system_prompt="", messages=(inbound("1", "hello"),)))

    assert chat.system == ""
    assert chat.turns == (ChatTurn("user", "hello"),)
    assert chat.turns[0].parts == ()


def test_a_blank_history_entry_is_dropped_whole_so_roles_still_alternate() -> None:
    history = (HistoryEntry("q1", "a1"), HistoryEntry("q2", "  "), HistoryEntry("", "a3"), HistoryEntry("q4", "a4"))

    chat = conversation(AIRequest(system_prompt="s", messages=(inbound("1", "now"),), history=history))

    assert [turn.text for turn in chat.turns] == ["q1", "a1", "q4", "a4", "now"]
    assert [turn.role for turn in chat.turns] == ["user", "assistant", "user", "assistant", "user"]


def test_a_burst_with_media_carries_its_parts_in_order_and_history_stays_text() -> None:
    photo = MediaPart("image", "image/png", b"\x89PNG")
    parts = (TextPart("look"), photo, TextPart("[voice, transcribed] is it broken?"))
    request = AIRequest(
        system_prompt="s",
        messages=(inbound("1", "look"), inbound("2", None, media=(MediaRef(kind="image", ref="f1"),))),
        history=(HistoryEntry("q", "a"),),
        parts=parts,
    )

    chat = conversation(request)

    assert chat.turns == (
        ChatTurn("user", "q"),
        ChatTurn("assistant", "a"),
        ChatTurn("user", "look\n[image: f1]", parts),
    )
    assert fitted(chat.turns[-1], BEDROCK) == (
        TextPart("look"),
        Native(photo, "image", "png"),
        TextPart("[voice, transcribed] is it broken?"),
    )


def test_a_turn_without_parts_is_fitted_as_its_text() -> None:
    assert fitted(ChatTurn("user", "hi\nthere"), BEDROCK) == (TextPart("hi\nthere"),)
    assert fitted(ChatTurn("user", "hi"), None) == (TextPart("hi"),)
