"""Fixtures of the reliability suite (its profiles and seeds live in tests.reliability.profiles)."""

from __future__ import annotations

import pytest


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
