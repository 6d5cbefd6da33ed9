"""The local console's live feed: each conversation's decision log (debouncer.domain.timeline), pushed as it changes.

The emulator calls `ConsoleHub.table_written` after every DynamoDB write with the request's body: it only queues the
body (O(1), no lock), and nothing at all while no console is connected. One worker thread coalesces the writes of
COALESCE_SECONDS, reads the conversations they touched (outside any write, under the emulator's lock only for its own
queries, as `debouncer explain` reads them) and hands each rebuilt conversation to every subscriber's bounded queue.
A subscriber whose queue is full (a stalled browser) is dropped, never waited for.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from debouncer.domain.models import CHANNELS
from debouncer.domain.privacy import conversation_ref

if TYPE_CHECKING:
    from debouncer.domain.timeline import ExecutionRecord, FlushRules
    from debouncer.local.runtime import LocalRuntime

log = logging.getLogger("debouncer.local")

COALESCE_SECONDS = 0.1
KEEPALIVE_SECONDS = 15.0
SUBSCRIBER_CAPACITY = 256  # frames a console may fall behind by before it is dropped
SNAPSHOT_LIMIT = 100  # conversations in a snapshot, most recently active first
_CLOSED = b""
# What a turn carries once its executions are over: their records are read once more, then kept.
SETTLED_MARKS = ("delivered_at", "failed_at", "superseded_at", "withheld_at")  # the frame that tells a stream to end

Rebuild = Callable[[str], "dict[str, Any] | None"]


def frame(event: str, data: object) -> bytes:
    """One Server-Sent Events frame (json.dumps writes no newline, so the data is one line)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@dataclass(eq=False)
class Subscriber:
    """One connected console: the frames not yet written to it."""

    frames: queue.Queue[bytes] = field(default_factory=lambda: queue.Queue(SUBSCRIBER_CAPACITY))
    dropped: bool = False


def changed_conversations(action: str, body: bytes | str | None) -> set[str]:
    """The conversation keys (pk) a DynamoDB write names; other partitions (directory, tenants) are left out."""
    try:
        document = json.loads(body or b"{}")
        keys = _written_keys(action, document)
    except (ValueError, AttributeError, TypeError):  # not a request our code would send: nothing to show
        return set()
    found = set()
    for key in keys:
        pk = key.get("pk", {}).get("S") if isinstance(key, dict) else None
        if isinstance(pk, str) and pk.count("#") >= 2 and pk.split("#", 1)[0] in CHANNELS:
            found.add(pk)
    return found


def _written_keys(action: str, document: dict[str, Any]) -> list[Any]:
    keys: list[Any] = []
    if action == "dynamodb:PutItem":
        keys.append(document.get("Item"))
    elif action in ("dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        keys.append(document.get("Key"))
    elif action == "dynamodb:TransactWriteItems":
        for item in document.get("TransactItems", []):
            keys += [operation.get("Item") or operation.get("Key") for operation in item.values()]
    elif action == "dynamodb:BatchWriteItem":
        for requests in document.get("RequestItems", {}).values():
            for request in requests:
                keys += [(r.get("Item") or r.get("Key")) for r in request.values()]
    return keys


def conversation_document(key: str, timeline: dict[str, Any], now: float) -> dict[str, Any]:
    """A conversation as the console draws it: its pseudonym, its parts, its decision log and its open burst."""
    channel, account, recipient = key.split("#", 2)
    events: list[dict[str, Any]] = timeline["events"]
    waiting = next((e for e in reversed(events) if e["kind"] == "waiting"), None)
    open_burst = None
    if waiting is not None:
        details = waiting["details"]
        open_burst = {
            "burst": waiting["burst"],
            "quiet_deadline": details.get("quiet_deadline"),
            "cap_deadline": details.get("cap_deadline"),
        }
    return {
        "key_ref": conversation_ref(key),
        "channel": channel,
        "account": account,
        "recipient": recipient,
        "now": now,
        "timeline": events,
        "open": open_burst,
    }


class ConsoleHub:
    """Subscribers, the queue of table writes, and the worker that turns writes into conversation events."""

    def __init__(self, rebuild: Rebuild) -> None:
        self._rebuild = rebuild
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._writes: queue.SimpleQueue[tuple[str, bytes | str | None]] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._worker: threading.Thread | None = None

    def table_written(self, action: str, body: bytes | str | None) -> None:
        """The emulator's hook: queue the write for the worker (nothing while no console listens)."""
        if self._subscribers:
            self._writes.put((action, body))

    def subscribe(self) -> Subscriber:
        """A new console; starts the worker on first use."""
        subscriber = Subscriber()
        with self._lock:
            self._subscribers.add(subscriber)
            if self._worker is None and not self._closed.is_set():
                self._worker = threading.Thread(target=self._work, name="console-live", daemon=True)
                self._worker.start()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a console (its connection ended)."""
        with self._lock:
            self._subscribers.discard(subscriber)

    def publish(self, event: str, data: object) -> None:
        """Hand one event to every console without waiting: a console whose queue is full is dropped."""
        encoded = frame(event, data)
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber.frames.put_nowait(encoded)
            except queue.Full:
                subscriber.dropped = True
                self.unsubscribe(subscriber)

    def stream(self, snapshot: Callable[[], object]) -> Iterator[bytes]:
        """One console's frames: the snapshot, then each event as it comes, a keepalive comment when idle."""
        subscriber = self.subscribe()  # before the snapshot: a change made while it is read is sent after it
        try:
            yield frame("snapshot", snapshot())
            while not (subscriber.dropped or self._closed.is_set()):
                try:
                    encoded = subscriber.frames.get(timeout=KEEPALIVE_SECONDS)
                except queue.Empty:
                    yield b": keepalive\n\n"
                    continue
                if encoded == _CLOSED:
                    return
                yield encoded
        finally:
            self.unsubscribe(subscriber)

    def close(self) -> None:
        """End every stream and the worker (the server is shutting down)."""
        self._closed.set()
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber.frames.put_nowait(_CLOSED)
            except queue.Full:
                subscriber.dropped = True
        self._writes.put(("", None))  # wakes the worker

    def _work(self) -> None:
        while not self._closed.is_set():
            action, body = self._writes.get()
            time.sleep(COALESCE_SECONDS)  # the writes of one step (a claim, a reply) come together
            writes = [(action, body)]
            while True:
                try:
                    writes.append(self._writes.get_nowait())
                except queue.Empty:
                    break
            keys: set[str] = set().union(*(changed_conversations(a, b) for a, b in writes if a))
            for key in sorted(keys):
                if not self._subscribers or self._closed.is_set():
                    break
                try:
                    document = self._rebuild(key)
                except Exception:  # a failed read must not end the feed
                    log.exception("console: could not rebuild conversation %s", conversation_ref(key))
                    continue
                if document is not None:
                    self.publish("conversation", document)


class ConversationReader:
    """Reads conversations from the runtime's table as `debouncer explain` does (text shown: local test data).

    A burst's execution records are read once its execution has started, then once more when its turn settles (a
    timer_started event shows the status of that read): a rebuild describes no execution most of the time, so a
    long conversation costs no more DescribeExecution calls than a short one.
    """

    def __init__(self, runtime: LocalRuntime) -> None:
        import boto3

        from debouncer.local.runtime import REGION

        self._runtime = runtime
        with runtime.emulator.running_as("operator"):
            self._dynamodb = boto3.client("dynamodb", region_name=REGION)
            self._stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        self._rules: dict[str, FlushRules] = {}  # by "<channel>#<account>": Settings() costs milliseconds
        # Each burst's execution records, and whether they are final (its turn settled, its executions over).
        self._known: dict[tuple[str, int], tuple[list[ExecutionRecord], bool]] = {}

    def conversation(self, key: str) -> dict[str, Any] | None:
        """The conversation's document (conversation_document), None when the table holds nothing of it."""
        from debouncer.adapters.dynamodb import conversation_items
        from debouncer.domain.timeline import build_timeline

        items = conversation_items(_EmulatedPartition(self._runtime), self._runtime.table_name, key)
        if not items:
            return None
        with self._runtime.emulator.running_as("operator"):
            executions = self._executions(key, items)
        account = key.rsplit("#", 1)[0]  # the settings are the account's (its tenant's) and never change while running
        rules = self._rules.get(account)
        if rules is None:
            rules = self._rules[account] = self._runtime.flush_rules(key)
        timeline = build_timeline(key, items, executions=executions, flush_rules=rules, show_text=True)
        return conversation_document(key, timeline.to_json(), time.time())

    def _executions(self, key: str, items: list[dict[str, Any]]) -> list[ExecutionRecord]:
        from debouncer.adapters.execution_history import execution_records

        if self._runtime.workflow_type == "EXPRESS":  # Express keeps no history to describe
            return []
        bursts = {int(i["burst"]) for i in items if "burst" in i and str(i["sk"]).startswith(("turn#", "buffer"))}
        settled = {
            int(i["burst"])
            for i in items
            if str(i["sk"]).startswith("turn#") and any(end in i for end in SETTLED_MARKS)
        }
        # Read again: a burst never read, one whose execution had not started yet, one that settled since its read.
        stale = [
            b
            for b in sorted(bursts)
            if (known := self._known.get((key, b))) is None or not known[0] or (b in settled and not known[1])
        ]
        fresh = execution_records(self._stepfunctions, self._runtime.state_machine_arn, key, stale)
        for burst in stale:
            of_burst = [r for r in fresh if r.burst == burst]
            self._known[(key, burst)] = (of_burst, burst in settled and all(r.status != "RUNNING" for r in of_burst))
        return [r for b in sorted(bursts) for r in self._known[(key, b)][0]]

    def all_conversations(self) -> list[dict[str, Any]]:
        """Every conversation with a buffer or a turn, most recently active first (at most SNAPSHOT_LIMIT)."""
        with self._runtime.emulator.running_as("operator"):
            pages = self._dynamodb.get_paginator("scan").paginate(
                TableName=self._runtime.table_name,
                ProjectionExpression="pk, opened_at, claimed_at",
                FilterExpression="sk = :buffer OR begins_with(sk, :turn)",
                ExpressionAttributeValues={":buffer": {"S": "buffer"}, ":turn": {"S": "turn#"}},
            )
            active: dict[str, float] = {}
            for item in (item for page in pages for item in page.get("Items", [])):
                at = max(float(item.get(name, {}).get("N", 0)) for name in ("opened_at", "claimed_at"))
                active[item["pk"]["S"]] = max(at, active.get(item["pk"]["S"], 0.0))
        # Only the most recently active are read whole: a long session's table holds many conversations.
        recent = sorted(active, key=lambda key: active[key], reverse=True)[:SNAPSHOT_LIMIT]
        documents = [d for key in recent if (d := self.conversation(key)) is not None]
        documents.sort(key=lambda d: max((e["at"] for e in d["timeline"]), default=0.0), reverse=True)
        return documents[:SNAPSHOT_LIMIT]


class _EmulatedPartition:
    """What conversation_items asks of a DynamoDB client (one consistent Query of a partition), answered from moto's
    table under the emulator's lock without the request's round trip: moto's Query spends ~20 ms of CPU, mostly
    serializing, under that lock, which every webhook waits for; this holds it for well under a millisecond."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self._runtime = runtime

    def get_paginator(self, operation: str) -> _EmulatedPartition:
        assert operation == "query"
        return self

    def paginate(self, **query: Any) -> list[dict[str, Any]]:
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        from debouncer.local.runtime import ACCOUNT, REGION

        partition = DynamoType(query["ExpressionAttributeValues"][":pk"])
        with self._runtime.emulator.lock:
            table = dynamodb_backends[ACCOUNT][REGION].get_table(query["TableName"])
            stored = dict(table.items.get(partition) or {})  # .get: the defaultdict must not grow an empty partition
            items = [stored[sk].to_json()["Attributes"] for sk in sorted(stored, key=lambda sk: sk.value)]
        # Binary values are of no timeline (moto gives them base64-encoded, as text).
        return [{"Items": [{k: v for k, v in item.items() if not {"B", "BS"} & set(v)} for item in items]}]


@dataclass
class Console:
    """What the console routes share per runtime: the hub and the reader it rebuilds conversations with."""

    hub: ConsoleHub
    reader: ConversationReader


_consoles: weakref.WeakKeyDictionary[LocalRuntime, Console] = weakref.WeakKeyDictionary()
_consoles_lock = threading.Lock()


def console_for(runtime: LocalRuntime) -> Console:
    """The runtime's console, created (and hooked to the emulator's table writes) on first use."""
    with _consoles_lock:
        console = _consoles.get(runtime)
        if console is None:
            reader = ConversationReader(runtime)
            hub = ConsoleHub(reader.conversation)
            runtime.emulator.table_write_listeners.append(hub.table_written)
            console = _consoles[runtime] = Console(hub, reader)
        return console


def close_console(runtime: LocalRuntime) -> None:
    """End the runtime's console streams, if it has any."""
    with _consoles_lock:
        console = _consoles.pop(runtime, None)
    if console is not None:
        console.hub.close()
        if console.hub.table_written in runtime.emulator.table_write_listeners:
            runtime.emulator.table_write_listeners.remove(console.hub.table_written)
