"""The naive design the benchmark compares against, run on the same emulator as the real one.

Per message, the naive webhook reads the conversation's buffer (GetItem), writes it back with the message appended
(PutItem), stops the execution the previous message started (StopExecution) and starts a new one (StartExecution).
Each execution waits the whole debounce window (bench/naive.asl.json), then invokes the same process_message and
reply handlers as the real design, registered under their own names so their AWS calls are counted apart.
Same HTTP routes, signature checks and normalizers too (build_app): only the buffer write and the timer differ.
The buffer item has the real design's shape, so process_message claims it unchanged.

`python -m bench.naive --port N` serves it on 127.0.0.1 like `debouncer serve`, for the webhook load benchmark.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from debouncer.api.webhook import Scope, build_app
from debouncer.config import Settings
from debouncer.domain.burst import ordered
from debouncer.domain.errors import RetryableError
from debouncer.domain.models import Inbound, InboundMessage
from debouncer.local.runtime import ACCOUNT, PROJECT_ROOT, REGION, LocalRuntime, api_gateway_event
from debouncer.local.server import LocalServer
from debouncer.statemachine import render_file
from debouncer.usecases.ingest import Ingest, IngestResult
from debouncer.wiring import PerTenant

DEFINITION = PROJECT_ROOT / "bench" / "naive.asl.json"
POST, PROCESS, REPLY = "naive_post", "naive_process", "naive_reply"
# Which real function each naive one stands for (memory size, package): the same code, counted under its own name.
STANDS_FOR = {POST: "post_message", PROCESS: "process_message", REPLY: "reply"}
BUFFER_SK = "buffer"


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


class NaiveIngest(Ingest):
    """Read-modify-write of the buffer, then stop the previous timer and start a new one, for every message."""

    def __init__(
        self, dynamodb: Any, stepfunctions: Any, *, table: str, state_machine_arn: str, settings: Settings
    ) -> None:
        self._db = dynamodb
        self._sfn = stepfunctions
        self._table = table
        self._arn = state_machine_arn
        self._settings = settings

    def accept(self, items: Sequence[Inbound]) -> IngestResult:
        """Buffer each message and restart its conversation's timer; edits, deletes and echoes are ignored."""
        accepted = duplicates = 0
        for message in ordered([item for item in items if isinstance(item, InboundMessage)]):
            if self._append_and_restart(message):
                accepted += 1
            else:
                duplicates += 1
        return IngestResult(accepted=accepted, duplicates=duplicates)

    def _append_and_restart(self, message: InboundMessage) -> bool:
        key = {"pk": {"S": message.conversation_key}, "sk": {"S": BUFFER_SK}}
        try:
            item = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item", {})
            ids = set(item.get("ids", {}).get("SS", []))
            if message.message_id in ids:
                return False
            buffered = item.get("messages", {}).get("L", [])
            burst = int(item.get("burst", {}).get("N", "1"))
            version = int(item.get("version", {}).get("N", "0")) + 1
            document = message.model_dump_json(exclude_defaults=True)
            digest = hashlib.sha256(message.conversation_key.encode()).hexdigest()[:40]
            name = f"naive-{digest}-{burst}-{version}"
            execution_arn = self._arn.replace(":stateMachine:", ":execution:") + f":{name}"
            now = int(time.time())
            # No condition: the naive design's lost update under concurrent posts to one conversation.
            self._db.put_item(
                TableName=self._table,
                Item={
                    **key,
                    "burst": _n(burst),
                    "version": _n(version),
                    "messages": {"L": [*buffered, {"S": document}]},
                    "ids": {"SS": sorted(ids | {message.message_id})},
                    "msg_count": _n(len(buffered) + 1),
                    "size_bytes": _n(int(item.get("size_bytes", {}).get("N", "0")) + len(document.encode())),
                    "expires_at": _n(now + self._settings.buffer_ttl_seconds),
                    "execution": {"S": execution_arn},
                },
            )
            previous = item.get("execution", {}).get("S")
            if buffered and previous:
                with contextlib.suppress(ClientError):  # it already woke up and ended
                    self._sfn.stop_execution(executionArn=previous)
            self._sfn.start_execution(
                stateMachineArn=self._arn,
                name=name,
                input=json.dumps(
                    {
                        "conversation_key": message.conversation_key,
                        "burst": str(burst),
                        "debounce_seconds": self._settings.debounce_seconds,
                    }
                ),
            )
        except ClientError as e:
            raise RetryableError(f"naive ingest: {e.response.get('Error', {}).get('Code', '')}") from e
        return True


class NaiveDesign:
    """Installs the naive state machine and functions next to the real ones on a started LocalRuntime."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.state_machine_arn = ""

    def install(self) -> NaiveDesign:
        """Create the naive state machine; register naive_post, naive_process and naive_reply."""
        emulator = self.runtime.emulator
        with emulator.running_as("setup"):
            definition = render_file(
                DEFINITION,
                {
                    "process_message_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PROCESS}",
                    "reply_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{REPLY}",
                },
            )
            sfn = boto3.client("stepfunctions", region_name=REGION)
            self.state_machine_arn = sfn.create_state_machine(
                name=f"{self.runtime.name}-naive",
                definition=definition,
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/{self.runtime.name}-naive-sfn",
                type="STANDARD",
            )["stateMachineArn"]
        settings = Settings()
        ingest = NaiveIngest(
            boto3.client("dynamodb", region_name=REGION),
            boto3.client("stepfunctions", region_name=REGION),
            table=self.runtime.table_name,
            state_machine_arn=self.state_machine_arn,
            settings=settings,
        )
        # The deployment's scope only: the naive design has no tenants.
        scopes = PerTenant(settings, lambda own, secrets, tenant: Scope(own, secrets, ingest, tenant))
        app = build_app(scopes)
        logger, tracer = Logger(), Tracer()

        # Decorated like lambda/post_message/handler.py, so the two webhooks differ only in what they call.
        @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
        @tracer.capture_lambda_handler
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            return app.resolve(event, context)

        emulator.functions[POST] = handler
        emulator.functions[PROCESS] = self.runtime.handlers["process_message"].handler
        emulator.functions[REPLY] = self.runtime.handlers["reply"].handler
        return self

    def http(
        self, method: str, path: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None, query: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """One request through naive_post, as API Gateway would deliver it."""
        event = api_gateway_event(method, path, body=body, headers=headers or {}, query=query)
        response = self.runtime.emulator.invoke(POST, event)
        payload = response.get("body") or ""
        raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        return int(response["statusCode"]), dict(response.get("headers") or {}), raw


class NaiveFront(LocalRuntime):
    """A LocalRuntime whose webhook routes go to the naive design (what LocalServer serves)."""

    naive: NaiveDesign

    def start(self) -> NaiveFront:
        """Start the runtime, then install the naive design on it."""
        super().start()
        self.naive = NaiveDesign(self).install()
        return self

    def http(
        self, method: str, path: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None, query: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """Webhook requests go to naive_post; anything else is answered by it too (same routes)."""
        return self.naive.http(method, path, body=body, headers=headers, query=query)


def main(argv: list[str] | None = None) -> int:
    """Serve the naive design on 127.0.0.1 until terminated."""
    parser = argparse.ArgumentParser(description="serve the naive baseline locally (benchmark only)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    runtime = NaiveFront().start()
    server = LocalServer(runtime, "127.0.0.1", args.port)
    print(f"naive baseline serving on http://127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        runtime.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
