"""Per-message cost against the number of tenants configured: 0 (a single bot), 10 and 1,000.

The same traffic each time, WhatsApp messages to the same 20 numbers (each a tenant when there are tenants, unknown
numbers when there are none), posted one after another through post_message on the local runtime. A first round
builds each number's use case (once per execution environment, as on AWS); the rounds after it are measured: the
webhook handler's time outside the emulated AWS calls, and the AWS calls it makes per message. A tenant is found by
a dictionary lookup in a catalog read once a minute, so neither should grow with the number of tenants.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests import builders

from bench.meter import Meter
from debouncer.local.runtime import LocalRuntime

TENANT_COUNTS = (0, 10, 1000)
NUMBERS = 20


@dataclass(frozen=True)
class TenantFigures:
    """post_message, per message, with this many tenants configured."""

    tenants: int
    messages: int
    own_ms_p50: float
    calls_per_message: float


def _number(i: int) -> str:
    return f"10654020{i:07d}"


def _tenants_file(directory: Path, count: int) -> Path:
    document = {
        "tenants": [
            {"id": f"t{i}", "channel": "whatsapp", "account": _number(i), "settings": {"debounce_seconds": 1}}
            for i in range(count)
        ]
    }
    path = directory / f"tenants-{count}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _measure(count: int, rounds: int, directory: Path) -> TenantFigures:
    environment = {"DEBOUNCE_SECONDS": "1", "MAX_WAIT_SECONDS": "3", "WORKFLOW_TYPE": "STANDARD"}
    if count:
        environment["TENANTS_FILE"] = str(_tenants_file(directory, count))
    runtime = LocalRuntime(environment, name=f"bench-tenants-{uuid.uuid4().hex[:6]}").start()
    meter = Meter(runtime).install()
    try:
        # Traffic to numbers spread over the whole catalog: the first 20 tenants would flatter a list scan.
        numbers = [_number(i * max(1, count // NUMBERS)) for i in range(NUMBERS)]
        measured_from = 0
        for round_ in range(rounds + 1):
            if round_ == 1:
                measured_from = len(meter.invocations)
                calls_before = len([c for c in meter.calls if c.caller == "post_message"])
            for n, number in enumerate(numbers):
                user = f"1555{n:07d}"
                payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{uuid.uuid4().hex}", "hi"))
                payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number
                raw = builders.body(payload)
                status, _, body = runtime.http(
                    "POST", "/webhook/whatsapp", body=raw, headers=builders.sign("whatsapp", raw)
                )
                if status != 200:
                    raise RuntimeError(f"tenants bench: webhook answered {status}: {body!r}")
        runs = [v for v in meter.invocations[measured_from:] if v.function == "post_message"]
        calls = len([c for c in meter.calls if c.caller == "post_message"]) - calls_before
        runtime.stop_executions()
    finally:
        runtime.stop()
    return TenantFigures(
        tenants=count,
        messages=len(runs),
        own_ms_p50=statistics.median(v.own_seconds for v in runs) * 1000,
        calls_per_message=calls / len(runs),
    )


def run(rounds: int, progress: Callable[[str], None]) -> list[TenantFigures]:
    """Each tenant count in turn, on a runtime of its own."""
    with tempfile.TemporaryDirectory() as directory:
        figures = []
        for count in TENANT_COUNTS:
            figures.append(_measure(count, rounds, Path(directory)))
            progress(f"tenants: {count} configured, post_message {figures[-1].own_ms_p50:.2f} ms own time p50")
        return figures
