"""`debouncer replay` end to end: the shipped fixtures against a real `debouncer serve`, both in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, SCRUBBED, Server

pytestmark = pytest.mark.xdist_group("e2e")

FIXTURES = sorted((REPO / "fixtures").glob("*.json"))
REPLAY_TIMEOUT = 120.0


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `debouncer replay ARGS` the way a developer does, with the local development secrets."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    return subprocess.run(
        [sys.executable, "-m", "debouncer.cli", "replay", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=REPLAY_TIMEOUT,
        check=False,
    )


def expectations(path: Path) -> list[str]:
    """The names of a fixture's expected bursts and silences, in its order: one PASS/FAIL line each."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return [b["burst"] for b in document["expect"]] + [s["name"] for s in document.get("no_reply", [])]


def explain(result: subprocess.CompletedProcess[str], server: Server) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}\n--- server log ---\n{server.log_tail()}"


def test_every_shipped_fixture_passes_against_a_server_with_their_settings(replay_server: Server) -> None:
    result = replay(*(str(p.relative_to(REPO)) for p in FIXTURES), "--endpoint", replay_server.base)

    assert result.returncode == 0, explain(result, replay_server)
    lines = result.stdout.splitlines()
    wanted = [f"PASS {path.stem}: {name}" for path in FIXTURES for name in expectations(path)]
    assert [line for line in lines if line.startswith(("PASS", "FAIL"))] == wanted, explain(result, replay_server)
    assert lines[-1] == f"{len(wanted)} passed, 0 failed in {len(FIXTURES)} fixtures"


def test_an_altered_expectation_fails_and_names_its_burst(replay_server: Server, tmp_path: Path) -> None:
    source = REPO / "fixtures" / "telegram-burst.json"
    document = json.loads(source.read_text(encoding="utf-8"))
    burst = document["expect"][0]
    assert burst["messages"][1] == "can I change"
    burst["messages"][1] = "can I cancel"
    altered = tmp_path / source.name
    altered.write_text(json.dumps(document, indent=2), encoding="utf-8")

    result = replay(str(altered), "--endpoint", replay_server.base)

    assert result.returncode == 1, explain(result, replay_server)
    [line] = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert line.startswith(f'FAIL telegram-burst: {burst["burst"]}: texts missing: "can I cancel"'), line
    assert result.stdout.splitlines()[-1] == "0 passed, 1 failed in 1 fixture"


def test_a_server_with_other_settings_is_refused_before_anything_is_sent(mismatched_server: Server) -> None:
    other = mismatched_server
    result = replay(*(str(p.relative_to(REPO)) for p in FIXTURES), "--endpoint", other.base)

    assert result.returncode == 2, explain(result, other)
    assert "settings mismatch" in result.stderr
    assert "fixtures/whatsapp-burst.json assumes debounce_seconds=2 (server: 1); max_wait_seconds=6 (server: 4)" in (
        result.stderr
    )
    assert "DEBOUNCE_SECONDS=2 MAX_WAIT_SECONDS=6 MAX_MESSAGES=10 make run" in result.stderr
    assert result.stdout == ""
    assert other.outbox() == [], "nothing was posted"
