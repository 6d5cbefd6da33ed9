"""Fuzzing fixtures: the Hypothesis profiles, and one LocalRuntime per test module.

Profiles: "fast" (the default, what `make test` runs: reproducible, well under a minute) and "soak"
(HYPOTHESIS_PROFILE=soak: thousands of examples per property, fresh randomness on every run).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

from debouncer.local.runtime import LocalRuntime
from tests.fuzz.harness import Target

# deadline=None: one example is a whole request through the handler and the emulator, whose latency varies with
# machine load; a timing threshold would make the suite flaky without finding bugs.
settings.register_profile("fast", max_examples=60, deadline=None, derandomize=True, database=None)
settings.register_profile("soak", max_examples=3_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

# A debounce far longer than the module: no execution leaves its Wait while the fuzzer counts what is stored.
# No accepted example flushes a burst either (a flush claims it at once): no flush keywords, MAX_MESSAGES and
# MAX_BUFFER_BYTES at their ceilings, which one POST cannot reach (webhook.MAX_POST_BYTES_PER_CONVERSATION is less).
FUZZ_ENV = {
    "DEBOUNCE_SECONDS": "300",
    "MAX_WAIT_SECONDS": "600",
    "MAX_MESSAGES": "95",
    "MAX_BUFFER_BYTES": str(256 * 1024),
    "FLUSH_KEYWORDS": "",
}


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    """The real handlers on in-process moto, started once per module (about a second) and shared by its examples."""
    runtime = LocalRuntime(FUZZ_ENV, name=f"fuzz-{uuid.uuid4().hex[:8]}").start()
    try:
        fuzz_target = Target(runtime)
        yield fuzz_target
        fuzz_target.stop_executions()
    finally:
        runtime.stop()
