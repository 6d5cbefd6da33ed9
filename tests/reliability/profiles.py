"""Profiles of the reliability suite: "fast" (the default, what `make test` runs) and "heavy" (`make soak`).

RELIABILITY_PROFILE picks one. RELIABILITY_SEED replays a run: the fast profile uses a fixed seed, the heavy one a
fresh seed every run; either way the seed is printed with every run (the "reliability runs" summary) and every
failure. RELIABILITY_SEEDS=N runs each reliability test N times, each with a seed of its own (`make soak`: 3).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from tests.reliability.senders import Pacing
from tests.reliability.workload import Shape


@dataclass(frozen=True)
class Profile:
    """How much load, and how long each phase may take before the run counts as failed."""

    name: str
    shape: Shape
    pacing: Pacing
    senders: int
    send_seconds: float
    settle_seconds: float
    seed: int | None


PROFILES = {
    # The emulator serves every AWS call under one lock (moto is not thread-safe), a few dozen a second on a loaded
    # two-core machine: the profiles pace conversations under that, since a saturated emulator answers a post in
    # seconds and replies a minute late, and nothing bounded by max wait (superseding, the starvation bound) can be
    # exercised or checked any more. Both start about 0.67 conversations a second, spread over the ramp.
    #
    # About 45 conversations, 65 bursts and 300 messages per test (about 15 follow-ups), 80-90 s each: sized so make
    # test stays under ten minutes on two cores; make soak runs the heavy profile.
    "fast": Profile(
        "fast",
        Shape(conversations=45),
        Pacing(ramp=67.5),
        senders=16,
        send_seconds=300.0,
        settle_seconds=150.0,
        seed=20_250_601,
    ),
    # About 300 conversations, 510 bursts and 2,600 messages per test (80 follow-ups), at the same pace: ~10 min
    # each, the four runs ~20 min on two cores (make soak's -n 2).
    "heavy": Profile(
        "heavy",
        Shape(conversations=300, another_burst=0.35, max_bursts=4),
        Pacing(ramp=540.0),
        senders=16,
        send_seconds=720.0,
        settle_seconds=180.0,
        seed=None,
    ),
}

# The Step Functions workflow types the suite runs under (LocalRuntime's WORKFLOW_TYPE); narrow it to one with
# RELIABILITY_WORKFLOW_TYPES=EXPRESS, say.
WORKFLOW_TYPES = tuple(os.environ.get("RELIABILITY_WORKFLOW_TYPES", "STANDARD,EXPRESS").split(","))
# Share of Express executions the emulator runs twice under the same ARN (AWS runs Express at least once).
EXPRESS_DUPLICATE_RATE = "0.1"


def profile() -> Profile:
    """The profile chosen by RELIABILITY_PROFILE."""
    return PROFILES[os.environ.get("RELIABILITY_PROFILE", "fast")]


def seed_rounds() -> int:
    """RELIABILITY_SEEDS: how many seeds each reliability test runs with (1 by default)."""
    rounds = int(os.environ.get("RELIABILITY_SEEDS") or "1")
    if rounds < 1:
        raise ValueError(f"RELIABILITY_SEEDS must be a whole number >= 1, not {rounds}")
    return rounds


def seed(offset: int, seed_round: int = 0) -> int:
    """RELIABILITY_SEED if set, else the profile's fixed seed (+ offset per test, + 100 per round), else a fresh one."""
    chosen = os.environ.get("RELIABILITY_SEED")
    if chosen:
        return int(chosen)
    fixed = profile().seed
    return fixed + offset + 100 * seed_round if fixed is not None else random.SystemRandom().randrange(2**31)
