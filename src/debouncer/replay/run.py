"""`debouncer replay FILE...`: check every fixture, compare settings with the server, play all files at once,
print one PASS/FAIL/LATE line per expectation and a summary. Exit 0 when all pass, 1 on any failure, 2 when refused,
3 when nothing failed but a slow server left some expectations unjudged (replay those files again)."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from debouncer.replay.collect import OutboxSource, ReplySource, TableSource, http_request, server_settings
from debouncer.replay.fixture import (
    TENANTS_FILE_NAME,
    Fixture,
    ReplayError,
    ScenarioTenant,
    load,
    settings_mismatch,
)
from debouncer.replay.player import Playback, play
from debouncer.replay.rewrite import channel_secrets, payload_accounts

# Every timeline starts this far past a whole second: Step Functions deadlines have one-second resolution, so a
# fixed phase makes the rounding, and therefore the bursts, the same on every run.
PHASE = 0.1
LATE_WARNING = 0.3


def load_all(files: Sequence[str]) -> list[Fixture]:
    """Every fixture, checked; ReplayError for the first bad one or for two files with one name."""
    fixtures = [load(Path(f)) for f in files]
    seen: dict[str, Path] = {}
    for fixture in fixtures:
        if fixture.name in seen:
            raise ReplayError(f"{fixture.path} and {seen[fixture.name]} are both named {fixture.name!r}")
        seen[fixture.name] = fixture.path
    return fixtures


def check_settings(fixtures: Sequence[Fixture], server: dict[str, Any], endpoint: str) -> None:
    """ReplayError listing every fixture whose expectations assume other settings than the server's: the
    deployment's, and those of each tenant the fixture declares or its payloads reach."""
    lines = []
    for fixture in fixtures:
        if problems := settings_mismatch(fixture, server, payload_accounts(fixture)):
            lines.append(f"  {fixture.path} assumes {'; '.join(problems)}")
    if lines:
        raise ReplayError(
            f"settings mismatch: the server at {endpoint} is not running with the settings the fixtures assume:\n"
            + "\n".join(lines)
            + "\n"
            + advice(fixtures)
        )


def advice(fixtures: Sequence[Fixture]) -> str:
    """How to start a server the fixtures can be replayed against: the environment, and the tenants file."""
    declared = [f for f in fixtures if f.settings.tenants]
    suffix = f" TENANTS_FILE={TENANTS_FILE_NAME}" if declared else ""
    wanted = sorted({f.settings.env() + suffix for f in fixtures})
    text = "restart it with the fixtures' settings, e.g. " + " or ".join(f"`{env} make run`" for env in wanted)
    if not declared:
        return text
    tenants: dict[str, tuple[ScenarioTenant, Fixture]] = {}
    for fixture in declared:
        for tenant in fixture.settings.tenants:
            first = tenants.setdefault(tenant.id, (tenant, fixture))
            if first[0] != tenant:
                return (
                    f"{text}\n{first[1].path} and {fixture.path} declare tenant {tenant.id!r} differently: "
                    "replay them against separate servers, each with a TENANTS_FILE of its fixture's tenants"
                )
    owners: dict[tuple[str, str], str] = {}
    for tenant, _ in tenants.values():
        owner = owners.setdefault((tenant.channel, tenant.account), tenant.id)
        if owner != tenant.id:
            return (
                f"{text}\ntenants {owner!r} and {tenant.id!r} share {tenant.channel} account {tenant.account}: "
                "replay their fixtures against separate servers, each with a TENANTS_FILE of its fixture's tenants"
            )
    document = {"tenants": [tenant.entry() for tenant, _ in tenants.values()]}
    return f"{text}, where {TENANTS_FILE_NAME} holds the tenants the fixtures declare:\n{json.dumps(document)}"


def stagger(fixtures: Sequence[Fixture], speed: float, max_rate: float) -> list[int]:
    """Whole-second start offsets that keep the webhooks posted per second within `max_rate`, longest file first.

    The local server is one Python process spending tens of milliseconds of CPU per webhook: fifteen files
    starting together would saturate it, and a saturated server answers bursts late, which changes the bursts.
    A file that alone exceeds the rate waits for seconds no other file posts in.
    """
    load: Counter[int] = Counter()
    offsets = [0] * len(fixtures)
    for index in sorted(range(len(fixtures)), key=lambda i: -fixtures[i].duration):
        bins = Counter(math.floor(event.at / speed) for event in fixtures[index].events)
        offset = 0
        while any(load[offset + b] + n > max(max_rate, n) for b, n in bins.items()):
            offset += 1
        offsets[index] = offset
        for b, n in bins.items():
            load[offset + b] += n
    return offsets


def aligned_start(now: float) -> float:
    """The next whole second plus PHASE, at least 0.3 s away (time for the threads to start)."""
    start = math.floor(now) + PHASE
    while start - now < 0.3:
        start += 1
    return start


def replay(
    files: Sequence[str],
    *,
    endpoint: str,
    speed: float = 1.0,
    table: str | None = None,
    region: str | None = None,
    telegram_bot_id: str = "bot",
    margin: float = 5.0,
    max_rate: float = 6.0,
    out: TextIO,
    err: TextIO,
) -> int:
    """The whole command; returns the exit status."""
    try:
        fixtures = load_all(files)
        server = server_settings(endpoint)
        if server is None:
            # A deployed stack keeps its settings to itself: say so rather than pass a check never made.
            wanted = " or ".join(sorted({f.settings.env() for f in fixtures}))
            if tenants := sorted({t.describe() for f in fixtures for t in f.settings.tenants}):
                wanted += f", with the tenants {'; '.join(tenants)}"
            print(
                f"note: {endpoint} does not tell its settings (not the local server): they are not checked; "
                f"the fixtures assume {wanted}",
                file=err,
                flush=True,
            )
        else:
            check_settings(fixtures, server, endpoint)
        source = reply_source(endpoint, server, table, region, telegram_bot_id)
    except ReplayError as e:
        print(f"debouncer replay: {e}", file=err)
        return 2
    secrets = channel_secrets()
    start = aligned_start(time.time())
    offsets = stagger(fixtures, speed, max_rate)
    span = max(offset + f.duration / speed for offset, f in zip(offsets, fixtures, strict=True))
    print(
        f"replaying {len(fixtures)} fixture{'s' if len(fixtures) != 1 else ''} against {endpoint} "
        f"(timeline {span:.1f}s at speed {speed:g}, then waiting for the replies)",
        file=out,
        flush=True,
    )
    with ThreadPoolExecutor(max_workers=len(fixtures), thread_name_prefix="replay") as pool:
        futures = [
            pool.submit(
                play,
                fixture,
                endpoint=endpoint,
                source=source,
                secrets=secrets,
                start=start + offset,
                speed=speed,
                margin=margin,
            )
            for offset, fixture in zip(offsets, fixtures, strict=True)
        ]
        try:
            playbacks = [future.result() for future in futures]
        except ReplayError as e:
            print(f"debouncer replay: {e}", file=err)
            return 2
    return report(playbacks, out, err)


def reply_source(
    endpoint: str, server: dict[str, Any] | None, table: str | None, region: str | None, bot_id: str
) -> ReplySource:
    """Where the replies are read: the table (--table), else the local server's outbox (the echo AI's)."""
    if table is not None:
        import boto3

        return TableSource(boto3.client("dynamodb", region_name=region), table, bot_id)
    if server is None:
        raise ReplayError(f"{endpoint} is not the local server (no /local routes): pass --table NAME")
    if server.get("ai_provider") != "echo":
        raise ReplayError(
            f"the server's AI is {server.get('ai_provider')!r}: the outbox check needs the echo AI, whose reply "
            "contains every message verbatim (AI_PROVIDER=echo); against a deployed stack, pass --table"
        )
    try:
        status, _ = http_request("GET", f"{endpoint}/local/outbox")
    except OSError as e:
        raise ReplayError(f"cannot read {endpoint}/local/outbox: {e}") from e
    if status != 200:
        raise ReplayError(f"{endpoint}/local/outbox answered {status}: against a deployed stack, pass --table NAME")
    return OutboxSource(endpoint)


def report(playbacks: Sequence[Playback], out: TextIO, err: TextIO) -> int:
    """Print the lines, fixture by fixture, and the summary; 0 when everything passed, 1 when something failed,
    3 when the only shortfalls are expectations a slow server left unjudged."""
    passed = failed = other = unjudged = 0
    for playback in playbacks:
        if playback.lateness > LATE_WARNING:
            print(
                f"note {playback.fixture.name}: the server answered slowly; events left up to "
                f"{playback.lateness:.1f}s late",
                file=err,
            )
        for outcome in playback.outcomes:
            print(outcome.line(), file=out)
            if outcome.unjudged:
                unjudged += 1
            elif outcome.counted:
                passed += outcome.ok
                failed += not outcome.ok
            else:
                other += not outcome.ok
    summary = f"{passed} passed, {failed} failed"
    if other:
        summary += f", {other} other problem{'s' if other != 1 else ''} (event answers, unexpected replies)"
    if unjudged:
        summary += f", {unjudged} not judged (the server answered too slowly: replay those files again)"
    print(f"{summary} in {len(playbacks)} fixture{'s' if len(playbacks) != 1 else ''}", file=out, flush=True)
    if failed or other:
        return 1
    return 3 if unjudged else 0
