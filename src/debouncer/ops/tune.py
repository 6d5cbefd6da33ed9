"""`debouncer tune`: the debounce window from measured timing (README, Tuning the window: debouncer tune)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from debouncer.tuning.trace import TimedMessage

EXIT_OK, EXIT_NO_CANDIDATE, EXIT_BAD_INPUT = 0, 1, 2


def _whole_seconds(low: int, high: int) -> Callable[[str], list[int]]:
    def parse(text: str) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list of whole seconds: {text!r}") from None
        if not values or any(not low <= v <= high for v in values):
            raise argparse.ArgumentTypeError(f"every value must be a whole number between {low} and {high}: {text!r}")
        return values

    return parse


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0: {text!r}")
    return value


def _percent(text: str) -> float:
    value = _non_negative(text.rstrip("%"))
    if value > 100:
        raise argparse.ArgumentTypeError(f"a percentage between 0 and 100: {text!r}")
    return value / 100


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _max_messages(text: str) -> int:
    [value] = _whole_seconds(1, 95)(text)
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tune` to the CLI."""
    from debouncer.tuning.grid import DEFAULT_DEBOUNCE, DEFAULT_MAX_WAIT

    parser = commands.add_parser(
        "tune",
        help="recommend debounce_seconds and max_wait_seconds from measured message timing",
        description="Replay measured message timings through the product's own burst logic (ingest, the state "
        "machine's deadlines, max messages, supersede) for a grid of debounce_seconds x max_wait_seconds, and "
        "recommend the smallest window whose share of bursts answered too early stays within --max-early, per tenant "
        "and channel when the data has them. Exit status: 0 every group has a recommendation, 1 some group has no "
        "candidate within --max-early, 2 bad input or usage.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from",
        dest="jsonl",
        type=Path,
        metavar="FILE.jsonl",
        help='one message a line: {"conversation": str, "timestamp": epoch seconds, "tenant"?: str, "channel"?: str}',
    )
    source.add_argument(
        "--fixtures", nargs="+", type=Path, metavar="FILE", help="replay scenarios, e.g. fixtures/*.json"
    )
    source.add_argument(
        "--table",
        help="a deployed DynamoDB table: its history's timings, read-only (texts are dropped as they are read)",
    )
    parser.add_argument("--region", default=None, help="AWS region of --table (default: the AWS SDK's)")
    parser.add_argument(
        "--debounce",
        type=_whole_seconds(1, 3600),
        default=list(DEFAULT_DEBOUNCE),
        metavar="S,S,...",
        help=f"windows to try (default {','.join(map(str, DEFAULT_DEBOUNCE))})",
    )
    parser.add_argument(
        "--max-wait",
        type=_whole_seconds(1, 86_400),
        default=list(DEFAULT_MAX_WAIT),
        metavar="S,S,...",
        help=f"max waits to try, each paired with every window it is at least (default "
        f"{','.join(map(str, DEFAULT_MAX_WAIT))})",
    )
    parser.add_argument(
        "--max-early", type=_percent, default=0.10, metavar="PERCENT", help="bursts answered too early allowed (10)"
    )
    parser.add_argument(
        "--thought-gap",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="a pause shorter than this means the person was still writing (default: the break in the data's gaps)",
    )
    parser.add_argument(
        "--ai-seconds",
        type=_non_negative,
        default=3.0,
        metavar="SECONDS",
        help="the AI's answer time, from claim to reply (3)",
    )
    parser.add_argument(
        "--max-messages", type=_max_messages, default=50, metavar="N", help="max_messages of the deployment (50)"
    )
    parser.add_argument(
        "--flush-keywords", default="", metavar="WORD,WORD", help="flush_keywords of the deployment (none)"
    )
    parser.add_argument(
        "--no-supersede", action="store_true", help="the deployment runs with supersede_stale_answers = false"
    )
    parser.add_argument(
        "--ai-price", type=_non_negative, default=0.0, metavar="DOLLARS", help="one AI call's price, added to the cost"
    )
    parser.add_argument("--all", action="store_true", help="list every candidate, not one line per window")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the text report")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML report")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the timings, simulate the grid, print the report; the exit status says whether each group got one."""
    from debouncer.tuning.recommend import grid, tune
    from debouncer.tuning.report import json_report, text_report
    from debouncer.tuning.simulation import Policy
    from debouncer.tuning.trace import TraceError

    keywords = tuple(k.strip().lower() for k in args.flush_keywords.split(",") if k.strip())
    policy = Policy(
        max_messages=args.max_messages,
        flush_keywords=keywords,
        supersede=not args.no_supersede,
        ai_seconds=args.ai_seconds,
    )
    candidates = grid(args.debounce, args.max_wait)
    if not candidates:
        print("debouncer tune: no candidate: every --max-wait is below every --debounce", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        trace = _read(args, keywords)
    except TraceError as error:
        print(f"debouncer tune: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not trace:
        print("debouncer tune: the input holds no messages", file=sys.stderr)
        return EXIT_BAD_INPUT
    results = tune(
        trace,
        candidates,
        policy,
        max_early=args.max_early,
        fixed_thought_gap=args.thought_gap,
        ai_price=args.ai_price,
        progress=_Progress() if sys.stderr.isatty() else None,
    )
    if args.json:
        print(json.dumps(json_report(results, policy, args.max_early), indent=2))
    else:
        sys.stdout.write(text_report(results, policy, args.max_early, everything=args.all))
    if args.html is not None:
        from debouncer.tuning.html import PlotlyMissingError, write_html

        try:
            write_html(args.html, results, policy, args.max_early)
        except (PlotlyMissingError, OSError) as error:
            print(f"debouncer tune: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return EXIT_OK if all(r.recommended is not None for r in results) else EXIT_NO_CANDIDATE


def _read(args: argparse.Namespace, keywords: tuple[str, ...]) -> list[TimedMessage]:
    from debouncer.tuning.trace import TraceError

    if args.jsonl is not None:
        from debouncer.tuning.jsonl import read_jsonl

        return read_jsonl(args.jsonl)
    if args.fixtures is not None:
        from debouncer.tuning.fixtures import read_fixtures

        return read_fixtures(args.fixtures, keywords)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from debouncer.adapters.tenant_catalog import DynamoDbTenantCatalog
    from debouncer.domain.errors import DebouncerError
    from debouncer.tuning.table import read_table

    try:
        client = boto3.client("dynamodb", region_name=args.region)
        tenancy = DynamoDbTenantCatalog(client, args.table).tenancy()

        def tenant_of(channel: str, account: str) -> str | None:
            tenant = tenancy.for_account(channel, account)
            return None if tenant is None else tenant.id

        return read_table(client, args.table, keywords=keywords, tenant_of=tenant_of)
    except (BotoCoreError, ClientError, DebouncerError) as error:
        raise TraceError(f"reading table {args.table}: {error}") from error


class _Progress:
    """'simulating 12/40 candidates' on one updating stderr line, at most five times a second."""

    def __init__(self) -> None:
        self._shown = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._shown < 0.2:
            return
        self._shown = now
        sys.stderr.write(f"\rsimulating {done}/{total} candidates" + ("\n" if done == total else ""))
        sys.stderr.flush()
