"""The DynamoDB adapter: buffer, turns (history) and dedupe records in one table. Every expression lives here."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from debouncer.burst import cap_deadline, concatenate, first_burst, iso_second, ordered, quiet_deadline
from debouncer.errors import ReplyLeaseHeldError, RetryableError
from debouncer.media.model import ResolvedMedia
from debouncer.models import InboundMessage
from debouncer.ports import AppendResult, HistoryEntry, Turn

BUFFER_SK = "buffer"
# Every item stays under DynamoDB's 400 KB (AWS refuses above 409,600 bytes, moto above 405,000), so no write of a turn
# can fail forever: the claim copies the buffer's messages into the turn, and the answer and the settlement come after.
ITEM_LIMIT = 400_000
# The stored answer is cut to its first 64 KiB of UTF-8 (on a character boundary): sixteen WhatsApp messages and more.
ANSWER_LIMIT = 64 * 1024
# Why the AI or the channel failed (ai_failure, failure): cut to 1 KiB each.
REASON_LIMIT = 1024
# What the burst's media resolved to (media keys and short reasons: media.resolve reads at most 10 items a burst; the
# bytes and transcripts live in the media bucket).
MEDIA_LIMIT = 8 * 1024
# The rest of a turn: keys (a conversation key is up to 2,048 bytes), attribute names, the claimer's execution ARN,
# numbers, the reply lease, and DynamoDB's byte of overhead per list element.
TURN_OVERHEAD = 16 * 1024
# What the buffer's messages may take, as size_bytes counts them (document and id): above max_buffer_bytes' ceiling
# (256 KiB), so a burst flushes on size before it is full; a message that does not fit waits for the next burst.
BUFFER_LIMIT = ITEM_LIMIT - ANSWER_LIMIT - 2 * REASON_LIMIT - MEDIA_LIMIT - TURN_OVERHEAD
# A transaction holds at most 100 items: the buffer update, the turn, and up to 98 dedupe records.
DEDUPE_IN_CLAIM = 98
THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionInProgressException",
}

NAMES = {
    "#messages": "messages",
    "#version": "version",
    "#burst": "burst",
    "#quiet": "quiet_deadline",
    "#cap": "cap_deadline",
    "#expires": "expires_at",
    "#ids": "ids",
    "#count": "msg_count",
    "#bytes": "size_bytes",
}


# Burst numbers start from the clock in milliseconds (13 digits, burst.first_burst); 20 digits hold any 64-bit one.
TURN_DIGITS = 20


def turn_sk(burst: int) -> str:
    """Zero-padded so turns sort by burst number, across buffer lifetimes too, for the history query."""
    return f"turn#{burst:0{TURN_DIGITS}d}"


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _cut(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` bytes of UTF-8, whole characters only."""
    encoded = text.encode()
    return text if len(encoded) <= limit else encoded[:limit].decode(errors="ignore")


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _retryable(error: ClientError, what: str) -> RetryableError:
    return RetryableError(f"DynamoDB {what}: {_error_code(error)}")


def _messages(item: dict[str, Any]) -> list[InboundMessage]:
    return [InboundMessage.model_validate_json(v["S"]) for v in item.get("messages", {}).get("L", [])]


class DynamoDbStore:
    """Implements MessageBuffer on one table (key schema: schemas/dynamodb-table.json)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        debounce_seconds: int,
        max_wait_seconds: int,
        buffer_ttl_seconds: int,
        history_ttl_seconds: int,
        dedupe_ttl_seconds: int,
        reply_lease_seconds: int,
    ) -> None:
        self._client = client
        # Longer than one reply attempt (debouncer.workflow.reply_lease_seconds): Express's time limit counts its wait.
        self._reply_lease = reply_lease_seconds
        self._table = table_name
        self._debounce = debounce_seconds
        self._max_wait = max_wait_seconds
        self._buffer_ttl = buffer_ttl_seconds
        self._history_ttl = history_ttl_seconds
        self._dedupe_ttl = dedupe_ttl_seconds

    def _key(self, conversation_key: str, sk: str) -> dict[str, dict[str, str]]:
        return {"pk": _s(conversation_key), "sk": _s(sk)}

    def append(self, message: InboundMessage, now: float) -> AppendResult:
        """One atomic UpdateItem: append, dedupe by id, bump version, move the deadline, open a burst if none is.

        A message the open burst has no room for (BUFFER_LIMIT) is not stored: AppendResult.full.
        """
        document = message.document
        # Counted as the webhook measures a message against its per-request limit: the document and the id in the set.
        size = len(document.encode()) + len(message.message_id.encode())
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(message.conversation_key, BUFFER_SK),
                UpdateExpression=(
                    "SET #messages = list_append(if_not_exists(#messages, :empty), :message), "
                    "#version = if_not_exists(#version, :zero) + :one, "
                    "#burst = if_not_exists(#burst, :first), "
                    "#quiet = :quiet, #cap = if_not_exists(#cap, :cap), #expires = :expires "
                    "ADD #ids :id_set, #count :one, #bytes :size"
                ),
                ConditionExpression=(
                    "(attribute_not_exists(#ids) OR NOT contains(#ids, :id)) AND "
                    "(attribute_not_exists(#bytes) OR #bytes <= :room)"
                ),
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues={
                    ":empty": {"L": []},
                    ":message": {"L": [_s(document)]},
                    ":zero": _n(0),
                    ":one": _n(1),
                    # A fresh item (the first ever, or after TTL deleted an idle one) never reuses a burst number.
                    ":first": _n(first_burst(now)),
                    ":quiet": _s(quiet_deadline(now, self._debounce)),
                    ":cap": _s(cap_deadline(now, self._max_wait)),
                    ":expires": _n(int(now) + self._buffer_ttl),
                    ":id_set": {"SS": [message.message_id]},
                    ":id": _s(message.message_id),
                    ":size": _n(size),
                    ":room": _n(BUFFER_LIMIT - size),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if _error_code(e) == "ConditionalCheckFailedException":
                old = e.response.get("Item", {})
                first = _messages({"messages": {"L": old.get("messages", {}).get("L", [])[:1]}})
                duplicate = message.message_id in old.get("ids", {}).get("SS", [])
                return AppendResult(
                    burst=int(old["burst"]["N"]),
                    count=int(old["msg_count"]["N"]),
                    size=int(old["size_bytes"]["N"]),
                    duplicate=duplicate,
                    quiet_deadline=old.get("quiet_deadline", {}).get("S"),
                    opened_burst=bool(first) and first[0].message_id == message.message_id,
                    full=not duplicate,
                )
            raise _retryable(e, "append") from e
        new = response["Attributes"]
        count = int(new["msg_count"]["N"])
        return AppendResult(
            burst=int(new["burst"]["N"]),
            count=count,
            size=int(new["size_bytes"]["N"]),
            quiet_deadline=new["quiet_deadline"]["S"],
            opened_burst=count == 1,
        )

    def claim(self, conversation_key: str, burst: int, claimer: str, now: float) -> Turn | None:
        """Move the open burst into its turn record, exactly once (optimistic on burst number and version)."""
        for _ in range(10):
            item = self._get(conversation_key, BUFFER_SK)
            if (
                item is None
                or int(item.get("burst", {}).get("N", "0")) != burst
                or not item.get("messages", {}).get("L")
            ):
                turn = self.load_turn(conversation_key, burst)
                # A retry of the execution that claimed (a crash after the claim) carries on with its turn.
                return turn if turn is not None and turn.claimed_by == claimer else None
            turn = self._try_claim(conversation_key, burst, claimer, now, item)
            if turn is not None:
                return turn
        raise RetryableError("the buffer kept moving while claiming; retry")

    def _try_claim(
        self, conversation_key: str, burst: int, claimer: str, now: float, item: dict[str, Any]
    ) -> Turn | None:
        messages = ordered(_messages(item))
        dropped: list[str] = []
        while True:
            keep = [m for m in messages if m.message_id not in dropped]
            try:
                self._client.transact_write_items(
                    TransactItems=self._claim_items(conversation_key, burst, claimer, now, item, keep, dropped)
                )
            except ClientError as e:
                if _error_code(e) != "TransactionCanceledException":
                    raise _retryable(e, "claim") from e
                reasons = [r.get("Code", "None") for r in e.response.get("CancellationReasons", [])]
                if any(code not in ("None", "ConditionalCheckFailed") for code in reasons):
                    # A conflict or throttling: only a failed condition says what the item holds.
                    raise RetryableError(f"claim transaction cancelled: {reasons}") from e
                if not reasons or reasons[0] != "None":
                    return None  # the buffer moved (a new message, or another claim): read again
                duplicates = [keep[i - 2].message_id for i, code in enumerate(reasons[2:], 2) if code != "None"]
                if not duplicates:
                    raise RetryableError(f"claim transaction cancelled: {reasons}") from e
                dropped.extend(duplicates)  # answered in an earlier burst: a late redelivery
                continue
            self._write_late_dedupe(conversation_key, burst, now, keep[DEDUPE_IN_CLAIM:])
            return Turn(conversation_key, burst, tuple(keep), claimer, dropped_duplicates=tuple(dropped))

    def _claim_items(
        self,
        conversation_key: str,
        burst: int,
        claimer: str,
        now: float,
        item: dict[str, Any],
        keep: list[InboundMessage],
        dropped: list[str],
    ) -> list[dict[str, Any]]:
        expires = _n(int(now) + self._history_ttl)
        turn = {
            **self._key(conversation_key, turn_sk(burst)),
            "burst": _n(burst),
            "messages": {"L": [_s(m.document) for m in keep]},
            "claimed_by": _s(claimer),
            "claimed_at": _n(int(now)),
            "parts_sent": _n(0),
            "expires_at": expires,
        }
        if dropped:
            turn["dropped_duplicates"] = {"L": [_s(d) for d in dropped]}
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(conversation_key, BUFFER_SK),
                    "UpdateExpression": "SET #burst = :next REMOVE #messages, #ids, #count, #bytes, #quiet, #cap",
                    "ConditionExpression": "#burst = :burst AND #version = :version",
                    "ExpressionAttributeNames": {
                        k: NAMES[k]
                        for k in ("#burst", "#messages", "#ids", "#count", "#bytes", "#quiet", "#cap", "#version")
                    },
                    "ExpressionAttributeValues": {
                        # Past the clock too: a buffer numbered before bursts started from the clock (a counter
                        # that began at 1) leaves the numbers of its earlier lifetimes behind at its next claim.
                        ":next": _n(max(burst + 1, first_burst(now))),
                        ":burst": _n(burst),
                        ":version": item["version"],
                    },
                }
            },
            {"Put": {"TableName": self._table, "Item": turn, "ConditionExpression": "attribute_not_exists(pk)"}},
            *(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._dedupe_item(conversation_key, m.message_id, burst, now),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for m in keep[:DEDUPE_IN_CLAIM]
            ),
        ]

    def _dedupe_item(self, conversation_key: str, message_id: str, burst: int, now: float) -> dict[str, Any]:
        return {
            **self._key(conversation_key, f"msg#{message_id}"),
            "burst": _n(burst),
            "expires_at": _n(int(now) + self._dedupe_ttl),
        }

    def _write_late_dedupe(self, conversation_key: str, burst: int, now: float, rest: list[InboundMessage]) -> None:
        # Only bursts that grew past one transaction get here (arrivals during a flush); after the claim is enough.
        for message in rest:
            self._client.put_item(
                TableName=self._table, Item=self._dedupe_item(conversation_key, message.message_id, burst, now)
            )

    def history(self, conversation_key: str, before_burst: int, limit: int) -> list[HistoryEntry]:
        """The last `limit` answered turns before this burst, oldest first."""
        if limit <= 0 or before_burst <= 1:
            return []
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": _s(conversation_key),
                ":lo": _s(turn_sk(0)),
                ":hi": _s(turn_sk(before_burst - 1)),
            },
            ProjectionExpression="messages, answer, failed_at",
            ScanIndexForward=False,
            Limit=limit,
        )
        entries = [
            HistoryEntry(user=concatenate(_messages(item)), assistant=item["answer"]["S"])
            for item in response.get("Items", [])
            if "answer" in item and "failed_at" not in item  # a failed reply never reached the user
        ]
        return entries[::-1]

    def record_answer(self, conversation_key: str, burst: int, answer: str, ai_failure: str | None = None) -> None:
        """Store the answer once; a concurrent or earlier run of the burst that settled the turn first keeps its own.

        What is stored, and so sent, is the answer's first ANSWER_LIMIT bytes: with the burst's messages (at most
        BUFFER_LIMIT) and everything recorded later, the turn stays one item.
        `ai_failure`: why the AI failed, when the answer is the fallback message (reported once: report_ai_failure).
        """
        values = {":answer": _s(_cut(answer, ANSWER_LIMIT))}
        if ai_failure is not None:
            values[":ai_failure"] = _s(_cut(ai_failure, REASON_LIMIT))
        self._settle(
            conversation_key,
            burst,
            "SET answer = :answer" + (", ai_failure = :ai_failure" if ai_failure is not None else ""),
            "attribute_exists(pk) AND attribute_not_exists(answer) AND attribute_not_exists(failed_at)",
            values,
            "record answer",
        )

    def record_media(self, conversation_key: str, burst: int, media: tuple[ResolvedMedia, ...]) -> None:
        """Record once what the burst's media resolved to (object keys, transcripts' keys, problems); a run that
        finds it recorded by another keeps the other's (the keys are the same: both stored the same bytes)."""
        document = json.dumps([asdict(m) for m in media], separators=(",", ":"))
        if len(document.encode()) > MEDIA_LIMIT:
            raise ValueError(f"media record of {len(document.encode())} bytes is over {MEDIA_LIMIT}")
        self._settle(
            conversation_key,
            burst,
            "SET media = :media",
            "attribute_exists(pk) AND attribute_not_exists(media)",
            {":media": _s(document)},
            "record media",
        )

    def record_ai_failure(self, conversation_key: str, burst: int, reason: str, now: float) -> bool:
        """Mark an unanswered turn failed for good; False when another run answered or failed it first."""
        return (
            self._settle(
                conversation_key,
                burst,
                "SET failed_at = :now, failure = :reason",
                "attribute_exists(pk) AND attribute_not_exists(answer) AND attribute_not_exists(failed_at)",
                {":now": _n(int(now)), ":reason": _s(_cut(reason, REASON_LIMIT))},
                "record AI failure",
            )
            is not None
        )

    def record_reply_failure(self, conversation_key: str, burst: int, token: str, reason: str, now: float) -> None:
        """Mark a turn failed for good and drop its lease, so a duplicate run neither waits for it nor sends again."""
        self._settle(
            conversation_key,
            burst,
            "SET failed_at = :now, failure = :reason REMOVE reply_lease",
            "reply_lease = :token",
            {":now": _n(int(now)), ":reason": _s(_cut(reason, REASON_LIMIT)), ":token": _s(token)},
            "record reply failure",
        )

    def report_ai_failure(self, conversation_key: str, burst: int, now: float) -> str | None:
        """Why the AI failed, to the first caller only: None when the answer is the AI's, or the failure was already
        reported, or the turn failed for good (its DLQ record has the channel's reason)."""
        item = self._settle(
            conversation_key,
            burst,
            "SET ai_failure_reported = :now",
            "attribute_exists(ai_failure) AND attribute_not_exists(ai_failure_reported) AND "
            "attribute_not_exists(failed_at)",
            {":now": _n(int(now))},
            "report AI failure",
            returning=True,
        )
        return None if item is None else str(item["ai_failure"]["S"])

    def _settle(
        self,
        conversation_key: str,
        burst: int,
        update: str,
        condition: str,
        values: dict[str, Any],
        what: str,
        *,
        returning: bool = False,
    ) -> dict[str, Any] | None:
        """One conditional update of a turn; None when the condition did not hold, else the turn as it now is when
        `returning` (empty otherwise: a turn can hold a large burst)."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, turn_sk(burst)),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW" if returning else "NONE",
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, what) from e
            return None
        item: dict[str, Any] = response.get("Attributes", {})
        return item

    def load_turn(self, conversation_key: str, burst: int) -> Turn | None:
        """Read a turn with a consistent read."""
        item = self._get(conversation_key, turn_sk(burst))
        return None if item is None else _turn(conversation_key, item)

    def acquire_reply(self, conversation_key: str, burst: int, token: str, now: float) -> Turn | None:
        """Take (or renew) the reply lease of a turn; None when it has no answer yet, and the turn as it is once it
        was delivered or failed (nothing left to send).

        Raises ReplyLeaseHeldError while another token holds a live lease.
        """
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, turn_sk(burst)),
                UpdateExpression="SET reply_lease = :token, lease_expires = :expires",
                ConditionExpression=(
                    "attribute_exists(answer) AND attribute_not_exists(delivered_at) AND "
                    "attribute_not_exists(failed_at) AND "
                    "(attribute_not_exists(reply_lease) OR reply_lease = :token OR lease_expires < :now)"
                ),
                ExpressionAttributeValues={
                    ":token": _s(token),
                    ":expires": _n(int(now) + self._reply_lease),
                    ":now": _n(int(now)),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "acquire reply") from e
            old = e.response.get("Item")
            if not old or "answer" not in old:
                return None
            if "delivered_at" in old or "failed_at" in old:
                return _turn(conversation_key, old)  # settled: nothing to send, and the caller can tell how
            # The lease can be taken once lease_expires < now, i.e. from the second after it.
            until = int(old.get("lease_expires", {}).get("N", str(int(now)))) + 1
            raise ReplyLeaseHeldError(f"another run holds the lease until {iso_second(until)}") from e
        return _turn(conversation_key, response["Attributes"])

    def record_delivery(
        self, conversation_key: str, burst: int, token: str, parts_sent: int, *, done: bool, now: float
    ) -> None:
        """Record each part as it leaves, so a retried reply never sends a part twice."""
        expression = "SET parts_sent = :n" + (", delivered_at = :now REMOVE reply_lease" if done else "")
        values = {":n": _n(parts_sent), ":token": _s(token)}
        if done:
            values[":now"] = _n(int(now))
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, turn_sk(burst)),
                UpdateExpression=expression,
                ConditionExpression="reply_lease = :token",
                ExpressionAttributeValues=values,
            )
        except ClientError as e:
            raise _retryable(e, "record delivery") from e

    def _get(self, conversation_key: str, sk: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key=self._key(conversation_key, sk), ConsistentRead=True
            )
        except ClientError as e:
            raise _retryable(e, "read") from e
        item: dict[str, Any] | None = response.get("Item")
        return item


def _turn(conversation_key: str, item: dict[str, Any]) -> Turn:
    return Turn(
        conversation_key=conversation_key,
        burst=int(item["burst"]["N"]),
        messages=tuple(_messages(item)),
        claimed_by=item.get("claimed_by", {}).get("S", ""),
        answer=item.get("answer", {}).get("S"),
        parts_sent=int(item.get("parts_sent", {}).get("N", "0")),
        delivered="delivered_at" in item,
        failed="failed_at" in item,
        ai_failure=item.get("ai_failure", {}).get("S"),
        dropped_duplicates=tuple(d["S"] for d in item.get("dropped_duplicates", {}).get("L", [])),
        media=None if "media" not in item else tuple(ResolvedMedia(**m) for m in json.loads(item["media"]["S"])),
    )
