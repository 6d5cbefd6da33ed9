"""Each function's cold start loads only what its own path uses: facts about sys.modules, not timings (make bench).

Each handler is imported in a fresh interpreter, in the environment Lambda gives it (bench.artifacts.LAMBDA_ENV),
and the modules it must not have loaded are named with the reason they stay out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.artifacts import LAMBDA_ENV

ROOT = Path(__file__).resolve().parents[2]

# The AI runs in process_message, after the claim; media is read there too.
_AI_AND_MEDIA = (
    "debouncer.adapters.ai_echo",
    "debouncer.adapters.ai_bedrock",
    "debouncer.adapters.ai_openai",
    "debouncer.domain.prompt",
    "debouncer.usecases.processing",
    "debouncer.media.limits",
    "debouncer.media.resolve",
    "debouncer.adapters.media_sources",
    "debouncer.adapters.s3",
    "debouncer.adapters.transcribers",
)
# Only the reply function (and process_message's typing presence) sends anything to a channel.
_SENDING = ("httpx", "debouncer.usecases.replying", "debouncer.adapters.senders", "debouncer.adapters.outbox")
# The routes, the channels' normalizers and their JSON Schema validation belong to post_message alone.
_ROUTES = ("debouncer.api", "debouncer.channels", "debouncer.schemas", "jsonschema", "referencing")
# Clients come from botocore: boto3's import loads s3transfer and the resource layer, which no function uses (the
# transcriber's S3 and Transcribe clients, on process_message's media path, are boto3's).
_BOTO3 = ("boto3", "s3transfer")
# A deployment without tenants (TENANTS_ENABLED unset, as in LAMBDA_ENV) never reads the tenants' catalog.
_TENANTS = ("debouncer.tenants", "debouncer.adapters.tenant_catalog")

NOT_LOADED = {
    # The admin API is rare: its request models are built on its first request.
    "post_message": (
        *_AI_AND_MEDIA,
        *_SENDING,
        *_TENANTS,
        *_BOTO3,
        "debouncer.api.admin_requests",
        "debouncer.usecases.redrive",
    ),
    "process_message": (*_ROUTES, *_TENANTS, *_BOTO3, "debouncer.usecases.replying", "debouncer.usecases.redrive"),
    "reply": (*_ROUTES, *_TENANTS, *_BOTO3, "debouncer.usecases.processing", "debouncer.adapters.ai_echo"),
}

_LIST_MODULES = "import json, sys; sys.path[:0] = sys.argv[1:]; import handler; print(json.dumps(sorted(sys.modules)))"


def _modules_after_import(function: str) -> set[str]:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LAMBDA_ENV, "AWS_LAMBDA_FUNCTION_NAME": function}
    proc = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, str(ROOT / "lambda" / function), str(ROOT / "src")],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, f"importing {function}'s handler failed:\n{proc.stderr[-3000:]}"
    return set(json.loads(proc.stdout.splitlines()[-1]))


@pytest.mark.parametrize("function", sorted(NOT_LOADED))
def test_a_cold_start_loads_none_of_what_its_path_does_not_use(function: str) -> None:
    modules = _modules_after_import(function)
    assert "debouncer.wiring" in modules  # the check would pass vacuously on a handler that imported nothing
    loaded = sorted(m for m in modules if any(m == name or m.startswith(f"{name}.") for name in NOT_LOADED[function]))
    assert not loaded, f"{function}'s cold start loads {loaded}: import them where they are used"
