"""`debouncer serve` refuses a setting it cannot run with in one line that says what to change, and exits 2."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.e2e.conftest import run_debouncer, user_environment

pytestmark = pytest.mark.xdist_group("e2e-serve-errors")


def _serve(port: int, **environment: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in user_environment().items() if not k.startswith(("OPENAI_", "BEDROCK_"))}
    return run_debouncer("serve", "--host", "127.0.0.1", "--port", str(port), env=inherited | environment)


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
