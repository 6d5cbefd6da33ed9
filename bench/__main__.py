"""`make bench`: one table of measured figures for our design (Standard and Express) against the naive baseline.

Stages, each bounded in time and count:
1. webhook acknowledgement over HTTP, 16 concurrent senders (bench.ack);
2. Lambda artifacts: zip sizes, cold import times (bench.artifacts);
3. bursts of 1, 4 and 10 through both designs on one emulator: AWS calls, capacity units, state transitions,
   execution durations, Lambda durations, reply lateness (bench.pipeline, bench.figures);
4. the latency one media item adds to process_message (bench.media);
5. double texting with SUPERSEDE_STALE_ANSWERS on and off: the AI calls superseded answers cost, replies per
   conversation, time to the reply (bench.supersede);
6. per-message cost of post_message with 0, 10 and 1,000 tenants configured (bench.tenants);
then the cost of a million messages at list prices (bench.prices), the table, and build/bench.json.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import ack, artifacts, cold_starts, media, pipeline, prices, supersede, tenants
from bench.figures import BurstFigures, Cost, LambdaConfig, cost_per_million, lambda_config, summarize
from bench.pipeline import percentile
from bench.report import Report, Row, Target

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "build" / "bench.json"
SENDERS = 16
SATURATED_REQUESTS, SATURATED_S, PACED_S, PACED_INTERVAL_S = 2000, 12.0, 8.0, 1.0
DEBOUNCE_S, MAX_WAIT_S, GAP_S, BURSTS_PER_SIZE = 10, 60, 0.3, 4
IMPORT_RUNS = 5
MEDIA_BURSTS = 6
# Double texting: conversations per mode (both modes run one after the other), the AI's fixed think time, the window.
SUPERSEDE_CONVERSATIONS, THINK_S, SUPERSEDE_DEBOUNCE_S = 40, 2.0, 2
TENANT_ROUNDS = 3  # measured rounds of 20 messages per tenant count, after one that builds each number's use case


def log(message: str) -> None:
    """Progress, on stderr: stdout carries the table."""
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    """Run every stage, print the table, write build/bench.json."""
    began = time.monotonic()
    load_before = os.getloadavg()
    loads = {
        (r.design, r.mode): r
        for r in ack.run_all(
            senders=SENDERS,
            saturated_requests=SATURATED_REQUESTS,
            saturated_seconds=SATURATED_S,
            paced_seconds=PACED_S,
            interval=PACED_INTERVAL_S,
            progress=sys.stderr,
        )
    }
    built = artifacts.measure(runs=IMPORT_RUNS)
    run = pipeline.run(
        debounce_seconds=DEBOUNCE_S,
        max_wait_seconds=MAX_WAIT_S,
        bursts_per_size=BURSTS_PER_SIZE,
        gap_seconds=GAP_S,
        progress=log,
    )
    log(f"pipeline: done in {run.elapsed_seconds:.0f} s")
    config = lambda_config()
    figures = {(d, s): summarize(run, d, s) for d in pipeline.DESIGNS for s in pipeline.SIZES}
    costs = {
        (mode, s): cost_per_million(figures["ours", s], mode, config)
        for mode in ("standard", "express")
        for s in pipeline.SIZES
    }
    costs |= {("naive", s): cost_per_million(figures["naive", s], "standard", config) for s in pipeline.SIZES}
    report = build_report(loads, built, run, figures, costs, config)
    cold_starts.add_to(report, run)
    photo = media.run(MEDIA_BURSTS, progress=log)
    section = f"media: process_message, generic bursts of one message, {media.PHOTO_BYTES // 1024} KiB photo, echo AI"
    report.rows += [
        Row(section, "process_message p50, text only", "ms", photo.without_ms),
        Row(section, "process_message p50, the same with one photo", "ms", photo.with_ms),
        Row(section, "  latency one media item adds, p50 (download, store, read back)", "ms", photo.added_ms),
        Row(section, "  of which outside the emulated AWS calls", "ms", photo.with_own_ms - photo.without_own_ms),
    ]
    doubled = supersede.run(
        conversations=SUPERSEDE_CONVERSATIONS,
        think_seconds=THINK_S,
        debounce_seconds=SUPERSEDE_DEBOUNCE_S,
        progress=log,
    )
    supersede.add_to(report, doubled)
    by_count = {f.tenants: f for f in tenants.run(TENANT_ROUNDS, progress=log)}
    section = f"tenants: post_message per message, {tenants.NUMBERS} WhatsApp numbers, by tenants configured"
    for count, figures in by_count.items():
        report.rows += [
            Row(section, f"own time p50, {count} tenants ({figures.messages} messages)", "ms", figures.own_ms_p50),
            Row(section, f"  AWS calls per message, {count} tenants", "calls/msg", figures.calls_per_message),
        ]
    largest, none = by_count[max(by_count)], by_count[0]
    report.rows.append(
        Row(section, f"own time, {largest.tenants} tenants / none", "x", largest.own_ms_p50 / none.own_ms_p50)
    )
    report.notes.append(
        f"Machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before and {os.getloadavg()[0]:.2f} after "
        f"(other work shares it); Python {platform.python_version()}; whole run {time.monotonic() - began:.0f} s."
    )
    report.write_json(OUTPUT)
    print(report.render())
    print(f"\n(also written to {OUTPUT.relative_to(REPO)})")
    return 0


def build_report(
    loads: dict[tuple[str, str], ack.LoadResult],
    built: list[artifacts.ArtifactFigures],
    run: pipeline.PipelineRun,
    figures: dict[tuple[str, int], BurstFigures],
    costs: dict[tuple[str, int], Cost],
    config: LambdaConfig,
) -> Report:
    """Rows, targets and notes from everything measured."""
    ours, naive = figures["ours", 4], figures["naive", 4]
    report = Report(
        f"chat-debouncer benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC): ours vs the naive stop-and-restart "
        f"design, measured on the local runtime (moto in-process)"
    )
    rows = report.rows

    section = f"webhook acknowledgement: local HTTP server, {SENDERS} concurrent senders"
    sat_o, sat_n = loads["ours", "saturated"], loads["naive", "saturated"]
    paced_o, paced_n = loads["ours", "paced"], loads["naive", "paced"]
    rows += [
        Row(
            section,
            "ack latency p50, saturated (each sender posts again when answered)",
            "ms",
            sat_o.p50_ms,
            sat_n.p50_ms,
        ),
        Row(section, "ack latency p99, saturated", "ms", sat_o.p99_ms, sat_n.p99_ms),
        Row(
            section,
            "accepted messages per second, saturated",
            "msg/s",
            sat_o.accepted_per_second,
            sat_n.accepted_per_second,
        ),
        Row(
            section,
            f"ack latency p50, paced (each sender 1 msg every {PACED_INTERVAL_S:g} s)",
            "ms",
            paced_o.p50_ms,
            paced_n.p50_ms,
        ),
        Row(section, "ack latency p99, paced", "ms", paced_o.p99_ms, paced_n.p99_ms),
        Row(section, "  p50, paced, messages opening a burst", "ms", paced_o.opening_p50_ms, paced_n.opening_p50_ms),
        Row(section, "  p50, paced, later messages of a burst", "ms", paced_o.later_p50_ms, paced_n.later_p50_ms),
    ]
    webhook = {d: [ms for s in pipeline.SIZES for ms in figures[d, s].webhook_ms] for d in pipeline.DESIGNS}
    own = {d: [ms for s in pipeline.SIZES for ms in figures[d, s].webhook_own_ms] for d in pipeline.DESIGNS}
    rows += [
        Row(
            section,
            "webhook handler time p50, in-process (pipeline run)",
            "ms",
            _median(webhook["ours"]),
            _median(webhook["naive"]),
        ),
        Row(
            section, "  of which outside the emulated AWS calls, p50", "ms", _median(own["ours"]), _median(own["naive"])
        ),
    ]

    section = "AWS API calls per message (botocore requests counted by the emulator)"
    for service, label in (
        ("dynamodb", "DynamoDB"),
        ("states", "Step Functions API (Start/StopExecution)"),
        ("lambda", "Lambda Invoke (by the state machine)"),
        ("sqs", "SQS"),
    ):
        rows.append(
            Row(
                section,
                f"{label}, bursts of 4",
                "calls/msg",
                ours.calls_per_message[service],
                naive.calls_per_message[service],
            )
        )
    for size in pipeline.SIZES:
        rows.append(
            Row(
                section,
                f"all services, bursts of {size}",
                "calls/msg",
                figures["ours", size].calls_total_per_message,
                figures["naive", size].calls_total_per_message,
            )
        )
    rows.append(
        Row(
            section,
            "webhook path only (post_message), bursts of 4",
            "calls/msg",
            ours.webhook_calls_per_message,
            naive.webhook_calls_per_message,
        )
    )

    section = "DynamoDB capacity per message (from item sizes, see notes)"
    for size in pipeline.SIZES:
        o, n = figures["ours", size], figures["naive", size]
        rows.append(
            Row(section, f"write request units, bursts of {size}", "WRU/msg", o.wru_per_message, n.wru_per_message)
        )
    for size in pipeline.SIZES:
        o, n = figures["ours", size], figures["naive", size]
        rows.append(
            Row(section, f"read request units, bursts of {size}", "RRU/msg", o.rru_per_message, n.rru_per_message)
        )

    section = "Step Functions per burst (execution histories)"
    for size in pipeline.SIZES:
        o, n = figures["ours", size], figures["naive", size]
        rows.append(
            Row(
                section,
                f"state transitions, burst of {size}",
                "transitions",
                o.transitions_per_burst,
                n.transitions_per_burst,
            )
        )
    rows += [
        Row(section, "executions, burst of 4", "executions", ours.executions_per_burst, naive.executions_per_burst),
        Row(
            section,
            f"execution time, burst of 4 ({DEBOUNCE_S} s window, all executions)",
            "s/burst",
            sum(ours.execution_seconds) / ours.bursts,
            sum(naive.execution_seconds) / naive.bursts,
        ),
    ]

    section = f"cost of 1 million messages, AWS list prices ({prices.REGION}, {prices.AS_OF})"
    for size in pipeline.SIZES:
        rows.append(
            Row(
                section,
                f"bursts of {size} ({DEBOUNCE_S} s window)",
                "$",
                costs["standard", size].total,
                costs["naive", size].total,
                express=costs["express", size].total,
                same_in_express=False,
            )
        )

    section = "reply lateness vs ideal deadline min(last + debounce, first + max_wait), all bursts"
    late = {d: [x for s in pipeline.SIZES for x in figures[d, s].lateness_seconds] for d in pipeline.DESIGNS}
    sent = {d: sum(figures[d, s].messages for s in pipeline.SIZES) for d in pipeline.DESIGNS}
    once = {d: sum(figures[d, s].answered_once for s in pipeline.SIZES) for d in pipeline.DESIGNS}
    rows += [
        Row(section, "p50", "s", percentile(late["ours"], 50), percentile(late["naive"], 50)),
        Row(section, "p99", "s", percentile(late["ours"], 99), percentile(late["naive"], 99)),
        Row(
            section,
            "messages answered exactly once",
            "%",
            100 * once["ours"] / sent["ours"],
            100 * once["naive"] / sent["naive"],
        ),
    ]

    section = "Lambda artifacts (python3.13 zips with .pyc, imports timed by CPython 3.13; the baseline reuses them)"
    for a in built:
        rows.append(Row(section, f"{a.function} zip size", "MiB", a.zipped_bytes / 2**20))
    for a in built:
        rows.append(Row(section, f"{a.function} cold import, as deployed (cpython-313 .pyc)", "ms", a.deployed_ms))
        rows.append(Row(section, f"{a.function} cold import, source only (no .pyc)", "ms", a.source_only_ms))

    _targets(report, loads, built, figures, costs)
    _notes(report, loads, run, figures, costs, config, built)
    report.data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "debounce_seconds": DEBOUNCE_S,
            "max_wait_seconds": MAX_WAIT_S,
            "gap_seconds": GAP_S,
            "bursts_per_size": BURSTS_PER_SIZE,
            "senders": SENDERS,
            "paced_interval_seconds": PACED_INTERVAL_S,
            "import_runs": IMPORT_RUNS,
            "lambda_memory_mb": config.memory_mb,
            "lambda_architecture": config.architecture,
        },
        "prices": {
            name: {"dollars": p.dollars, "per": p.per, "unit": p.unit, "source": p.source, "as_of": prices.AS_OF}
            for name, p in prices.ALL.items()
        },
        "cost_components": {f"{mode}/bursts_of_{size}": c.components for (mode, size), c in costs.items()},
        "per_burst_size": {
            f"{d}/bursts_of_{s}": {
                "bursts": f.bursts,
                "messages": f.messages,
                "calls_per_message": f.calls_per_message,
                "actions_per_message": f.actions_per_message,
                "webhook_calls_per_message": f.webhook_calls_per_message,
                "wru_per_message": f.wru_per_message,
                "rru_per_message": f.rru_per_message,
                "transitions_per_burst": f.transitions_per_burst,
                "states_per_burst": f.states_per_burst,
                "executions_per_burst": f.executions_per_burst,
                "execution_seconds": f.execution_seconds,
                "invocations_per_burst": f.invocations_per_burst,
                "billed_seconds_per_invocation": f.billed_seconds_per_invocation,
                "lateness_seconds": f.lateness_seconds,
                "not_answered_once": f.not_answered_once,
            }
            for (d, s), f in figures.items()
        },
        "ack_loads": [
            {
                "design": r.design,
                "mode": r.mode,
                "requests": len(r.latencies_ms),
                "accepted": r.accepted,
                "failed": r.failed,
                "seconds": r.seconds,
                "failures": r.failures,
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
                "opening_p50_ms": r.opening_p50_ms,
                "later_p50_ms": r.later_p50_ms,
            }
            for r in loads.values()
        ],
        "artifacts": [
            {
                "function": a.function,
                "zipped_bytes": a.zipped_bytes,
                "unzipped_bytes": a.unzipped_bytes,
                "import_ms_deployed": a.import_ms_deployed,
                "import_ms_source_only": a.import_ms_source_only,
                "import_interpreter": a.interpreter,
                "top_imports_ms": a.top_imports,
                "top_self_ms": a.top_self,
                "top_imports_source_only_ms": a.top_imports_source_only,
                "top_self_source_only_ms": a.top_self_source_only,
                "handler_statements_ms": a.statements,
            }
            for a in built
        ],
    }
    return report


def _targets(
    report: Report,
    loads: dict[tuple[str, str], ack.LoadResult],
    built: list[artifacts.ArtifactFigures],
    figures: dict[tuple[str, int], BurstFigures],
    costs: dict[tuple[str, int], Cost],
) -> None:
    ours, naive = figures["ours", 4], figures["naive", 4]
    total = ours.calls_total_per_message / naive.calls_total_per_message
    webhook = ours.webhook_calls_per_message / naive.webhook_calls_per_message
    post = next(a for a in built if a.function == "post_message")
    express = costs["express", 4].total / costs["naive", 4].total
    standard = costs["standard", 4].total / costs["naive", 4].total
    report.targets += [
        Target(
            "AWS API calls per message at most 0.55x the naive design's (bursts of 4, whole pipeline)",
            f"{ours.calls_total_per_message:.2f} vs {naive.calls_total_per_message:.2f} = {total:.2f}x"
            f" (webhook path alone: {ours.webhook_calls_per_message:.2f} vs {naive.webhook_calls_per_message:.2f}"
            f" = {webhook:.2f}x){_missed_by(total, 0.55)}",
            total <= 0.55,
        ),
        Target(
            "a 4-message burst that sleeps twice enters 6 transitions (WaitForQuiet straight to Process)",
            f"{ours.transitions_per_burst:.1f} entered (naive: {naive.transitions_per_burst:.1f})",
            ours.transitions_per_burst <= 6 + 1e-9,
        ),
    ]
    for mode in ("saturated", "paced"):
        result = loads["ours", mode]
        report.targets.append(
            Target(
                f"webhook ack p99 under 50 ms locally at {SENDERS} concurrent senders ({mode})",
                f"p99 {result.p99_ms:.0f} ms, p50 {result.p50_ms:.0f} ms, {result.accepted_per_second:.0f} msg/s",
                result.p99_ms < 50,
            )
        )
    report.targets += [
        Target(
            f"post_message init under 300 ms as deployed ({post.interpreter})",
            f"{post.deployed_ms:.0f} ms as deployed (cpython-313 .pyc in the zip), {post.source_only_ms:.0f} ms source"
            f" only{_missed_by(post.deployed_ms / 300, 1.0)}",
            post.deployed_ms < 300,
        ),
        Target(
            f"Standard cost per million messages at most the naive design's (bursts of 4, {DEBOUNCE_S} s window)",
            f"${costs['standard', 4].total:.2f} vs ${costs['naive', 4].total:.2f} = {standard:.2f}x"
            f"{_missed_by(standard, 1.0)}",
            standard <= 1.0,
        ),
        Target(
            f"Express cost per million messages at most 0.2x the naive design's (bursts of 4, {DEBOUNCE_S} s window)",
            f"${costs['express', 4].total:.2f} vs ${costs['naive', 4].total:.2f} = {express:.2f}x"
            f"{_missed_by(express, 0.2)}",
            express <= 0.2,
        ),
    ]


def _missed_by(ratio: float, target: float) -> str:
    """', missed by N %' past the target (relative to it), else nothing."""
    return f"; missed by {100 * (ratio / target - 1):.0f} %" if ratio > target else ""


def _notes(
    report: Report,
    loads: dict[tuple[str, str], ack.LoadResult],
    run: pipeline.PipelineRun,
    figures: dict[tuple[str, int], BurstFigures],
    costs: dict[tuple[str, int], Cost],
    config: LambdaConfig,
    built: list[artifacts.ArtifactFigures],
) -> None:
    ours, naive = figures["ours", 4], figures["naive", 4]
    states = ", ".join(f"{name} {count:g}" for name, count in ours.states_per_burst.items())
    breakdown = "; ".join(
        f"{label}: " + ", ".join(f"{k} {v:.2f}" for k, v in costs[key, 4].components.items())
        for label, key in (("ours Standard", "standard"), ("ours Express", "express"), ("naive", "naive"))
    )
    memory = ", ".join(f"{k} {v} MB" for k, v in sorted(config.memory_mb.items()))
    after = {
        d: [x for size in pipeline.SIZES for x in figures[d, size].lateness_after_deadline] for d in pipeline.DESIGNS
    }
    report.notes += [
        f"Pipeline run: {len(run.bursts)} bursts, {BURSTS_PER_SIZE} per design and size, all concurrent on one"
        f" in-process moto, messages {GAP_S} s apart, debounce {DEBOUNCE_S} s (the production default),"
        f" max wait {MAX_WAIT_S} s."
        f" Per-message and per-burst figures average the bursts of that size. Answered in {run.elapsed_seconds:.0f} s;"
        f" {sum(1 for b in run.bursts for code in b.statuses if code != 200)} webhook answers were not 200.",
        "Naive baseline (bench/naive.py, bench/naive.asl.json): per message GetItem + PutItem of the buffer"
        " (read-modify-write), StopExecution of the previous execution, StartExecution of a new one that waits the"
        " whole window (Wait, Process, Reply); same routes, signature checks and normalizers, and the same"
        " process_message and reply code, so only the buffer write and the timer differ. It is Standard only:"
        " StopExecution is not supported on Express state machines.",
        "AWS API calls: every botocore request the code emitted, as the emulator dispatched it (the state machine's"
        " SDK integrations dynamodb:getItem and lambda:invoke included), attributed to its conversation from the"
        " request's own parameters. The webhook's HTTP request itself is API Gateway, priced below, not counted here."
        f" Cross-check: the meter saw {len(run.meter.calls)} pipeline requests, the emulator's own per-caller counter"
        f" {run.emulator_counted}; {run.unattributed} could not be tied to a conversation."
        f" Actions per message, bursts of 4: ours {_actions(ours)}; naive {_actions(naive)}.",
        "DynamoDB units: moto reports a constant ConsumedCapacity, so they are computed from each item's size before"
        " and after the request (read from moto under its lock): writes ceil(max(before, after) / 1 KB) WRU, at"
        " least 1, also when the condition fails; transactional writes x2; strongly consistent reads"
        " ceil(size / 4 KB) RRU, eventually consistent half. Sizes: names + values in UTF-8, numbers 1 byte per"
        " 2 digits + 1, lists/maps 3 + 1 per element. On-demand request units bill the same way.",
        f"State transitions: StateEntered events of each execution's history (GetExecutionHistory). Ours, burst of 4,"
        f" per burst: {states}. Needed: a burst needs one Wait, one read and one decision per sleep (a later message"
        " moved the deadline past the wake-up: sleep again), then Process and Reply: 3 x sleeps + 2. Anything more is"
        " overhead; Reply ends the execution, so nothing follows it on the answered path (a held reply lease and a"
        " failure leave Reply through its Catch). The naive design enters 1 state per stopped execution plus Wait,"
        " Process, Reply.",
        "Express: the same definition's executions, measured start to stop in this run (Wait included, so with the"
        f" {DEBOUNCE_S} s window), billed per execution rounded up to 100 ms at {prices.EXPRESS_MEMORY_MB} MB, first"
        " price tier, plus $1.00 per million requests. Standard: $0.025 per 1,000 transitions.",
        f"Cost components per million messages, bursts of 4 ($): {breakdown}. Lambda: requests, plus measured"
        f" in-process handler time (emulated AWS calls included) rounded up to 1 ms x memory ({memory},"
        f" {config.architecture}, variables.tf defaults). Not included: free tiers, CloudWatch Logs and X-Ray, storage,"
        " data transfer, the AI model, Lambda INIT of cold starts.",
        "Prices (" + prices.AS_OF + ", us-east-1, as published on the AWS pricing pages to the author's knowledge; no"
        " price API queried): " + "; ".join(map(str, prices.ALL.values())) + ".",
        "Webhook load: `debouncer serve` and `python -m bench.naive` as separate processes on 127.0.0.1, one keep-alive"
        " connection per sender (opened before the clock starts), signed WhatsApp messages four per conversation,"
        f" 32 warm-up requests not counted, saturated load bounded at {SATURATED_REQUESTS:,} requests or"
        f" {SATURATED_S:g} s, paced {PACED_S:g} s; debounce 1 h so no execution wakes during the load. Most of each"
        " request's time is the in-process moto (one lock for every emulated call): compare"
        " the in-process handler rows, where the part outside the emulated calls is our code and botocore. A message"
        " that opens a burst pays for moto's StartExecution, which parses the definition (ours is five times the"
        " naive one's size) and starts a thread per execution; both start with a Wait, and the emulator reuses one"
        " boto3 client per service for SDK tasks. Later messages of our design make one UpdateItem.",
        "Reply lateness: outbox sent_at minus min(time the last message was acknowledged + debounce, first + max wait)."
        " Ours rounds the quiet deadline up to the next whole second (Step Functions timestamps have 1 s resolution),"
        " so up to 1 s late by design; the naive execution waits exactly the window from its own start. Ours after"
        f" its whole-second deadline: p50 {percentile(after['ours'], 50):.2f} s,"
        f" p99 {percentile(after['ours'], 99):.2f} s: moto sleeps a Wait in whole seconds (the local runtime rounds"
        " up), so it wakes up to 1 s after the timestamp, where AWS wakes at it; then ReadBuffer, Process and Reply.",
        "Cold import: tools/package.py --arch x86_64 zips exactly as deployed (same contents as arm64, with their"
        " unchecked-hash cpython-313 .pyc), unzipped, imported by the runtime's own minor version"
        f" ({built[0].interpreter if built else 'CPython 3.13'}, Debian trixie's, fetched by tools/runtime_python.py):"
        " `python3.13 -I -S -B -X importtime -c 'import handler'` (-B: /var/task is read-only), with a boto3/botocore"
        f" stand-in compiled by the same interpreter, Terraform's environment and tracing on, median of {IMPORT_RUNS}"
        " processes. Source only: the same zip with every __pycache__ removed, i.e. what zips without bytecode cost.",
    ]
    lost_or_twice = [m for f in figures.values() for m in f.not_answered_once]
    if lost_or_twice:
        report.notes.append("NOT answered exactly once (invariants 1-2): " + "; ".join(lost_or_twice) + ".")
    failed = [f"{r.design} {r.mode}: {n} x {reason}" for r in loads.values() for reason, n in r.failures.items()]
    if failed:
        report.notes.append("Webhook requests not accepted during the loads: " + "; ".join(failed) + ".")
    post = next(a for a in built if a.function == "post_message")
    report.notes.append(
        "post_message import offenders as deployed (with .pyc): handler.py statements "
        + ", ".join(f"`{s}` {ms:.0f} ms" for s, ms in sorted(post.statements, key=lambda x: -x[1])[:4])
        + "; direct imports (cumulative) "
        + ", ".join(f"{n} {ms:.0f} ms" for n, ms in post.top_imports[:5])
        + "; most self time "
        + ", ".join(f"{n} {ms:.0f} ms" for n, ms in post.top_self[:6])
        + ". Source only (no .pyc, before): direct imports "
        + ", ".join(f"{n} {ms:.0f} ms" for n, ms in post.top_imports_source_only[:5])
        + "; most self time "
        + ", ".join(f"{n} {ms:.0f} ms" for n, ms in post.top_self_source_only[:6])
        + f". Shipping bytecode saves {post.source_only_ms - post.deployed_ms:.0f} ms of compilation."
    )


def _actions(f: BurstFigures) -> str:
    return ", ".join(f"{a} {v:.2f}" for a, v in f.actions_per_message.items())


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
