"""Fixtures of the reliability suite (its profiles and seeds live in tests.reliability.profiles)."""

from __future__ import annotations

import pytest

from tests.reliability.profiles import seed_rounds


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test taking `seed_round` once per seed: RELIABILITY_SEEDS rounds (ids seed0, seed1, ...)."""
    if "seed_round" in metafunc.fixturenames:
        rounds = range(seed_rounds())
        metafunc.parametrize("seed_round", rounds, ids=[f"seed{r}" for r in rounds])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per reliability run, passed or failed: counts, seed and timings (also from xdist workers)."""
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == "reliability"
    ]
    if lines:
        terminalreporter.section("reliability runs")
        for line in lines:
            terminalreporter.line(line)
