"""`debouncer redrive`: answer the dead-lettered bursts whose turns are still unanswered, once each.

Against a deployment (the DLQ, the table and the state machine, named by flags or by `terraform output -json`), or
against `make run` (`--endpoint`: the local server runs the same use case). See README, "Redrive failures".
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

# Exit statuses scripts can use.
EXIT_DONE = 0  # every record settled (redriven, or nothing left to answer), or the queue was empty
EXIT_LEFT = 1  # some records are (or, in a dry run, would be) left on the queue
EXIT_REFUSED = 2  # usage error, or the queue, table, state machine or local server could not be reached
# Redriving many records through the local server is one request: allow it time.
LOCAL_TIMEOUT_SECONDS = 300.0


class _RefusedError(Exception):
    """Nothing could be done: a usage error, or a resource out of reach."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `debouncer redrive`."""
    parser = commands.add_parser(
        "redrive",
        help="answer the dead-lettered bursts whose turns are still unanswered, once each",
        description="Read the dead-letter queue and send every burst whose turn is still unanswered back into the "
        "pipeline (an execution of its own, named after the one that failed), never a second reply for an answered "
        "turn; delete a record only once its burst is back in the pipeline or needs nothing. Records of delivered "
        "(the fallback message included), superseded or withheld turns are deleted. "
        f"Exit status: {EXIT_DONE} all settled or nothing to do, {EXIT_LEFT} some records left on the queue, "
        f"{EXIT_REFUSED} usage error or unreachable.",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be done; change nothing")
    local = parser.add_argument_group("against make run")
    local.add_argument(
        "--endpoint",
        help="base URL of the local server (make run), e.g. http://127.0.0.1:8000; its local-only routes do the work",
    )
    deployed = parser.add_argument_group(
        "against a deployment (AWS credentials from the SDK's usual chain; each flag overrides the outputs file)"
    )
    deployed.add_argument(
        "--terraform-outputs",
        metavar="FILE",
        help="the JSON of `terraform output -json` ('-' for stdin): dead_letter_queue_url, table_name, "
        "state_machine_arn, workflow_type",
    )
    deployed.add_argument("--queue-url", help="the dead-letter queue (terraform output -raw dead_letter_queue_url)")
    deployed.add_argument("--table", help="the DynamoDB table (terraform output -raw table_name)")
    deployed.add_argument("--state-machine-arn", help="the state machine (terraform output -raw state_machine_arn)")
    deployed.add_argument(
        "--workflow-type",
        type=str.upper,
        choices=("STANDARD", "EXPRESS"),
        help="the state machine's type (terraform output -raw workflow_type; default: read from the state machine)",
    )
    deployed.add_argument("--region", help="AWS region (default: the state machine ARN's)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Redrive once, print each record's outcome and a summary; the exit status."""
    deployment_flags = (args.terraform_outputs, args.queue_url, args.table, args.state_machine_arn)
    if args.endpoint and any(deployment_flags):
        print("debouncer redrive: --endpoint (make run) or a deployment's resources, not both", file=sys.stderr)
        return EXIT_REFUSED
    try:
        if args.endpoint:
            outcomes = _through_server(args.endpoint, args.dry_run, sys.stderr)
        else:
            outcomes = _against_deployment(_deployment(args), args.dry_run, sys.stderr)
    except _RefusedError as error:
        print(f"debouncer redrive: {error}", file=sys.stderr)
        return EXIT_REFUSED
    return report(outcomes, args.dry_run, sys.stdout)


def report(outcomes: Sequence[dict[str, Any]], dry_run: bool, out: TextIO) -> int:
    """One line per record, then a summary; the exit status."""
    for outcome in outcomes:
        where = f"{outcome.get('conversation') or '-'} burst {outcome.get('burst') or '-'}"
        error = f" [{outcome['error']}]" if outcome.get("error") else ""
        print(f"{outcome['action']:<17} {where}{error}: {outcome['detail']}", file=out)
    counts = Counter(str(o["action"]) for o in outcomes)
    # A dry run deletes nothing: what it reports is what a real run would leave.
    kept = counts["kept"] if dry_run else sum(not o["deleted"] for o in outcomes)
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "the queue is empty"
    prefix = "dry run, nothing changed: " if dry_run else ""
    left = f"; {kept} {'would be ' if dry_run else ''}left on the queue" if kept else ""
    print(f"{prefix}{len(outcomes)} record(s): {summary}{left}", file=out)
    return EXIT_LEFT if kept else EXIT_DONE


def _through_server(endpoint: str, dry_run: bool, err: TextIO) -> list[dict[str, Any]]:
    if not endpoint.startswith(("http://", "https://")):
        raise _RefusedError(f"--endpoint is not an http(s) URL: {endpoint!r}")
    url = endpoint.rstrip("/") + "/local/redrive"
    print(f"redriving through {url} ...", file=err, flush=True)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=json.dumps({"dry_run": dry_run}).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=LOCAL_TIMEOUT_SECONDS) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            detail = e.read().decode(errors="replace")[:300]
        hint = " (a server older than this command, or not the local server?)" if e.code == 404 else ""
        raise _RefusedError(f"{url} answered {e.code}{hint}: {detail}") from e
    except (OSError, ValueError) as e:
        raise _RefusedError(f"cannot reach {url}: {e}; is the server running (make run)?") from e
    outcomes: list[dict[str, Any]] = answer["outcomes"]
    return outcomes


def _deployment(args: argparse.Namespace) -> dict[str, str | None]:
    """Where the DLQ, table and state machine are: the flags over the Terraform outputs."""
    outputs: dict[str, Any] = {}
    if args.terraform_outputs:
        try:
            text = sys.stdin.read() if args.terraform_outputs == "-" else Path(args.terraform_outputs).read_text()
            raw = json.loads(text)
            # `terraform output -json` wraps each value: {"name": {"value": ..., "type": ..., "sensitive": ...}}.
            outputs = {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in raw.items()}
        except (OSError, ValueError, AttributeError) as e:
            raise _RefusedError(f"cannot read the Terraform outputs {args.terraform_outputs}: {e}") from e
    found: dict[str, str | None] = {
        "queue_url": args.queue_url or outputs.get("dead_letter_queue_url"),
        "table": args.table or outputs.get("table_name"),
        "state_machine_arn": args.state_machine_arn or outputs.get("state_machine_arn"),
        "workflow_type": args.workflow_type or outputs.get("workflow_type"),
    }
    missing = [name for name in ("queue_url", "table", "state_machine_arn") if not found[name]]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise _RefusedError(
            f"missing {flags}: give --endpoint URL for make run, or the deployment's resources (--terraform-outputs "
            "FILE from `terraform output -json`, or the flags)"
        )
    arn = str(found["state_machine_arn"])
    fields = arn.split(":")
    if len(fields) < 7 or fields[5] != "stateMachine":
        raise _RefusedError(f"not a state machine ARN: {arn!r}")
    found["region"] = args.region or fields[3]
    return found


def _against_deployment(where: dict[str, str | None], dry_run: bool, err: TextIO) -> list[dict[str, Any]]:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from debouncer.domain.errors import DebouncerError
    from debouncer.usecases.redrive import Outcome
    from debouncer.wiring import build_redrive

    # The SDK's adaptive retries ride out throttling; a record AWS still refuses is left for the next run.
    config = Config(retries={"total_max_attempts": 5, "mode": "adaptive"}, connect_timeout=5, read_timeout=30)
    region = where["region"]
    redrive = build_redrive(
        dynamodb=boto3.client("dynamodb", region_name=region, config=config),
        sqs=boto3.client("sqs", region_name=region, config=config),
        stepfunctions=boto3.client("stepfunctions", region_name=region, config=config),
        table_name=str(where["table"]),
        queue_url=str(where["queue_url"]),
        state_machine_arn=str(where["state_machine_arn"]),
        workflow_type=where["workflow_type"],
    )
    tty = err.isatty()
    done: list[Outcome] = []

    def progress(outcome: Outcome) -> None:
        done.append(outcome)
        if tty:
            print(f"\r{len(done)} record(s) ...", end="", file=err, flush=True)
        elif len(done) % 25 == 0:
            print(f"{len(done)} record(s) ...", file=err, flush=True)

    print(f"redriving {where['queue_url']} ...", file=err, flush=True)
    try:
        outcomes = redrive.run(dry_run=dry_run, progress=progress)
    except (BotoCoreError, ClientError, DebouncerError) as e:
        # Records received and not yet deleted are released (or reappear by themselves): nothing is lost.
        raise _RefusedError(f"stopped after {len(done)} record(s): {e}") from e
    finally:
        if tty and done:
            print(file=err)
    return [outcome.as_dict() for outcome in outcomes]
