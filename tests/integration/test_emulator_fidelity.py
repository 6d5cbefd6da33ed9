"""Where moto differs from AWS in what our definition reads, the emulator writes what AWS writes."""

from __future__ import annotations

import datetime as real_datetime
import types
import uuid

import pytest
from moto.stepfunctions.parser.asl.component.state import state as state_module

from debouncer.local.emulator import aws_timestamp
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for


@pytest.mark.parametrize(
    ("moto_wrote", "aws_writes"),
    [
        ("2026-11-22T09:25:37.123456+00:00", "2026-11-22T09:25:37.123Z"),
        ("2026-11-22T09:25:37+00:00", "2026-11-22T09:25:37.000Z"),  # isoformat() drops a zero fraction
        ("2026-11-22T10:25:37.000999+01:00", "2026-11-22T09:25:37.000Z"),
    ],
)
def test_entered_time_has_the_aws_format(moto_wrote: str, aws_writes: str) -> None:
    assert aws_timestamp(moto_wrote) == aws_writes


def test_a_state_entered_on_a_whole_second_still_routes(
    start_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN every state entered at a whole second (moto then writes EnteredTime without a fraction)
    class WholeSeconds(real_datetime.datetime):
        @classmethod
        def now(cls, tz: real_datetime.tzinfo | None = None) -> WholeSeconds:
            return super().now(tz).replace(microsecond=0)

    shim = types.SimpleNamespace(datetime=WholeSeconds, timezone=real_datetime.timezone)
    monkeypatch.setattr(state_module, "datetime", shim)
    runtime = start_runtime()
    user = "1555" + uuid.uuid4().hex[:8]

    # WHEN a burst goes through ReadBuffer's "now" and Route's timestamp comparisons
    status, body = post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}", "hi")))
    assert status == 200, body

    # THEN it is answered, and no execution failed on an unparsable "now"
    wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime))
    assert [e["status"] for e in runtime.executions()] == ["SUCCEEDED"]
