"""Cold starts per function in the pipeline run: the execution environments each function created, and the init
duration of each (what Lambda's REPORT line calls "Init Duration"), as the local runtime's environments timed them."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from bench.pipeline import PipelineRun
from bench.report import Report, Row
from debouncer.local.runtime import FUNCTIONS


def rows(stats: Mapping[str, Mapping[str, Any]]) -> list[Row]:
    """Environments created, and their init durations' median and max, per function (Lambda.stats() of each)."""
    section = "cold starts: execution environments per function, pipeline run (ours; init as Lambda's Init Duration)"
    found: list[Row] = []
    for name in FUNCTIONS:
        function = stats.get(name)
        if function is None:
            continue
        init_ms: list[float] = list(function["init_ms"])
        found += [
            Row(section, f"{name}: environments created (cold starts)", "envs", function["environments_created"]),
            Row(section, f"  {name}: init duration p50", "ms", statistics.median(init_ms) if init_ms else None),
            Row(section, f"  {name}: init duration max", "ms", max(init_ms) if init_ms else None),
            Row(section, f"  {name}: invocations per environment", "inv/env", _per_environment(function)),
        ]
    return found


def add_to(report: Report, run: PipelineRun) -> None:
    """Add the pipeline run's cold-start rows and their note to the report."""
    report.rows += rows(run.meter.runtime.emulator.lambda_stats())
    report.notes.append(
        "Cold starts: each function's environments are threads of one process (debouncer.local.environments), one "
        "warmed at start and more created whenever every environment is busy. An environment's init runs its own "
        "copy of the handler module (wiring, clients); the libraries it imports are loaded once per process, so the "
        "first environment to import one pays for it (the max) and later ones do not, and inits created together "
        "share two cores. The zip's cold import is measured apart (artifacts)."
    )


def _per_environment(function: Mapping[str, Any]) -> float | None:
    created = int(function["environments_created"])
    return int(function["invocations"]) / created if created else None
