"""debouncer tune: its readers, its simulation of the product's burst rules, its scoring and its command line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from debouncer.cli import main
from debouncer.replay.fixture import load
from debouncer.tuning.fixtures import read_fixtures
from debouncer.tuning.gaps import gaps, thought_gap
from debouncer.tuning.jsonl import read_jsonl
from debouncer.tuning.outcome import next_message_at, outcome
from debouncer.tuning.recommend import grid
from debouncer.tuning.simulation import Candidate, Policy, inbound, simulate
from debouncer.tuning.trace import Group, TimedMessage, TraceError, groups

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "tune-timings.jsonl"
T0 = 1_800_000_000.3  # 0.3 s past a whole second: no arrival sits on a deadline's rounding


def _bursts(trace: list[TimedMessage], candidate: Candidate, policy: Policy) -> list[tuple[int, ...]]:
    run = simulate(candidate, policy, inbound(trace), trace)
    return sorted(tuple(sorted(a.messages)) for a in run.answers)


def test_a_message_after_the_claim_but_before_the_reply_supersedes_the_answer() -> None:
    # GIVEN a second message 3 s after the first: after the 2 s window's claim, while the AI (2 s) still thinks
    trace = [TimedMessage("c", T0), TimedMessage("c", T0 + 3)]

    # THEN with supersede, one answer covers both after two AI calls; without it, the first answer leaves alone
    run = simulate(Candidate(2, 60), Policy(ai_seconds=2), inbound(trace), trace)
    assert [a.messages for a in run.answers] == [(0, 1)] and run.ai_calls == 2
    assert _bursts(trace, Candidate(2, 60), Policy(ai_seconds=2, supersede=False)) == [(0,), (1,)]
    # AND a message after the answer left opens the next burst
    assert _bursts(trace, Candidate(2, 60), Policy(ai_seconds=0.2)) == [(0,), (1,)]  # claim at +2.7, sent at +2.9


def test_max_wait_max_messages_and_flush_keywords_cut_bursts_as_the_product_does() -> None:
    steady = [TimedMessage("c", T0 + i) for i in range(8)]  # one a second: the 3 s window never goes quiet
    assert _bursts(steady, Candidate(3, 4), Policy(ai_seconds=0)) == [(0, 1, 2, 3, 4), (5, 6, 7)]
    assert _bursts(steady, Candidate(3, 60), Policy(ai_seconds=0, max_messages=3)) == [(0, 1, 2), (3, 4, 5), (6, 7)]
    with_keyword = [*steady[:2], TimedMessage("c", T0 + 2, keyword="done"), *steady[3:]]
    flushing = Policy(ai_seconds=0, flush_keywords=("done",))
    assert _bursts(with_keyword, Candidate(3, 60), flushing) == [(0, 1, 2), (3, 4, 5, 6, 7)]


@pytest.mark.parametrize("name", ["max-wait-cap", "early-flush-max-messages", "interleaved-conversations"])
def test_the_simulation_cuts_a_replay_fixture_into_the_bursts_it_expects(name: str) -> None:
    path = REPO / "fixtures" / f"{name}.json"
    settings = load(path).settings
    trace = read_fixtures([path])
    policy = Policy(max_messages=settings.max_messages, ai_seconds=0.5)
    run = simulate(Candidate(settings.debounce_seconds, settings.max_wait_seconds), policy, inbound(trace), trace)
    assert Counter(len(a.messages) for a in run.answers) == Counter(len(b.messages) for b in load(path).bursts)


def test_the_thought_gap_is_the_break_between_short_and_long_pauses() -> None:
    trace = [TimedMessage("c", t) for t in (0, 1, 2.5, 3, 100, 101.5, 102, 400, 401)]
    assert gaps(trace)[:3] == [1, 1.5, 0.5]
    assert 1.5 < (thought_gap(gaps(trace)) or 0) < 97
    assert thought_gap([2.0, 2.0]) is None


def test_an_answer_is_too_early_when_the_next_message_follows_within_the_thought_gap() -> None:
    trace = [TimedMessage("c", T0), TimedMessage("c", T0 + 3), TimedMessage("c", T0 + 30)]
    messages, following = inbound(trace), next_message_at(trace)
    superseded = simulate(Candidate(1, 60), Policy(ai_seconds=5), messages, trace)
    sent = simulate(Candidate(1, 60), Policy(ai_seconds=1), messages, trace)
    patient = simulate(Candidate(5, 60), Policy(ai_seconds=1), messages, trace)

    # a 1 s window cuts the 3 s pause: its answer is superseded (slow AI) or leaves (fast AI); both are early
    assert outcome(superseded, trace, following, 10, 0).early_superseded == 1
    assert outcome(sent, trace, following, 10, 0).early_sent == 1
    # a 5 s window waits for it; the 27 s pause is a new thought, past the 10 s thought gap
    scored = outcome(patient, trace, following, 10, 0)
    assert (scored.early, scored.ai_calls, scored.answers, scored.unanswered) == (0, 2, 2, 0)


def test_the_grid_keeps_the_terraform_validations() -> None:
    assert grid([0, 5, 20, 4000], [10, 90_000]) == [Candidate(5, 10)]


def test_jsonl_lines_are_read_and_a_bad_one_is_named(tmp_path: Path) -> None:
    trace = read_jsonl(EXAMPLE)
    assert {g.label() for g in groups(trace)} == {
        "channel generic",
        "tenant clinic (whatsapp)",
        "tenant shop (telegram)",
    }
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"conversation": "a", "timestamp": 1}\n\n{"conversation": "a", "timestamp": "soon"}\n')
    with pytest.raises(TraceError, match=r"bad.jsonl:3: .*timestamp"):
        read_jsonl(bad)


def test_untenanted_channels_also_form_the_deployments_group() -> None:
    trace = [TimedMessage("a", 1, channel="whatsapp"), TimedMessage("b", 2, channel="telegram")]
    assert list(groups(trace)) == [Group(None, None), Group(None, "telegram"), Group(None, "whatsapp")]


def test_tune_prints_json_and_the_terraform_lines_and_says_by_its_status_whether_every_group_got_a_window(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    small = ["--debounce", "1,3,6,10", "--max-wait", "30,60"]
    assert main(["tune", "--from", str(EXAMPLE), *small, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [g["tenant"] for g in report["groups"]] == [None, "clinic", "shop"]
    assert all(g["recommended"] is not None for g in report["groups"])
    assert report["terraform"][0].startswith("debounce_seconds = ")
    assert any(line.startswith("settings = { debounce_seconds = ") for line in report["terraform"])

    assert main(["tune", "--from", str(EXAMPLE), "--debounce", "1", "--max-wait", "30", "--max-early", "0"]) == 1
    assert "no candidate keeps bursts answered too early within 0%" in capsys.readouterr().out

    missing = tmp_path / "missing.jsonl"
    assert main(["tune", "--from", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "missing.jsonl" in captured.err
    with pytest.raises(SystemExit) as usage:
        main(["tune", "--from", str(EXAMPLE), "--debounce", "0"])
    assert usage.value.code == 2


def test_the_html_report_is_one_self_contained_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "tune.html"
    assert main(["tune", "--from", str(EXAMPLE), "--debounce", "2,4,8", "--max-wait", "60", "--html", str(page)]) == 0
    text = page.read_text()
    assert text.count("Plotly.newPlot") == 6  # the curve and the histogram of each of the three groups
    assert '<script src="http' not in text and "window" in text
    assert capsys.readouterr().out.count("recommended:") == 3
