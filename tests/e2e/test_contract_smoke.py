"""tools/contract_smoke.py (what `make contract-smoke` runs) against the real local server, so it cannot rot."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO, Server, user_environment

pytestmark = pytest.mark.xdist_group("e2e")

SMOKE = REPO / "tools" / "contract_smoke.py"


def run_smoke(base_url: str) -> subprocess.CompletedProcess[str]:
    """The smoke test as a user runs it: its own interpreter, the server's (default) secrets, BASE_URL."""
    return subprocess.run(
        [sys.executable, str(SMOKE), base_url],
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_channel_burst_is_answered_once_in_order(server: Server) -> None:
    # GIVEN the e2e server (1 s debounce, the echo AI, the documented local secrets)
    # WHEN the smoke test posts a signed two-message burst on WhatsApp, Telegram, Instagram and the generic channel
    result = run_smoke(server.base)
    # THEN it passes: one reply per burst, covering both ids in order
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{server.log_tail()}"
    assert result.stdout.startswith("contract smoke: PASS: whatsapp, telegram, instagram, generic"), result.stdout


def test_no_server_is_one_line_reason_and_a_nonzero_exit() -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        result = run_smoke(f"http://127.0.0.1:{sock.getsockname()[1]}")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("contract smoke: ERROR: no local server answers at http://127.0.0.1:"), lines
