"""`debouncer explain`: one conversation's timeline, every decision the pipeline took (debouncer.domain.timeline).

Against a deployment (`--table`, with `--state-machine-arn` for Standard's execution history) or against `make run`
(`--endpoint`: the local server's /local/explain returns the same timeline as JSON). See README, "Explain a
conversation".
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    from debouncer.domain.timeline import FlushRules, Timeline

# Exit statuses scripts can use.
EXIT_SHOWN = 0
EXIT_NOT_FOUND = 1  # no conversation with this recipient (in this account)
EXIT_REFUSED = 2  # usage error, or the table, state machine or local server could not be reached
HTTP_TIMEOUT_SECONDS = 30.0


class _RefusedError(Exception):
    """Nothing could be shown: a usage error, or a resource out of reach."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `debouncer explain`."""
    parser = commands.add_parser(
        "explain",
        help="print one conversation's timeline: every message, deadline, claim, answer and reply part",
        description="Print the timeline of a conversation: each message's arrival and how it moved the quiet "
        "deadline, the cap, flushes and their reason, edits, deletes and duplicates, the claim and its reason, the "
        "AI's latency and any fallback, each reply part sent, a superseded or withheld answer, a pause, and a "
        "dead-lettered burst with its reason. No message text unless --show-text. "
        f"Exit status: {EXIT_SHOWN} shown, {EXIT_NOT_FOUND} no such conversation, {EXIT_REFUSED} usage error or "
        "unreachable.",
    )
    parser.add_argument("--channel", required=True, choices=("whatsapp", "telegram", "instagram", "generic"))
    parser.add_argument(
        "--recipient", required=True, help="who the replies go to: WhatsApp wa_id, Telegram chat id, Instagram IGSID"
    )
    parser.add_argument(
        "--account", help="our channel account (WhatsApp phone_number_id, Telegram bot id...): when it has several"
    )
    parser.add_argument("--show-text", action="store_true", help="include message and answer text (personal data)")
    parser.add_argument("--json", action="store_true", help="print the timelines as JSON, for scripts")
    local = parser.add_argument_group("against make run")
    local.add_argument("--endpoint", help="base URL of the local server, e.g. http://127.0.0.1:8000")
    deployed = parser.add_argument_group("against a deployment (AWS credentials from the SDK's usual chain)")
    deployed.add_argument("--table", help="the DynamoDB table (terraform output -raw table_name)")
    deployed.add_argument(
        "--state-machine-arn",
        help="the state machine (terraform output -raw state_machine_arn): adds each execution's start and a dead "
        "letter's error, from the history Standard keeps (Express keeps none)",
    )
    deployed.add_argument("--region", help="AWS region (default: the AWS SDK's)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the timelines of the conversations found; the exit status."""
    if bool(args.endpoint) == bool(args.table):
        print("debouncer explain: give --endpoint (make run) or --table (a deployment)", file=sys.stderr)
        return EXIT_REFUSED
    try:
        documents = _through_server(args) if args.endpoint else [t.to_json() for t in _from_deployment(args)]
    except _RefusedError as error:
        print(f"debouncer explain: {error}", file=sys.stderr)
        return EXIT_REFUSED
    if not documents:
        print("debouncer explain: no such conversation", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.json:
        json.dump({"conversations": documents}, sys.stdout, indent=2)
        print()
    else:
        render(documents, sys.stdout)
    return EXIT_SHOWN


def explain(
    dynamodb: Any,
    table_name: str,
    channel: str,
    recipient: str,
    account: str | None,
    *,
    stepfunctions: Any = None,
    state_machine_arn: str | None = None,
    flush_rules: Callable[[str], FlushRules | None] | None = None,
    show_text: bool = False,
) -> list[Timeline]:
    """The timeline of each conversation with this recipient (in `account` when given), read from the table and,
    with a state machine, from its execution history; `flush_rules` gives a conversation's early-flush settings by
    its key (with them a flush's reason is told). The local server's /local/explain calls it too."""
    from debouncer.adapters.dynamodb import conversation_items, conversation_keys
    from debouncer.adapters.execution_history import execution_records
    from debouncer.domain.models import Channel, conversation_key
    from debouncer.domain.timeline import build_timeline

    keys = conversation_keys(dynamodb, table_name, channel, recipient, account)
    if account is not None and not keys:
        # The directory lists a conversation from its first claim on: before it, the key itself finds its buffer.
        keys = [conversation_key(cast("Channel", channel), account, recipient)]
    timelines = []
    for key in keys:
        items = conversation_items(dynamodb, table_name, key)
        if not items:
            continue
        executions = []
        if stepfunctions is not None and state_machine_arn:
            bursts = [int(i["burst"]) for i in items if "burst" in i and str(i["sk"]).startswith(("turn#", "buffer"))]
            executions = execution_records(stepfunctions, state_machine_arn, key, bursts)
        rules = None if flush_rules is None else flush_rules(key)
        timelines.append(build_timeline(key, items, executions=executions, flush_rules=rules, show_text=show_text))
    return timelines


def _from_deployment(args: argparse.Namespace) -> list[Timeline]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from debouncer.domain.errors import RetryableError

    try:
        dynamodb = boto3.client("dynamodb", region_name=args.region)
        sfn = boto3.client("stepfunctions", region_name=args.region) if args.state_machine_arn else None
        return explain(
            dynamodb,
            args.table,
            args.channel,
            args.recipient,
            args.account,
            stepfunctions=sfn,
            state_machine_arn=args.state_machine_arn,
            show_text=args.show_text,
        )
    except (BotoCoreError, ClientError, RetryableError) as error:
        raise _RefusedError(f"could not read the deployment: {error}") from error


def _through_server(args: argparse.Namespace) -> list[dict[str, Any]]:
    query = {"channel": args.channel, "recipient": args.recipient}
    if args.account:
        query["account"] = args.account
    if args.show_text:
        query["show_text"] = "true"
    url = f"{args.endpoint.rstrip('/')}/local/explain?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - operator's URL
            document: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise _RefusedError(f"the local server answered {error.code}: {error.read()[:200]!r}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise _RefusedError(f"could not reach {args.endpoint}: {error}") from error
    conversations: list[dict[str, Any]] = document["conversations"]
    return conversations


def _clock(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S.%f")[:-3]


def _describe(details: dict[str, Any]) -> str:
    """One event's particulars in words; times as clock times."""
    parts = []
    for name, value in details.items():
        if name in ("quiet_deadline", "cap_deadline", "ideal_at") and isinstance(value, int | float):
            value = _clock(value)
        elif name in ("ai_latency", "lateness") and isinstance(value, int | float):
            value = f"{value:.3f}s"
        elif isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)
        parts.append(f"{name}={value}")
    return " ".join(parts)


def render(documents: list[dict[str, Any]], out: TextIO) -> None:
    """The timelines as text: one line per event, UTC clock times, grouped by conversation."""
    for document in documents:
        events = document["events"]
        first = events[0]["at"] if events else None
        day = "" if first is None else datetime.fromtimestamp(first, UTC).strftime(" (%Y-%m-%d UTC)")
        print(f"conversation {document['conversation']}{day}", file=out)
        for event in events:
            burst = "" if event["burst"] is None else str(event["burst"])
            line = f"  {_clock(event['at'])}  {burst:>13}  {event['kind']:<18} {_describe(event['details'])}"
            print(line.rstrip(), file=out)
