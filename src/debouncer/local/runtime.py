"""The whole pipeline in one process: real handlers, real state machine definition, emulated AWS."""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import boto3

from debouncer.adapters.outbox import LOCAL_OUTBOX
from debouncer.adapters.tenant_catalog import tenant_item
from debouncer.config import Settings
from debouncer.local.emulator import Emulator, FunctionThrottled, InvocationTimedOut, RequestTooLarge
from debouncer.local.environments import FunctionCode
from debouncer.local.item_size import dynamodb_item_limit
from debouncer.statemachine import render_file
from debouncer.tenants import Tenant, load_tenants_file
from debouncer.workflow import WORKFLOW_TYPES, WorkflowType

if TYPE_CHECKING:
    from debouncer.domain.timeline import FlushRules

PROJECT_ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTIONS = ("post_message", "process_message", "reply")
# post_message's timeout: Terraform's default lambda_timeout.post_message (the function itself never reads it).
POST_MESSAGE_TIMEOUT_SECONDS = 10
# What an HTTP API answers when its Lambda integration times out, or the function fails.
GATEWAY_TIMEOUT_RESPONSE = (503, {"Content-Type": "application/json"}, b'{"message":"Service Unavailable"}')
GATEWAY_ERROR_RESPONSE = (500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}')
# DynamoDB TTL leaves alone an item whose expiry lies more than five years in the past.
TTL_IGNORED_AFTER_SECONDS = 5 * 365 * 86_400

# Documented development defaults, so a newcomer can post signed fixtures at once. Never used on AWS.
DEV_DEFAULTS = {
    "META_APP_SECRET": "local-app-secret",
    "META_VERIFY_TOKEN": "local-verify-token",
    "TELEGRAM_SECRET_TOKEN": "local-telegram-secret",
    "GENERIC_SECRET": "local-generic-secret",
    # The admin API's bearer token (README, Human handoff and the admin API); on AWS the admin routes take IAM only.
    "ADMIN_TOKEN": "local-admin-token",
}
_LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "chat-debouncer",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    # Media URLs of the generic channel may point at the tests' fake servers on loopback; on AWS they may not.
    "MEDIA_ALLOW_LOOPBACK": "true",
}


def workflow_template_values(workflow_type: WorkflowType) -> dict[str, str]:
    """The placeholders of the definition that depend on the workflow type (statemachines/workflow_types.json)."""
    types = json.loads((PROJECT_ROOT / "statemachines" / "workflow_types.json").read_text())
    return {key: str(value) for key, value in types[workflow_type]["template"].items()}


def _load_handler(name: str) -> ModuleType:
    path = PROJECT_ROOT / "lambda" / name / "handler.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{name}_handler_{uuid.uuid4().hex[:8]}", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def create_table(dynamodb: Any, table_name: str) -> None:
    """The table as production has it: key schema read from the same file Terraform reads."""
    schema = json.loads((PROJECT_ROOT / "schemas" / "dynamodb-table.json").read_text())
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[
            {"AttributeName": schema["hash_key"], "KeyType": "HASH"},
            {"AttributeName": schema["range_key"], "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": a["name"], "AttributeType": a["type"]} for a in schema["attributes"]],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema["ttl_attribute"]}
    )


class LocalRuntime:
    """Creates the resources, loads the three handlers, and serves API Gateway v2 events to post_message.

    WORKFLOW_TYPE (STANDARD or EXPRESS, from `environment` or else the process environment) picks the state
    machine's type; the emulator gives EXPRESS Express's semantics (see debouncer.local.emulator).
    EXPRESS_DUPLICATE_RATE (0 to 1, EXPRESS only) runs that share of executions twice, as at-least-once delivery may.
    """

    def __init__(self, environment: Mapping[str, str] | None = None, name: str = "chat-debouncer") -> None:
        self.name = name
        self.emulator = Emulator()
        self.outbox = LOCAL_OUTBOX
        self._environment = dict(environment or {})
        # Each function's handler module in every execution environment (patch it here: see FunctionCode).
        self.handlers: dict[str, FunctionCode] = {}
        self.table_name = name
        self.media_bucket = f"{name}-media"
        self.queue_url = ""
        self.state_machine_arn = ""
        self.workflow_type: WorkflowType = "STANDARD"
        self._saved_environ: dict[str, str] = {}
        self.tenants: tuple[Tenant, ...] = ()
        self.reserved: dict[str, int] = {}  # each function's reserved concurrency (LAMBDA_RESERVED_CONCURRENCY)
        self._patches = ExitStack()  # where moto is not AWS, what makes up the difference

    def start(self) -> LocalRuntime:
        """Check the settings, start the emulator, create table/queue/state machine, import the handlers."""
        self._saved_environ = dict(os.environ)
        self.outbox.clear()
        for key, value in {**_LOCAL_ENV, **DEV_DEFAULTS}.items():
            os.environ.setdefault(key, value)
        os.environ.update(self._environment)
        try:
            self._configure()
        except Exception:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            raise
        self.emulator.start()
        self._patches.enter_context(dynamodb_item_limit())
        with self.emulator.running_as("setup"):
            self._create_resources()
            tenants = self._load_tenants()
        os.environ.update(
            {
                "TENANTS_ENABLED": "true" if tenants else "false",
                "TABLE_NAME": self.table_name,
                "MEDIA_BUCKET": self.media_bucket,
                "STATE_MACHINE_ARN": self.state_machine_arn,
                "SECRETS_SOURCE": "env",
            }
        )
        settings = Settings()
        # Each function's timeout is the one its settings carry, as Terraform's lambda_timeout sets both.
        timeouts = {
            "post_message": POST_MESSAGE_TIMEOUT_SECONDS,
            "process_message": settings.process_message_timeout_seconds,
            "reply": settings.reply_timeout_seconds,
        }
        for name in FUNCTIONS:
            load = functools.partial(_load_handler, name)
            pool = self.emulator.deploy(name, load, timeouts[name], reserved_concurrency=self.reserved.get(name))
            pool.warm()  # one environment each now: a handler that cannot start fails the start, as before
            self.handlers[name] = pool.code
        self.emulator.calls.clear()
        return self

    def stop(self) -> None:
        """Stop the emulator (running executions die with it)."""
        self._patches.close()
        self.emulator.stop()
        os.environ.clear()
        os.environ.update(self._saved_environ)

    def _configure(self) -> None:
        """Refuse what AWS would refuse (an Express window that cannot fit 5 minutes) before anything starts."""
        workflow_type = os.environ.get("WORKFLOW_TYPE", "STANDARD").upper()
        if workflow_type not in WORKFLOW_TYPES:
            raise ValueError(f"WORKFLOW_TYPE must be one of {', '.join(WORKFLOW_TYPES)}, not {workflow_type!r}")
        os.environ["WORKFLOW_TYPE"] = workflow_type
        self.workflow_type = Settings().workflow_type
        rate = float(os.environ.get("EXPRESS_DUPLICATE_RATE", "0"))
        if not 0 <= rate <= 1:
            raise ValueError(f"EXPRESS_DUPLICATE_RATE must be between 0 and 1, not {rate}")
        self.emulator.express_duplicates = rate
        self.reserved = reserved_concurrency(os.environ.get("LAMBDA_RESERVED_CONCURRENCY", ""))
        # A tenants file is checked before anything starts: its errors name the tenant and the key.
        path = Settings().tenants_file
        self.tenants = load_tenants_file(Path(path), Settings()).tenants if path else ()

    def _create_resources(self) -> None:
        create_table(boto3.client("dynamodb", region_name=REGION), self.table_name)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=self.media_bucket)
        sqs = boto3.client("sqs", region_name=REGION)
        self.queue_url = sqs.create_queue(QueueName=f"{self.name}-dlq")["QueueUrl"]
        definition = render_file(
            PROJECT_ROOT / "statemachines" / "debounce.asl.json.tftpl",
            {
                "partition": "aws",  # moto's, as Terraform reads it from aws_partition on AWS
                "table_name": self.table_name,
                "process_message_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:process_message",
                "reply_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:reply",
                "dead_letter_queue_url": self.queue_url,
                **workflow_template_values(self.workflow_type),
            },
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        self.state_machine_arn = sfn.create_state_machine(
            name=f"{self.name}-debounce",
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{self.name}-sfn",
            type=self.workflow_type,
        )["stateMachineArn"]

    def _load_tenants(self) -> int:
        """TENANTS_FILE's tenants (checked at _configure), as the items Terraform's aws_dynamodb_table_item writes."""
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for tenant in self.tenants:
            dynamodb.put_item(TableName=self.table_name, Item=tenant_item(tenant))
        return len(self.tenants)

    def http(
        self, method: str, path: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None, query: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request through post_message, as API Gateway (HTTP API, payload 2.0) would deliver it."""
        event = api_gateway_event(method, path, body=body, headers=headers or {}, query=query)
        try:
            response = self.emulator.invoke("post_message", event)
        except InvocationTimedOut:
            return GATEWAY_TIMEOUT_RESPONSE[0], dict(GATEWAY_TIMEOUT_RESPONSE[1]), GATEWAY_TIMEOUT_RESPONSE[2]
        except (FunctionThrottled, RequestTooLarge) as e:  # Lambda refused the invoke: the HTTP API answers 500
            logging.getLogger("debouncer.local").warning("post_message invoke refused: %s", type(e).__name__)
            return GATEWAY_ERROR_RESPONSE[0], dict(GATEWAY_ERROR_RESPONSE[1]), GATEWAY_ERROR_RESPONSE[2]
        except Exception:  # an unhandled function error: the HTTP API answers 500 and logs it, as here
            logging.getLogger("debouncer.local").exception("post_message failed")
            return GATEWAY_ERROR_RESPONSE[0], dict(GATEWAY_ERROR_RESPONSE[1]), GATEWAY_ERROR_RESPONSE[2]
        payload = response.get("body") or ""
        raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        return int(response["statusCode"]), dict(response.get("headers") or {}), raw

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of the state machine, oldest first: {arn, name, status, input}; Express duplicates too.

        Read from the emulator, not the Step Functions API: AWS lists no Express execution.
        """
        found = self.emulator.executions(self.state_machine_arn)
        return [
            {"arn": e.exec_arn, "name": e.name, "status": e.status, "input": json.loads(e.execution_input)}
            for e in sorted(found, key=lambda e: e.start_date)
        ]

    def executions_settled(self) -> bool:
        """True once no execution of the state machine is still running."""
        return all(e["status"] != "RUNNING" for e in self.executions())

    def duplicate_execution(self, execution_arn: str) -> None:
        """Run an Express execution once more under the same ARN, as at-least-once delivery may."""
        self.emulator.duplicate(execution_arn)

    def stop_executions(self) -> None:
        """Stop every running execution (a test's waiting bursts must not outlive it)."""
        stopped = datetime.now(UTC)
        for execution in self.emulator.executions(self.state_machine_arn):
            if execution.status == "RUNNING":
                try:
                    execution.stop(stop_date=stopped, error=None, cause=None)
                except Exception:  # noqa: S112 - moto cannot stop an execution still starting; it ends with the emulator
                    continue

    def ttl_sweep(self, after_seconds: float) -> int:
        """Delete what DynamoDB TTL would have deleted `after_seconds` from now; how many items went.

        moto records the TTL setting and never expires an item; on AWS buffers (days), dedupe records and turns do
        expire, and the code must cope with what is left (docs/architecture.md). Each delete is conditional, as
        AWS's own are: an item whose TTL attribute moved on meanwhile (a new message to a buffer) stays.
        """
        if not math.isfinite(after_seconds) or after_seconds < 0:
            raise ValueError(f"after_seconds must be a non-negative number, not {after_seconds!r}")
        attribute = json.loads((PROJECT_ROOT / "schemas" / "dynamodb-table.json").read_text())["ttl_attribute"]
        now = time.time()
        values = {
            # DynamoDB TTL skips values more than five years in the past (most likely milliseconds or a bug).
            ":oldest": {"N": str(int(now - TTL_IGNORED_AFTER_SECONDS))},
            # Beyond a few centuries every expiry has passed; the cap keeps the number inside DynamoDB's range.
            ":cutoff": {"N": f"{now + min(after_seconds, 1e10):.3f}"},
        }
        expired = "#ttl >= :oldest AND #ttl < :cutoff"
        deleted = 0
        with self.emulator.running_as("operator"):
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            pages = dynamodb.get_paginator("scan").paginate(
                TableName=self.table_name,
                FilterExpression=expired,
                ProjectionExpression="pk, sk",
                ExpressionAttributeNames={"#ttl": attribute},
                ExpressionAttributeValues=values,
                ConsistentRead=True,
            )
            for key in [item for page in pages for item in page.get("Items", [])]:
                try:
                    dynamodb.delete_item(
                        TableName=self.table_name,
                        Key=key,
                        ConditionExpression=expired,
                        ExpressionAttributeNames={"#ttl": attribute},
                        ExpressionAttributeValues=values,
                    )
                except dynamodb.exceptions.ConditionalCheckFailedException:
                    continue  # written again since the scan, with a later expiry
                deleted += 1
        return deleted

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every record on the DLQ (received and left in flight)."""
        records: list[dict[str, Any]] = []
        with self.emulator.running_as("operator"):
            sqs = boto3.client("sqs", region_name=REGION)
            while True:
                batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=3600)
                messages = batch.get("Messages", [])
                if not messages:
                    return records
                records.extend(json.loads(m["Body"]) for m in messages)

    def peek_dead_letters(self) -> list[dict[str, Any]]:
        """Every record on the DLQ, left on it (visible again at once, unlike dead_letters())."""
        from debouncer.adapters.dead_letters import SqsDeadLetters

        with self.emulator.running_as("operator"):
            letters = SqsDeadLetters(boto3.client("sqs", region_name=REGION), self.queue_url, wait_seconds=0).peek()
        return [json.loads(letter.body) for letter in letters]

    def redrive(self, *, dry_run: bool = False) -> list[dict[str, Any]]:
        """`debouncer redrive` inside the runtime: each DLQ record's outcome (debouncer.usecases.redrive)."""
        from debouncer.wiring import build_redrive

        with self.emulator.running_as("operator"):
            redrive = build_redrive(
                dynamodb=boto3.client("dynamodb", region_name=REGION),
                sqs=boto3.client("sqs", region_name=REGION),
                stepfunctions=boto3.client("stepfunctions", region_name=REGION),
                table_name=self.table_name,
                queue_url=self.queue_url,
                state_machine_arn=self.state_machine_arn,
                workflow_type=self.workflow_type,
                receive_wait_seconds=0,
            )
            return [outcome.as_dict() for outcome in redrive.run(dry_run=dry_run)]

    def explain(self, channel: str, recipient: str, account: str | None, *, show_text: bool) -> list[dict[str, Any]]:
        """`debouncer explain` inside the runtime: the timeline of each conversation with this recipient, with the
        execution history and each conversation's early-flush settings (its tenant's, or the deployment's)."""
        from debouncer.ops.explain import explain

        with self.emulator.running_as("operator"):
            timelines = explain(
                boto3.client("dynamodb", region_name=REGION),
                self.table_name,
                channel,
                recipient,
                account,
                stepfunctions=boto3.client("stepfunctions", region_name=REGION),
                state_machine_arn=self.state_machine_arn,
                flush_rules=self.flush_rules,
                show_text=show_text,
            )
        return [timeline.to_json() for timeline in timelines]

    def flush_rules(self, conversation_key: str) -> FlushRules:
        """A conversation's early-flush settings (its tenant's, or the deployment's), by its key."""
        from debouncer.domain.timeline import FlushRules
        from debouncer.tenants import settings_for

        settings = Settings()
        channel, account, _ = conversation_key.split("#", 2)
        tenant = next((t for t in self.tenants if (t.channel, t.account) == (channel, account)), None)
        effective = settings if tenant is None else settings_for(settings, tenant)
        return FlushRules(effective.flush_keywords, effective.max_messages, effective.max_buffer_bytes)


def reserved_concurrency(setting: str) -> dict[str, int]:
    """LAMBDA_RESERVED_CONCURRENCY: one number for every function, or `function=N` pairs separated by commas (as
    Terraform's lambda_reserved_concurrency); -1 or absent leaves a function unreserved."""
    parts = [part.strip() for part in setting.split(",") if part.strip()]
    if len(parts) == 1 and "=" not in parts[0]:
        parts = [f"{name}={parts[0]}" for name in FUNCTIONS]
    limits: dict[str, int] = {}
    for part in parts:
        name, _, value = (piece.strip() for piece in part.partition("="))
        if name not in FUNCTIONS:
            raise ValueError(f"LAMBDA_RESERVED_CONCURRENCY: {name!r} is none of the functions {', '.join(FUNCTIONS)}")
        # 0 would disable the function: Terraform's validation refuses it, and so does this.
        if not re.fullmatch(r"-1|[1-9][0-9]*", value):
            raise ValueError(f"LAMBDA_RESERVED_CONCURRENCY: {name} must be a whole number >= 1 or -1, not {value!r}")
        if value != "-1":
            limits[name] = int(value)
    return limits


def api_gateway_event(
    method: str, path: str, *, body: bytes, headers: Mapping[str, str], query: str = ""
) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event, with lower-cased headers as API Gateway sends them."""
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", "local"),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if body:
        event["body"] = text
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    return event
