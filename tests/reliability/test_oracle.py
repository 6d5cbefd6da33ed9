"""The oracle itself, on made-up evidence: what it must say about superseded, carried and withheld turns, and about a
reply that waited too long. A reliability run passing proves little if the oracle would not see the violation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from debouncer.domain.models import conversation_key
from tests.reliability.fakes import FALLBACK, Send
from tests.reliability.oracle import Evidence, Expectations, TurnRecord, check
from tests.reliability.workload import Conversation, Shape, Workload, _message

EPOCH = 1_750_000_000
T1, B2 = 1_750_000_001_000, 1_750_000_004_000  # a turn, and the later one that supersedes it


def _workload() -> Workload:
    conversation = Conversation(0, "generic", "conv-00000", conversation_key("generic", "default", "conv-00000"))
    conversation.bursts = [[_message(conversation, seq, EPOCH) for seq in range(2)], [_message(conversation, 2, EPOCH)]]
    return Workload(1, Shape(conversations=1), [conversation])


WORKLOAD = _workload()
CONVERSATION = WORKLOAD.conversations[0]
M = CONVERSATION.messages
IDS = [m.message_id for m in M]


def _answer(*seqs: int) -> str:
    return f"You said ({len(seqs)} messages):\n" + "\n".join(M[s].token for s in seqs)


def _turn(burst: int, seqs: tuple[int, ...], **fields: object) -> TurnRecord:
    base = TurnRecord(
        key=CONVERSATION.key,
        burst=burst,
        messages=tuple(((0, s), M[s].message_id) for s in seqs),
        answer=None,
        parts_sent=0,
        delivered=False,
        dropped=(),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def _send(text: str, ids: list[str], *, status: int = 200, at: float = EPOCH + 10.0) -> Send:
    return Send("generic", 0, text, status, at, tuple(ids))


CAP = EPOCH + 9.0  # the max wait of the first message
SUPERSEDED = _turn(
    T1, (0, 1), answer=_answer(0, 1), superseded=True, superseded_by=B2, cap=CAP, superseded_at=EPOCH + 5
)
FINAL = _turn(B2, (2,), answer=_answer(0, 1, 2), parts_sent=1, delivered=True, carried=(T1,), cap=CAP)
REPLY = _send(_answer(0, 1, 2), IDS)
ACCEPTED = {m: EPOCH + 1.0 for m in IDS}


def _problems(
    turns: list[TurnRecord],
    sends: list[Send],
    *,
    letters: list[dict[str, str]] | None = None,
    expect: Expectations | None = None,
) -> list[str]:
    evidence = Evidence(turns, {}, letters or [], sends, accepted_at=ACCEPTED)
    return check(WORKLOAD, set(IDS), evidence, expect or Expectations())


def test_a_superseded_turn_answered_by_the_turn_that_carries_it_keeps_every_invariant() -> None:
    assert _problems([SUPERSEDED, FINAL], [REPLY], expect=Expectations(min_superseded=1)) == []


def test_a_chain_of_superseded_turns_ends_at_its_final_turn() -> None:
    first = _turn(T1, (0,), superseded=True, superseded_by=T1 + 1, cap=CAP, superseded_at=EPOCH + 3)
    second = replace(SUPERSEDED, burst=T1 + 1, messages=SUPERSEDED.messages[1:], carried=(T1,))
    final = replace(FINAL, carried=(T1, T1 + 1))
    assert _problems([first, second, final], [REPLY]) == []


@pytest.mark.parametrize("status", [200, 500])
def test_a_superseded_answer_that_reached_the_channel_is_stale_accepted_or_not(status: int) -> None:
    stale = _send(_answer(0, 1), IDS[:2], status=status)
    problems = _problems([SUPERSEDED, FINAL], [stale, REPLY])
    assert any(p.startswith("stale:") and "was superseded, yet its answer reached the channel" in p for p in problems)
    if status == 200:
        assert any(p.startswith("answered 2 times:") for p in problems)


def test_a_superseded_turn_that_recorded_a_part_or_committed_to_its_reply_is_stale() -> None:
    for fields in ({"parts_sent": 1}, {"reply_started": True}, {"delivered": True}):
        problems = _problems([replace(SUPERSEDED, **fields), FINAL], [REPLY])
        assert any(p.startswith("stale: superseded") for p in problems), fields


def test_a_superseded_turn_whose_chain_leads_nowhere_is_lost() -> None:
    problems = _problems([replace(SUPERSEDED, superseded_by=B2 + 1), FINAL], [REPLY])
    assert any(p.startswith("lost:") and "leads to no claimed turn" in p for p in problems)


def test_a_final_turn_that_does_not_carry_what_it_supersedes_is_reported() -> None:
    problems = _problems([SUPERSEDED, replace(FINAL, carried=())], [_send(_answer(2), IDS[2:])])
    assert any("does not carry it" in p for p in problems)
    assert any(p.startswith("answered 0 times:") for p in problems)


def test_a_reply_that_leaves_out_the_carried_messages_or_names_them_out_of_order_is_reported() -> None:
    partial = _problems([SUPERSEDED, FINAL], [_send(_answer(2), IDS[2:])])
    assert any("no final turn's" in p for p in partial) and any(p.startswith("answered 0 times:") for p in partial)
    reordered = _problems([SUPERSEDED, FINAL], [_send(_answer(0, 1, 2), [IDS[2], IDS[0], IDS[1]])])
    assert any("which are not what any final turn answers" in p for p in reordered)


def test_a_superseded_turn_on_the_dlq_is_reported() -> None:
    letter = {"conversation_key": CONVERSATION.key, "burst": str(T1), "error": "PermanentError", "cause": "x"}
    problems = _problems([SUPERSEDED, FINAL], [REPLY], letters=[letter])
    assert any(p.startswith("dead-lettered:") for p in problems)


def test_a_withheld_turn_with_messages_to_answer_is_lost_and_a_sent_one_reported() -> None:
    withheld = _turn(T1, (0, 1, 2), answer=_answer(0, 1, 2), withheld=True, withheld_reason="paused")
    problems = _problems([withheld], [])
    assert any(p.startswith("lost:") and "withheld (paused)" in p for p in problems)
    problems = _problems([replace(withheld, parts_sent=1)], [REPLY])
    assert any(p.startswith("withheld:") for p in problems)


def test_a_withheld_turn_with_nothing_to_answer_is_fine() -> None:
    # A burst of late duplicates only: all dropped at the claim, the turn is withheld with nothing in it.
    nothing = _turn(B2 + 1, (), withheld=True, withheld_reason="deleted")
    assert _problems([SUPERSEDED, FINAL, nothing], [REPLY]) == []


def test_fallback_replies_are_counted_against_final_turns_only() -> None:
    superseded = replace(SUPERSEDED, answer=FALLBACK)
    final = replace(FINAL, answer=FALLBACK)
    assert _problems([superseded, final], [_send(FALLBACK, IDS)]) == []
    problems = _problems([superseded, final], [_send(FALLBACK, IDS[:2]), _send(FALLBACK, IDS)])
    assert any("2 fallback replies for 1 fallback bursts" in p for p in problems)


def test_too_few_superseded_turns_is_not_exercised() -> None:
    problems = _problems([SUPERSEDED, FINAL], [REPLY], expect=Expectations(min_superseded=2))
    assert problems == ["not exercised: 1 superseded turns, want at least 2"]


def test_a_reply_later_than_max_wait_plus_the_ai_and_the_slack_starves_unless_a_fault_explains_it() -> None:
    bound = Expectations(max_wait_seconds=8, ai_seconds=2, slack_seconds=10)
    late = replace(REPLY, at=EPOCH + 1.0 + 20.5)
    problems = _problems([SUPERSEDED, FINAL], [late], expect=bound)
    assert sorted(p.split(" waited")[0] for p in problems) == [f"starved: {i}" for i in IDS]
    assert _problems([SUPERSEDED, FINAL], [replace(REPLY, at=EPOCH + 20.9)], expect=bound) == []
    assert _problems([SUPERSEDED, FINAL], [late], expect=replace(bound, delay_exempt=frozenset({0}))) == []


def test_superseding_past_the_max_wait_or_carrying_into_a_later_deadline_is_starvation() -> None:
    late = _problems([replace(SUPERSEDED, superseded_at=int(CAP) + 1), FINAL], [REPLY])
    assert any(p.startswith("starvation:") and "1 s after its max wait ran out" in p for p in late)
    later_cap = _problems([SUPERSEDED, replace(FINAL, cap=CAP + 4)], [REPLY])
    assert any(p.startswith("starvation:") and "after the max wait of the carried turn" in p for p in later_cap)


def test_a_final_turn_due_past_the_max_wait_of_a_message_it_answers_is_starvation_however_fast_the_reply() -> None:
    bound = Expectations(max_wait_seconds=8)
    assert _problems([SUPERSEDED, FINAL], [REPLY], expect=bound) == []
    late = _problems([replace(SUPERSEDED, cap=CAP + 3), replace(FINAL, cap=CAP + 3)], [REPLY], expect=bound)
    assert sorted(p.split("'s final")[0] for p in late) == [f"starvation: {i}" for i in IDS]
