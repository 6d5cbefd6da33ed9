"""`debouncer serve` refuses a setting it cannot run with in one line that says what to change, and exits 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO, SCRUBBED

pytestmark = pytest.mark.xdist_group("e2e-serve-errors")


def _serve(port: int, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith(("OPENAI_", "BEDROCK_"))}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "debouncer.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("provider", "needs"), [("openai", "OPENAI_MODEL"), ("bedrock", "BEDROCK_MODEL_ID")])
def test_an_ai_provider_without_its_model_is_one_line_naming_the_setting(provider: str, needs: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the refusal must come before listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _serve(port, AI_PROVIDER=provider)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: AI_PROVIDER={provider} needs ") and needs in line, line
    assert "AI_PROVIDER=echo" in line, line


def test_a_busy_port_is_one_line_saying_to_set_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _serve(port, AI_PROVIDER="echo")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"error: port {port} is in use; set PORT=… (or stop the other server)"]
