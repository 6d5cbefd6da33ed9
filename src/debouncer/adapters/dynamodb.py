"""The DynamoDB adapter: buffer, turns (history) and dedupe records in one table. Every expression lives here."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer
from botocore.exceptions import ClientError

from debouncer.domain.burst import (
    cap_deadline,
    concatenate,
    due_at,
    epoch_of,
    first_burst,
    is_due,
    iso_second,
    ordered,
    quiet_deadline,
)
from debouncer.domain.errors import BurstNotDueError, ReplyLeaseHeldError, RetryableError
from debouncer.domain.models import BusinessEcho, InboundMessage, MessageChange
from debouncer.domain.ports import AppendResult, ChangeOutcome, HistoryEntry, ReplyStart, Turn
from debouncer.media.model import ResolvedMedia

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
# The decision log `debouncer explain` reads (debouncer.domain.timeline): each message's arrival time (a number of at
# most 11 bytes in a list, per message: a message takes at least 130 bytes, so at most ~2,100 of them fit) and the
# first MAX_RECORDED_EDITS edits' times on the turn.
DECISIONS_RESERVE = 40 * 1024
MAX_RECORDED_EDITS = 100
# What the buffer's messages may take, as size_bytes counts them (document and id): above max_buffer_bytes' ceiling
# (256 KiB), so a burst flushes on size before it is full; a message that does not fit waits for the next burst.
BUFFER_LIMIT = ITEM_LIMIT - ANSWER_LIMIT - 2 * REASON_LIMIT - MEDIA_LIMIT - TURN_OVERHEAD - DECISIONS_RESERVE
# At most this many pages of turns are read for one history (each of 2 x ai_history_turns turns).
HISTORY_PAGES = 5
# A transaction holds at most 100 items: the buffer update, the turn, the directory entry, the superseded turn, and up
# to 96 dedupe records.
DEDUPE_IN_CLAIM = 96
THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionInProgressException",
}

# A turn whose answer may still be replaced or withheld: nothing of it committed, nothing settled.
UNSTARTED = (
    "attribute_not_exists(reply_started) AND attribute_not_exists(superseded_at) AND "
    "attribute_not_exists(withheld_at) AND attribute_not_exists(failed_at) AND attribute_not_exists(delivered_at)"
)
# No run of any execution sends for a turn that is superseded or withheld: a later turn answers it, or a human does.
NOT_REPLACED = "attribute_not_exists(superseded_at) AND attribute_not_exists(withheld_at)"

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
    "#opened": "opened_at",
    "#deleted": "deleted_ids",
    "#held": "held_ids",
    "#carried": "carried",
    "#last": "last_turn",
    "#paused": "paused_until",
    "#replying": "replying_until",
    "#arrivals": "arrivals",
}
# A pending edit of a waiting message is its own top-level attribute (a nested map path would need the map to exist
# first): "edit:<message id>" = {text, at}. The claim applies and removes them.
EDIT_PREFIX = "edit:"


# Burst numbers start from the clock in milliseconds (13 digits, burst.first_burst); 20 digits hold any 64-bit one.
TURN_DIGITS = 20


def turn_sk(burst: int) -> str:
    """Zero-padded so turns sort by burst number, across buffer lifetimes too, for the history query."""
    return f"turn#{burst:0{TURN_DIGITS}d}"


def directory_pk(channel: str, recipient_id: str) -> str:
    """Partition of the conversations one recipient has with the product (one per account, or Telegram topic)."""
    return f"recipient#{channel}#{recipient_id}"


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


def _edited(message: InboundMessage, edit: dict[str, Any] | None) -> InboundMessage:
    """The message as the person last edited it (an edit replaces the text, or a media message's caption)."""
    if edit is None:
        return message
    # Validated anew rather than copied: a copy would keep the cached document of the old text.
    return InboundMessage.model_validate({**message.model_dump(), "text": edit["M"]["text"]["S"] or None})


def _is_exchange(item: dict[str, Any]) -> bool:
    """A turn the history shows: answered and delivered or being delivered, or withheld with the person's messages."""
    if "withheld_at" in item:
        return bool(item.get("messages", {}).get("L"))
    return "answer" in item and "failed_at" not in item and "superseded_at" not in item


def _settled_or_started(turn: Turn) -> bool:
    return turn.reply_started or turn.superseded or turn.withheld or turn.failed or turn.delivered


@dataclass(frozen=True)
class _Claim:
    """What one claim attempt writes: the burst's messages as edited (deleted ones left out), every id it held (each
    gets its dedupe record), the turns it carries and the one it supersedes."""

    burst: int
    claimer: str
    keep: list[InboundMessage]
    ids: list[str]
    carried: list[int]
    cap: str | None
    supersedes: int | None


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        # For the times of writes whose callers pass none (the answer, the media): kept for debouncer explain.
        self._clock = clock
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
                    "#quiet = :quiet, #cap = if_not_exists(#cap, :cap), #opened = if_not_exists(#opened, :opened), "
                    "#expires = :expires, #arrivals = list_append(if_not_exists(#arrivals, :empty), :arrival) "
                    "ADD #ids :id_set, #count :one, #bytes :size"
                ),
                ConditionExpression=(
                    "(attribute_not_exists(#ids) OR NOT contains(#ids, :id)) AND "
                    "(attribute_not_exists(#bytes) OR #bytes <= :room)"
                ),
                # DynamoDB refuses a name the expressions do not use.
                ExpressionAttributeNames={
                    k: NAMES[k]
                    for k in (
                        *("#messages", "#version", "#burst", "#quiet", "#cap", "#opened", "#expires", "#ids"),
                        *("#count", "#bytes", "#arrivals"),
                    )
                },
                ExpressionAttributeValues={
                    ":empty": {"L": []},
                    ":message": {"L": [_s(document)]},
                    ":zero": _n(0),
                    ":one": _n(1),
                    # A fresh item (the first ever, or after TTL deleted an idle one) never reuses a burst number.
                    ":first": _n(first_burst(now)),
                    ":quiet": _s(quiet_deadline(now, self._debounce)),
                    ":cap": _s(cap_deadline(now, self._max_wait)),
                    # Exact, not whole seconds: the burst's first look (its quiet deadline) is computed from it.
                    ":opened": _n(now),
                    ":expires": _n(int(now) + self._buffer_ttl),
                    # When it arrived, in the list parallel to #messages (debouncer explain; no extra write).
                    # To the microsecond: the quiet deadline it set is rounded up to the second from the exact time.
                    ":arrival": {"L": [_n(round(now, 6))]},
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
                opened = bool(first) and first[0].message_id == message.message_id
                return AppendResult(
                    burst=int(old["burst"]["N"]),
                    count=int(old["msg_count"]["N"]),
                    size=int(old["size_bytes"]["N"]),
                    duplicate=duplicate,
                    quiet_deadline=old.get("quiet_deadline", {}).get("S"),
                    opened_burst=opened,
                    full=not duplicate,
                )
            raise _retryable(e, "append") from e
        new = response["Attributes"]
        count = int(new["msg_count"]["N"])
        burst = int(new["burst"]["N"])
        paused = float(new.get("paused_until", {}).get("N", "0")) > now
        if paused:
            # Written while a human has the conversation: kept for the AI's history, never answered.
            self._hold(message, burst)
        return AppendResult(
            burst=burst,
            count=count,
            size=int(new["size_bytes"]["N"]),
            quiet_deadline=new["quiet_deadline"]["S"],
            opened_burst=count == 1,
            paused=paused,
        )

    def _hold(self, message: InboundMessage, burst: int) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(message.conversation_key, BUFFER_SK),
                UpdateExpression="ADD #held :id_set",
                ConditionExpression="#burst = :burst",
                ExpressionAttributeNames={"#held": NAMES["#held"], "#burst": NAMES["#burst"]},
                ExpressionAttributeValues={":id_set": {"SS": [message.message_id]}, ":burst": _n(burst)},
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "hold") from e
            # Claimed in between: that claim may answer it, as it would have without the pause.

    def _directory_entry(self, message: InboundMessage, now: float) -> dict[str, Any]:
        """The admin API names a conversation by channel and recipient; keys also hold our account id. One entry per
        conversation under its recipient, written by each claim (off the webhook's path, in the claim's transaction)
        and expiring with the buffer's retention."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {
                    "pk": _s(directory_pk(message.channel, message.recipient_id)),
                    "sk": _s(message.conversation_key),
                },
                "UpdateExpression": "SET account_id = :account, expires_at = :expires",
                "ExpressionAttributeValues": {
                    ":account": _s(message.account_id),
                    ":expires": _n(int(now) + self._buffer_ttl),
                },
            }
        }

    def claim(
        self,
        conversation_key: str,
        burst: int,
        claimer: str,
        now: float,
        *,
        supersede: bool = False,
        only_if_due: bool = False,
    ) -> Turn | None:
        """Move the open burst into its turn record, exactly once (optimistic on burst number and version).

        The turn carries the messages of the turns it supersedes: those the buffer names (a reply that stood down for
        them), and with `supersede` the turn claimed just before it, if no part of its answer is committed yet.
        `only_if_due`: the open burst must be due (its timer may wake to a deadline a later message moved), else
        BurstNotDueError, and nothing is written.
        """
        for _ in range(10):
            item = self._get(conversation_key, BUFFER_SK)
            if (
                item is None
                or int(item.get("burst", {}).get("N", "0")) != burst
                or not item.get("messages", {}).get("L")
            ):
                turn = self.load_turn(conversation_key, burst)
                if turn is not None and turn.claimed_by != claimer and _redriven_to(turn, claimer):
                    turn = self._adopt(turn, claimer)
                # A retry of the execution that claimed (a crash after the claim) carries on with its turn.
                return turn if turn is not None and turn.claimed_by == claimer else None
            quiet, cap = item.get("quiet_deadline", {}).get("S"), item.get("cap_deadline", {}).get("S")
            if only_if_due and not is_due(quiet, cap, now):
                raise BurstNotDueError(f"burst {burst} is not due until {due_at(quiet, cap)}")
            turn = self._try_claim(conversation_key, burst, claimer, now, item, supersede)
            if turn is not None:
                return turn
        raise RetryableError("the buffer kept moving while claiming; retry")

    def _try_claim(
        self, conversation_key: str, burst: int, claimer: str, now: float, item: dict[str, Any], supersede: bool
    ) -> Turn | None:
        stored = ordered(_messages(item))
        deleted = set(item.get("deleted_ids", {}).get("SS", []))
        edits = {name.removeprefix(EDIT_PREFIX): value for name, value in item.items() if name.startswith(EDIT_PREFIX)}
        carried = [int(v["N"]) for v in item.get("carried", {}).get("L", [])]
        cap = item.get("cap_deadline", {}).get("S")
        superseded = self._supersedable(conversation_key, item, carried, now) if supersede else None
        if superseded is not None:
            carried = [*superseded.carried, superseded.burst, *carried]
            cap = min(c for c in (cap, superseded.cap_deadline) if c is not None)
        dropped: list[str] = []
        while True:
            ids = [m.message_id for m in stored if m.message_id not in dropped]
            keep = [
                _edited(m, edits.get(m.message_id))
                for m in stored
                if m.message_id in ids and m.message_id not in deleted
            ]
            claimed = _Claim(burst, claimer, keep, ids, carried, cap, superseded.burst if superseded else None)
            record = self._turn_record(conversation_key, now, item, claimed)
            if dropped:
                # Answered in an earlier burst: kept on the turn, so what the claim left out is on record.
                record["dropped_duplicates"] = {"L": [_s(d) for d in dropped]}
            try:
                self._client.transact_write_items(
                    TransactItems=self._claim_items(conversation_key, now, item, claimed, record)
                )
            except ClientError as e:
                if _error_code(e) != "TransactionCanceledException":
                    raise _retryable(e, "claim") from e
                reasons = [r.get("Code", "None") for r in e.response.get("CancellationReasons", [])]
                if any(code not in ("None", "ConditionalCheckFailed") for code in reasons):
                    # A conflict or throttling: only a failed condition says what the item holds.
                    raise RetryableError(f"claim transaction cancelled: {reasons}") from e
                first_dedupe = 3 if superseded is None else 4
                if not reasons or "ConditionalCheckFailed" in reasons[:first_dedupe]:
                    # The buffer moved (a new message, or another claim), or the turn before this one started its
                    # reply: read again.
                    return None
                duplicates = [
                    ids[i - first_dedupe]
                    for i, code in enumerate(reasons[first_dedupe:], first_dedupe)
                    if code != "None"
                ]
                if not duplicates:
                    raise RetryableError(f"claim transaction cancelled: {reasons}") from e
                dropped.extend(duplicates)  # answered in an earlier burst: a late redelivery
                continue
            self._write_late_dedupe(conversation_key, burst, now, ids[DEDUPE_IN_CLAIM:])
            return self._turn(conversation_key, record)

    def _supersedable(self, conversation_key: str, item: dict[str, Any], carried: list[int], now: float) -> Turn | None:
        """The turn claimed before this burst, when its answer may still be replaced: nothing of it committed, and its
        oldest message still inside its max wait (so whatever the person does, it is answered within that plus the
        AI's time: the starvation bound)."""
        last = item.get("last_turn", {}).get("N")
        if last is None or int(last) in carried:
            return None
        turn = self.load_turn(conversation_key, int(last), with_carried=False)
        if turn is None or _settled_or_started(turn) or turn.cap_deadline is None or epoch_of(turn.cap_deadline) < now:
            return None
        return turn

    def _turn_record(self, conversation_key: str, now: float, item: dict[str, Any], claimed: _Claim) -> dict[str, Any]:
        held = [i for i in item.get("held_ids", {}).get("SS", []) if i in {m.message_id for m in claimed.keep}]
        deleted = sorted(set(claimed.ids) - {m.message_id for m in claimed.keep})
        turn: dict[str, Any] = {
            **self._key(conversation_key, turn_sk(claimed.burst)),
            "burst": _n(claimed.burst),
            "messages": {"L": [_s(m.document) for m in claimed.keep]},
            "claimed_by": _s(claimed.claimer),
            "claimed_at": _n(round(now, 3)),
            "parts_sent": _n(0),
            "expires_at": _n(int(now) + self._history_ttl),
            **self._decisions(now, item, claimed),
        }
        if claimed.cap is not None:
            turn["cap_deadline"] = _s(claimed.cap)
        if claimed.carried:
            turn["carried"] = {"L": [_n(b) for b in claimed.carried]}
        if held:
            turn["held"] = {"L": [_s(i) for i in held]}
        if deleted:
            turn["deleted"] = {"L": [_s(i) for i in deleted]}
        if not claimed.carried and len(held) == len(claimed.keep):
            # Nothing to answer: every message was deleted, or written while a human had the conversation.
            turn["withheld_at"] = _n(int(now))
            # (Or every one was a late redelivery of a message answered before: nothing new to say.)
            turn["withheld_reason"] = _s("paused" if held else "deleted" if deleted else "duplicates")
        return turn

    def _decisions(self, now: float, item: dict[str, Any], claimed: _Claim) -> dict[str, Any]:
        """What the claim knows of how the burst came to be claimed, for debouncer explain: when each message and
        edit arrived, why it was claimed now, and when it was ideally due (min(last arrival + debounce, cap))."""
        arrived = dict(
            zip(
                # The ids only (the documents were validated when read for the claim).
                [json.loads(v["S"])["message_id"] for v in item.get("messages", {}).get("L", [])],
                [float(v["N"]) for v in item.get("arrivals", {}).get("L", [])],
                strict=False,
            )
        )
        # When the person edited (the channel's clock: a redelivered edit writes the same edit again).
        edits = [
            {"M": {"id": _s(name.removeprefix(EDIT_PREFIX)), "at": _n(int(value["M"]["at"]["N"]) / 1000)}}
            for name, value in item.items()
            if name.startswith(EDIT_PREFIX)
        ]
        quiet = item.get("quiet_deadline", {}).get("S")
        if claimed.claimer.endswith("-flush"):
            reason = "flush"  # an early flush's execution (debouncer.domain.burst.execution_name)
        elif quiet is not None and claimed.cap is not None and epoch_of(claimed.cap) < epoch_of(quiet):
            # Still writing, but the oldest message waited as long as it may. Told by which deadline came first, not
            # by the clock at the claim: a claim may come a moment before its deadline (DUE_TOLERANCE_SECONDS).
            reason = "max_wait"
        else:
            reason = "quiet"
        decisions: dict[str, Any] = {
            # Parallel to the turn's messages; 0 for a message written before arrival times were recorded.
            "arrivals": {"L": [_n(arrived.get(m.message_id, 0)) for m in claimed.keep]},
            "claim_reason": _s(reason),
            "debounce_seconds": _n(self._debounce),
        }
        if edits:
            decisions["edits"] = {"L": edits[:MAX_RECORDED_EDITS]}
        if quiet is not None:
            decisions["quiet_deadline"] = _s(quiet)
        last = max([*arrived.values(), *(float(e["M"]["at"]["N"]) for e in edits)], default=0.0)
        if last:
            ideal = last + self._debounce
            if claimed.cap is not None:
                ideal = min(ideal, epoch_of(claimed.cap))
            decisions["ideal_at"] = _n(round(ideal, 3))
        return decisions

    def _claim_items(
        self, conversation_key: str, now: float, item: dict[str, Any], claimed: _Claim, turn: dict[str, Any]
    ) -> list[dict[str, Any]]:
        edits = [name for name in item if name.startswith(EDIT_PREFIX)]
        names = {
            k: NAMES[k]
            for k in (
                "#burst",
                "#messages",
                "#ids",
                "#count",
                "#bytes",
                "#quiet",
                "#cap",
                "#version",
                "#opened",
                "#deleted",
                "#held",
                "#carried",
                "#last",
                "#arrivals",
            )
        }
        names.update({f"#edit{i}": name for i, name in enumerate(edits)})
        removed = ", ".join(
            ["#messages", "#ids", "#count", "#bytes", "#quiet", "#cap", "#opened", "#deleted", "#held", "#carried"]
            + ["#arrivals"]
            + [f"#edit{i}" for i in range(len(edits))]
        )
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(conversation_key, BUFFER_SK),
                    "UpdateExpression": f"SET #burst = :next, #last = :burst REMOVE {removed}",
                    "ConditionExpression": "#burst = :burst AND #version = :version",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {
                        # Past the clock too: a buffer numbered before bursts started from the clock (a counter
                        # that began at 1) leaves the numbers of its earlier lifetimes behind at its next claim.
                        ":next": _n(max(claimed.burst + 1, first_burst(now))),
                        ":burst": _n(claimed.burst),
                        ":version": item["version"],
                    },
                }
            },
            {"Put": {"TableName": self._table, "Item": turn, "ConditionExpression": "attribute_not_exists(pk)"}},
            self._directory_entry(_messages(item)[0], now),
        ]
        if claimed.supersedes is not None:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(conversation_key, turn_sk(claimed.supersedes)),
                        "UpdateExpression": "SET superseded_at = :now, superseded_by = :burst",
                        "ConditionExpression": f"attribute_exists(pk) AND {UNSTARTED}",
                        "ExpressionAttributeValues": {":now": _n(int(now)), ":burst": _n(claimed.burst)},
                    }
                }
            )
        items += [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._dedupe_item(conversation_key, message_id, claimed.burst, now),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for message_id in claimed.ids[:DEDUPE_IN_CLAIM]
        ]
        return items

    def _dedupe_item(self, conversation_key: str, message_id: str, burst: int, now: float) -> dict[str, Any]:
        return {
            **self._key(conversation_key, f"msg#{message_id}"),
            "burst": _n(burst),
            "expires_at": _n(int(now) + self._dedupe_ttl),
        }

    def _write_late_dedupe(self, conversation_key: str, burst: int, now: float, rest: list[str]) -> None:
        # Only bursts that grew past one transaction get here (arrivals during a flush); after the claim is enough.
        for message_id in rest:
            self._client.put_item(
                TableName=self._table, Item=self._dedupe_item(conversation_key, message_id, burst, now)
            )

    def history(self, conversation_key: str, before_burst: int, limit: int) -> list[HistoryEntry]:
        """The last `limit` exchanges before this burst, oldest first.

        A superseded turn's messages join the turn that answered them (it follows it at once); a withheld turn (the
        person wrote while a human had the conversation) is the person's part only. Failed and unanswered turns never
        reached the person and are left out.
        """
        if limit <= 0 or before_burst <= 1:
            return []
        items: list[dict[str, Any]] = []  # newest first
        exchanges = 0
        start: dict[str, Any] | None = None
        # Pages until `limit` exchanges are read and the oldest one's superseded turns with it (bounded: a turn that
        # never reached the person takes a place in a page, not in the history).
        for _ in range(HISTORY_PAGES):
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={
                    ":pk": _s(conversation_key),
                    ":lo": _s(turn_sk(0)),
                    ":hi": _s(turn_sk(before_burst - 1)),
                },
                ProjectionExpression="messages, answer, failed_at, superseded_at, withheld_at",
                ScanIndexForward=False,
                Limit=2 * limit,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            for item in page.get("Items", []):
                if exchanges >= limit and "superseded_at" not in item:
                    break  # the oldest exchange is complete: what follows is older than the history asked for
                items.append(item)
                exchanges += _is_exchange(item)
            else:
                start = page.get("LastEvaluatedKey")
                if start is not None:
                    continue
            break
        entries: list[HistoryEntry] = []
        carried: list[InboundMessage] = []
        for item in reversed(items):
            messages = _messages(item)
            if "superseded_at" in item:
                carried += messages
            elif _is_exchange(item):
                answer = item["answer"]["S"] if "withheld_at" not in item else None
                entries.append(HistoryEntry(user=concatenate(carried + messages), assistant=answer))
                carried = []
            else:
                carried = []
        return entries[-limit:]

    def record_answer(self, conversation_key: str, burst: int, answer: str, ai_failure: str | None = None) -> None:
        """Store the answer once; a concurrent or earlier run of the burst that settled the turn first keeps its own.

        What is stored, and so sent, is the answer's first ANSWER_LIMIT bytes: with the burst's messages (at most
        BUFFER_LIMIT) and everything recorded later, the turn stays one item.
        `ai_failure`: why the AI failed, when the answer is the fallback message (reported once: report_ai_failure).
        """
        # answered_at: when the AI's answer (or the fallback) came, for debouncer explain's AI latency.
        values = {":answer": _s(_cut(answer, ANSWER_LIMIT)), ":at": _n(round(self._clock(), 3))}
        if ai_failure is not None:
            values[":ai_failure"] = _s(_cut(ai_failure, REASON_LIMIT))
        self._settle(
            conversation_key,
            burst,
            "SET answer = :answer, answered_at = :at"
            + (", ai_failure = :ai_failure" if ai_failure is not None else ""),
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
            "SET media = :media, media_at = :at",
            "attribute_exists(pk) AND attribute_not_exists(media)",
            {":media": _s(document), ":at": _n(round(self._clock(), 3))},
            "record media",
        )

    def record_ai_failure(self, conversation_key: str, burst: int, reason: str, now: float) -> bool:
        """Mark an unanswered turn failed for good; False when another run answered or failed it first."""
        return (
            self._settle(
                conversation_key,
                burst,
                "SET failed_at = :now, failure = :reason",
                # A superseded or withheld turn is not this burst's last word: nothing to dead-letter.
                "attribute_exists(pk) AND attribute_not_exists(answer) AND attribute_not_exists(failed_at) AND "
                + NOT_REPLACED,
                # To the millisecond: debouncer explain tells the AI's latency from it.
                {":now": _n(round(now, 3)), ":reason": _s(_cut(reason, REASON_LIMIT))},
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
            {":now": _n(round(now, 3)), ":reason": _s(_cut(reason, REASON_LIMIT)), ":token": _s(token)},
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
            "attribute_not_exists(failed_at) AND " + NOT_REPLACED,
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

    def load_turn(self, conversation_key: str, burst: int, *, with_carried: bool = True) -> Turn | None:
        """Read a turn with a consistent read (and the messages of the turns it carries, unless told not to)."""
        item = self._get(conversation_key, turn_sk(burst))
        if item is None:
            return None
        return self._turn(conversation_key, item) if with_carried else _turn(conversation_key, item)

    # RedriveBuffer: what `debouncer redrive` reads and writes (debouncer.usecases.redrive).

    def holds_burst(self, conversation_key: str, burst: int) -> bool:
        """True while this burst is still the buffer's open one, with messages: no execution has claimed it."""
        item = self._get(conversation_key, BUFFER_SK) or {}
        return int(item.get("burst", {}).get("N", "0")) == burst and bool(item.get("messages", {}).get("L"))

    def reopen(self, conversation_key: str, burst: int, *, claimer: str, attempt: int, now: float) -> bool:
        """Give an undelivered turn to a new execution, `claimer` (redrive number `attempt`): one conditional write.

        It is no longer failed, and claimed by `claimer` (Process carries on with a turn claimed by its own execution);
        an answer the channel refused stays, with the parts already sent, so only the missing ones go. A fallback
        message none of which left is dropped with the AI's error: the AI is asked again. Refused (False) when the
        turn was delivered, superseded or withheld, while a live reply lease says a reply is leaving, and once a
        redrive numbered `attempt` or later has it; True again for the same claimer (idempotent).
        """
        item = self._get(conversation_key, turn_sk(burst))
        if item is None:
            return False
        removed = ["failed_at", "failure", "reply_lease", "lease_expires"]
        if int(item.get("parts_sent", {}).get("N", "0")) == 0:
            # Nothing left yet: whether it is sent is decided again (a human may have the conversation by now).
            removed.append("reply_started")
            if "ai_failure" in item:
                removed += ["answer", "answered_at", "ai_failure", "ai_failure_reported"]
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, turn_sk(burst)),
                UpdateExpression=(
                    "SET claimed_by = :claimer, redrive_for = :claimer, redrives = :attempt, redriven_at = :now "
                    f"REMOVE {', '.join(removed)}"
                ),
                ConditionExpression=(
                    f"attribute_exists(pk) AND attribute_not_exists(delivered_at) AND {NOT_REPLACED} AND "
                    "(attribute_not_exists(reply_lease) OR lease_expires < :now) AND "
                    "(attribute_not_exists(redrives) OR redrives < :attempt)"
                ),
                ExpressionAttributeValues={":claimer": _s(claimer), ":attempt": _n(attempt), ":now": _n(int(now))},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "reopen") from e
            old = e.response.get("Item", {})
            settled = ("delivered_at", "failed_at", "superseded_at", "withheld_at")
            return old.get("redrive_for", {}).get("S") == claimer and not any(a in old for a in settled)
        return True

    def _adopt(self, turn: Turn, claimer: str) -> Turn | None:
        """The first run of a redrive execution claims the turn the redrive gave it, as its own id; another run of the
        same execution then finds it claimed by that id, and one of another execution of that name (Express starts
        one per StartExecution) finds it taken."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(turn.conversation_key, turn_sk(turn.burst)),
                UpdateExpression="SET claimed_by = :claimer",
                ConditionExpression="claimed_by = :stem",
                ExpressionAttributeValues={":claimer": _s(claimer), ":stem": _s(turn.claimed_by)},
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "adopt") from e
            return self.load_turn(turn.conversation_key, turn.burst)
        return replace(turn, claimed_by=claimer)

    def acquire_reply(self, conversation_key: str, burst: int, token: str, now: float) -> Turn | None:
        """Take (or renew) the reply lease of a turn; None when it has no answer yet, and the turn as it is once it
        was delivered, failed, superseded or withheld (nothing left to send).

        Raises ReplyLeaseHeldError while another token holds a live lease.
        """
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, turn_sk(burst)),
                UpdateExpression="SET reply_lease = :token, lease_expires = :expires",
                ConditionExpression=(
                    "attribute_exists(answer) AND attribute_not_exists(delivered_at) AND "
                    f"attribute_not_exists(failed_at) AND {NOT_REPLACED} AND "
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
            if any(a in old for a in ("delivered_at", "failed_at", "superseded_at", "withheld_at")):
                return _turn(conversation_key, old)  # settled: nothing to send, and the caller can tell how
            # The lease can be taken once lease_expires < now, i.e. from the second after it.
            until = int(old.get("lease_expires", {}).get("N", str(int(now)))) + 1
            raise ReplyLeaseHeldError(f"another run holds the lease until {iso_second(until)}") from e
        return self._turn(conversation_key, response["Attributes"], batch_reads=True)

    def acquire_and_begin_reply(
        self, conversation_key: str, burst: int, token: str, now: float, *, supersede: bool
    ) -> Turn | None:
        """The lease and the decision to send in one read (the turn and the buffer together) and one conditional write,
        when the turn is clear to send; anything else (a pause, a waiting burst that may supersede it, a lease held,
        a retry, a lost race) takes acquire_reply's path, and the caller's begin_reply."""
        items = self._get_many(conversation_key, turn_sk(burst), BUFFER_SK)
        item, buffer = items.get(turn_sk(burst)), items.get(BUFFER_SK) or {}
        if item is None or not self._clear_to_send(conversation_key, item, buffer, token, now, supersede=supersede):
            return self.acquire_reply(conversation_key, burst, token, now)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, turn_sk(burst)),
                UpdateExpression="SET reply_lease = :token, lease_expires = :expires, reply_started = :started",
                ConditionExpression=(
                    f"attribute_exists(answer) AND {UNSTARTED} AND "
                    "(attribute_not_exists(reply_lease) OR reply_lease = :token OR lease_expires < :now)"
                ),
                ExpressionAttributeValues={
                    ":token": _s(token),
                    ":expires": _n(int(now) + self._reply_lease),
                    ":now": _n(int(now)),
                    ":started": _n(int(now)),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "acquire and begin reply") from e
            # Moved since the read (another run, a claim superseding it): decide on what it is now.
            return self.acquire_reply(conversation_key, burst, token, now)
        return self._turn(conversation_key, response["Attributes"], batch_reads=True)

    def _clear_to_send(
        self,
        conversation_key: str,
        item: dict[str, Any],
        buffer: dict[str, Any],
        token: str,
        now: float,
        *,
        supersede: bool,
    ) -> bool:
        """An answered turn whose reply has not started, with no other live lease, in a conversation not paused and
        (with `supersede`) with no waiting burst that begin_reply would let supersede it."""
        lease = item.get("reply_lease", {}).get("S")
        if (
            "answer" not in item
            or any(a in item for a in ("reply_started", "superseded_at", "withheld_at", "failed_at", "delivered_at"))
            or int(item.get("parts_sent", {}).get("N", "0")) != 0
            or (lease not in (None, token) and int(item.get("lease_expires", {}).get("N", "0")) >= int(now))
            or float(buffer.get("paused_until", {}).get("N", "0")) > now
        ):
            return False
        return not (supersede and self._superseded_by_waiting(_turn(conversation_key, item), buffer, now))

    def begin_reply(self, turn: Turn, token: str, now: float, *, supersede: bool) -> ReplyStart:
        """Decide, before the first part, whether this answer is sent (the lease holder only; one write settles it).

        - A paused conversation (a human took over) withholds it.
        - With `supersede`, messages waiting in the buffer supersede it, while its oldest message is inside its max
          wait and the waiting burst is due by then: the buffer carries its messages into the next claim.
        - Otherwise it is committed to: sent, whatever arrives now (a claim can no longer supersede it).
        """
        key = turn.conversation_key
        for _ in range(10):
            buffer = self._get_many(key, BUFFER_SK).get(BUFFER_SK) or {}
            if float(buffer.get("paused_until", {}).get("N", "0")) > now:
                return self._settle_start(turn, token, "SET withheld_at = :now, withheld_reason = :why", now, "paused")
            if not (supersede and self._superseded_by_waiting(turn, buffer, now)):
                return self._settle_start(turn, token, "SET reply_started = :now", now, None)
            outcome = self._carry_into_buffer(turn, token, buffer, now)
            if outcome is not None:
                return outcome
        raise RetryableError("the buffer kept moving while deciding on a reply; retry")

    def _superseded_by_waiting(self, turn: Turn, buffer: dict[str, Any], now: float) -> bool:
        opened = buffer.get("opened_at", {}).get("N")
        if (
            turn.cap_deadline is None
            or opened is None
            or int(buffer.get("msg_count", {}).get("N", "0")) == 0
            or int(buffer.get("burst", {}).get("N", "0")) == turn.burst
        ):
            return False
        # The waiting burst's timer first looks at it at its first message's quiet deadline; from then on it sees the
        # cap this turn hands down. Both must fall inside this turn's max wait.
        first_look = epoch_of(quiet_deadline(float(opened), self._debounce))
        cap = epoch_of(turn.cap_deadline)
        return now < cap and first_look <= cap

    def _carry_into_buffer(self, turn: Turn, token: str, buffer: dict[str, Any], now: float) -> ReplyStart | None:
        """One transaction: the turn is superseded, and the buffer carries it into its open burst (whose max wait
        becomes this turn's, if earlier). None when the buffer moved meanwhile: decide again."""
        cap = min(buffer["cap_deadline"]["S"], turn.cap_deadline or buffer["cap_deadline"]["S"])
        carried = [*turn.carried, turn.burst]
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._key(turn.conversation_key, turn_sk(turn.burst)),
                            "UpdateExpression": "SET superseded_at = :now, superseded_by = :next REMOVE reply_lease",
                            "ConditionExpression": f"reply_lease = :token AND {UNSTARTED}",
                            "ExpressionAttributeValues": {
                                ":now": _n(int(now)),
                                ":next": buffer["burst"],
                                ":token": _s(token),
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._key(turn.conversation_key, BUFFER_SK),
                            "UpdateExpression": (
                                "SET #carried = list_append(if_not_exists(#carried, :empty), :carried), #cap = :cap, "
                                "#version = #version + :one"
                            ),
                            "ConditionExpression": "#burst = :burst AND #version = :version",
                            "ExpressionAttributeNames": {
                                k: NAMES[k] for k in ("#carried", "#cap", "#version", "#burst")
                            },
                            "ExpressionAttributeValues": {
                                ":empty": {"L": []},
                                ":carried": {"L": [_n(b) for b in carried]},
                                ":cap": _s(cap),
                                ":one": _n(1),
                                ":burst": buffer["burst"],
                                ":version": buffer["version"],
                            },
                        }
                    },
                ]
            )
        except ClientError as e:
            if _error_code(e) != "TransactionCanceledException":
                raise _retryable(e, "supersede") from e
            reasons = [r.get("Code", "None") for r in e.response.get("CancellationReasons", [])]
            if any(code not in ("None", "ConditionalCheckFailed") for code in reasons):
                raise RetryableError(f"supersede transaction cancelled: {reasons}") from e
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return self._started_or_settled(turn, token)
            return None
        return "superseded"

    def _settle_start(self, turn: Turn, token: str, update: str, now: float, why: str | None) -> ReplyStart:
        values = {":now": _n(int(now)), ":token": _s(token)}
        if why is not None:
            values[":why"] = _s(why)
            update += " REMOVE reply_lease"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(turn.conversation_key, turn_sk(turn.burst)),
                UpdateExpression=update,
                ConditionExpression=f"reply_lease = :token AND {UNSTARTED}",
                ExpressionAttributeValues=values,
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "begin reply") from e
            return self._started_or_settled(turn, token)
        return "send" if why is None else "withheld"

    def _started_or_settled(self, turn: Turn, token: str) -> ReplyStart:
        """After a lost condition: a claim superseded the turn, or a retry of this very run committed it already."""
        item = self._get_many(turn.conversation_key, turn_sk(turn.burst)).get(turn_sk(turn.burst))
        now_turn = None if item is None else _turn(turn.conversation_key, item)
        if now_turn is not None and now_turn.reply_started and not (now_turn.delivered or now_turn.failed):
            return "send"
        return "settled"

    def record_delivery(
        self,
        conversation_key: str,
        burst: int,
        token: str,
        parts_sent: int,
        *,
        done: bool,
        now: float,
        sent_id: str | None = None,
    ) -> None:
        """Record each part as it leaves, so a retried reply never sends a part twice; `sent_id`, the channel's id of
        the part, is kept (dedupe TTL) so the channel's echo of it is known as the product's own."""
        try:
            if sent_id is not None:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(conversation_key, f"sent#{sent_id}"),
                    UpdateExpression="SET expires_at = :expires",
                    ExpressionAttributeValues={":expires": _n(int(now) + self._dedupe_ttl)},
                )
            # parts_at: when each part left (debouncer explain); a part appears twice only if this write was retried.
            expression = "SET parts_sent = :n, parts_at = list_append(if_not_exists(parts_at, :empty), :part)" + (
                ", delivered_at = :now REMOVE reply_lease" if done else ""
            )
            values: dict[str, Any] = {
                ":n": _n(parts_sent),
                ":token": _s(token),
                ":empty": {"L": []},
                ":part": {"L": [{"M": {"part": _n(parts_sent), "at": _n(round(now, 3))}}]},
            }
            if done:
                values[":now"] = _n(int(now))
            self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, turn_sk(burst)),
                UpdateExpression=expression,
                ConditionExpression="reply_lease = :token",
                ExpressionAttributeValues=values,
            )
        except ClientError as e:
            raise _retryable(e, "record delivery") from e

    def mark_replying(self, conversation_key: str, now: float, *, replying: bool) -> None:
        """While a reply is leaving, an echo whose id is not recorded yet may be the product's own (the channel can
        echo before the send call returns): the buffer says so until the reply is done, or its lease ran out."""
        update = "SET #replying = :until" if replying else "REMOVE #replying"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, BUFFER_SK),
                UpdateExpression=update,
                ExpressionAttributeNames={"#replying": NAMES["#replying"]},
                **({"ExpressionAttributeValues": {":until": _n(int(now) + self._reply_lease)}} if replying else {}),
            )
        except ClientError as e:
            raise _retryable(e, "mark replying") from e

    # ConversationControl: edits and deletes of waiting messages, echoes, and the handoff pause.

    def apply_change(self, change: MessageChange, now: float) -> ChangeOutcome:
        """Apply an edit or a delete to the message while it waits in the open burst: one conditional write.

        An edit replaces the text (the latest edit wins, whatever order they arrive in) and moves the quiet deadline,
        as a new message would; a delete removes the message. Redelivered, either writes the same thing again.
        """
        names = {k: NAMES[k] for k in ("#ids", "#quiet", "#deleted", "#version")}
        values: dict[str, Any] = {":id": _s(change.message_id), ":one": _n(1)}
        waiting = "contains(#ids, :id) AND attribute_exists(#quiet) AND " + (
            "(attribute_not_exists(#deleted) OR NOT contains(#deleted, :id))"
        )
        if change.change == "edit":
            text = change.text or ""
            names.update({"#edit": EDIT_PREFIX + change.message_id, "#at": "at", "#bytes": NAMES["#bytes"]})
            size = len(text.encode()) + len(change.message_id.encode())
            values.update(
                {
                    ":edit": {"M": {"text": _s(text), "at": _n(change.changed_at_ms)}},
                    ":at": _n(change.changed_at_ms),
                    ":quiet": _s(quiet_deadline(now, self._debounce)),
                    ":size": _n(size),
                    ":room": _n(BUFFER_LIMIT - size),
                }
            )
            update = "SET #edit = :edit, #quiet = :quiet, #version = #version + :one ADD #bytes :size"
            condition = f"{waiting} AND (attribute_not_exists(#edit) OR #edit.#at <= :at) AND #bytes <= :room"
        else:
            values[":id_set"] = {"SS": [change.message_id]}
            update = "SET #version = #version + :one ADD #deleted :id_set"
            condition = waiting
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(change.conversation_key, BUFFER_SK),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, f"apply {change.change}") from e
            return self._why_not_applied(change, e.response.get("Item", {}))
        return "applied"

    def _why_not_applied(self, change: MessageChange, old: dict[str, Any]) -> ChangeOutcome:
        if change.message_id in old.get("ids", {}).get("SS", []) and "quiet_deadline" in old:
            if change.message_id in old.get("deleted_ids", {}).get("SS", []):
                # A redelivered delete finds its own work done; an edit finds nothing left to change.
                return "applied" if change.change == "delete" else "outdated"
            edit = old.get(EDIT_PREFIX + change.message_id)
            if edit is not None and int(edit["M"]["at"]["N"]) > change.changed_at_ms:
                return "outdated"
            # Still waiting, and the edit is newer: only the room left in the item can have refused it.
            raise RetryableError("the open burst has no room for this edit until it is claimed")
        if self._get(change.conversation_key, f"msg#{change.message_id}") is not None:
            return "answered"
        return "unknown"

    def is_own_echo(self, echo: BusinessEcho, now: float) -> bool:
        """True for an echo of a part the product sent, or may be sending right now (see mark_replying)."""
        if self._get(echo.conversation_key, f"sent#{echo.message_id}") is not None:
            return True
        buffer = self._get(echo.conversation_key, BUFFER_SK) or {}
        return float(buffer.get("replying_until", {}).get("N", "0")) >= now

    def conversations(self, channel: str, recipient_id: str, account_id: str | None) -> list[str]:
        """The keys of the known conversations with this recipient (in `account_id` when given)."""
        return conversation_keys(self._client, self._table, channel, recipient_id, account_id)

    def pause(self, conversation_key: str, until: float, now: float, *, extend_only: bool = False) -> float:
        """Pause the conversation until `until`; the buffer outlives the pause (TTL)."""
        condition: dict[str, Any] = (
            {
                "ConditionExpression": "attribute_not_exists(#paused) OR #paused < :until",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            if extend_only
            else {}
        )
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, BUFFER_SK),
                UpdateExpression="SET #paused = :until, #expires = :expires, paused_at = :now",
                ExpressionAttributeNames={"#paused": NAMES["#paused"], "#expires": NAMES["#expires"]},
                ExpressionAttributeValues={
                    ":until": _n(int(until)),
                    ":now": _n(round(now, 3)),
                    ":expires": _n(max(int(now), int(until)) + self._buffer_ttl),
                },
                **condition,
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "pause") from e
            return float(e.response.get("Item", {}).get("paused_until", {}).get("N", str(int(until))))
        self._keep_listed(conversation_key, max(int(now), int(until)) + self._buffer_ttl)
        return float(int(until))

    def _keep_listed(self, conversation_key: str, expires: int) -> None:
        """A pause can outlast the directory entry (it expires with the buffer's retention after the last burst): keep
        it as long as the pause's buffer, so the admin API still finds the conversation to resume it."""
        channel, _, user = conversation_key.split("#", 2)
        # The recipient is the key's user part; a Telegram forum topic's ("<chat>/<thread>") is the chat.
        recipient = user.split("/", 1)[0] if channel == "telegram" else user
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": _s(directory_pk(channel, recipient)), "sk": _s(conversation_key)},
                UpdateExpression="SET #expires = :expires",
                ConditionExpression="attribute_exists(pk) AND #expires < :expires",
                ExpressionAttributeNames={"#expires": NAMES["#expires"]},
                ExpressionAttributeValues={":expires": _n(expires)},
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "keep listed") from e

    def resume(self, conversation_key: str, now: float) -> None:
        """End the pause now: messages from here on are answered."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(conversation_key, BUFFER_SK),
                UpdateExpression="REMOVE #paused",
                # Never creates an item (moto would, with no expiry: a key that holds a phone number, kept forever).
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#paused": NAMES["#paused"]},
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _retryable(e, "resume") from e

    def paused_until(self, conversation_key: str, now: float) -> float | None:
        """When the pause ends (epoch seconds); None when the conversation is not paused."""
        buffer = self._get(conversation_key, BUFFER_SK) or {}
        until = float(buffer.get("paused_until", {}).get("N", "0"))
        return until if until > now else None

    def _turn(self, conversation_key: str, item: dict[str, Any], *, batch_reads: bool = False) -> Turn:
        """The turn with the messages of the turns it carries first (held ones stay held), in the person's order.
        `batch_reads`: read them with one BatchGetItem (reply's way: its role is granted no GetItem)."""
        turn = _turn(conversation_key, item)
        if not turn.carried:
            return turn
        messages, held = list(turn.messages), list(turn.held)
        sks = [turn_sk(burst) for burst in turn.carried]
        carried = (
            list(self._get_many(conversation_key, *sks).values())
            if batch_reads
            else [self._get(conversation_key, sk) for sk in sks]
        )
        for earlier in carried:
            if earlier is None:
                continue
            messages += _messages(earlier)
            held += [h["S"] for h in earlier.get("held", {}).get("L", [])]
        return replace(turn, messages=tuple(ordered(messages)), held=tuple(held))

    def _get_many(self, conversation_key: str, *sks: str) -> dict[str, dict[str, Any]]:
        """Several items of one conversation in one consistent read, by sort key (a missing item is left out). What
        reply reads, it reads this way (its role is granted BatchGetItem, not GetItem)."""
        try:
            response = self._client.batch_get_item(
                RequestItems={
                    self._table: {"Keys": [self._key(conversation_key, sk) for sk in sks], "ConsistentRead": True}
                }
            )
        except ClientError as e:
            raise _retryable(e, "read") from e
        if response.get("UnprocessedKeys"):
            raise RetryableError("read throttled: DynamoDB left keys unprocessed")
        return {item["sk"]["S"]: item for item in response.get("Responses", {}).get(self._table, [])}

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
        carried=tuple(int(b["N"]) for b in item.get("carried", {}).get("L", [])),
        held=tuple(h["S"] for h in item.get("held", {}).get("L", [])),
        superseded="superseded_at" in item,
        withheld="withheld_at" in item,
        reply_started="reply_started" in item,
        cap_deadline=item.get("cap_deadline", {}).get("S"),
        claim_reason=item.get("claim_reason", {}).get("S"),
        ideal_at=float(item["ideal_at"]["N"]) if "ideal_at" in item else None,
        redrives=int(item.get("redrives", {}).get("N", "0")),
        redrive_for=item.get("redrive_for", {}).get("S"),
    )


def _redriven_to(turn: Turn, claimer: str) -> bool:
    """A redrive gave the turn to an execution nobody has claimed it as yet, and `claimer` is a run of it: on Express
    the id the redrive knew is the stem of each run's own (`<stem>:<run id>`); on Standard it is the id itself."""
    stem = turn.redrive_for
    return stem is not None and turn.claimed_by == stem and claimer.startswith(stem + ":")


def conversation_keys(
    client: Any, table_name: str, channel: str, recipient_id: str, account_id: str | None
) -> list[str]:
    """The keys of the known conversations with this recipient (in `account_id` when given), from its directory."""
    try:
        response = client.query(
            TableName=table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(directory_pk(channel, recipient_id))},
            ConsistentRead=True,
        )
    except ClientError as e:
        raise _retryable(e, "find conversations") from e
    return [
        item["sk"]["S"]
        for item in response.get("Items", [])
        if account_id is None or item.get("account_id", {}).get("S") == account_id
    ]


def conversation_items(client: Any, table_name: str, conversation_key: str) -> list[dict[str, Any]]:
    """Every item of one conversation (buffer, turns, dedupe and sent records) as plain JSON values, for debouncer
    explain (an operator's read, never on the messages' path)."""
    items: list[dict[str, Any]] = []
    pages = client.get_paginator("query").paginate(
        TableName=table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": _s(conversation_key)},
        ConsistentRead=True,
    )
    try:
        for page in pages:
            items += [
                {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in i.items()} for i in page["Items"]
            ]
    except ClientError as e:
        raise _retryable(e, "read conversation") from e
    return items


_DESERIALIZER = TypeDeserializer()


def _plain(value: Any) -> Any:
    """A deserialized DynamoDB value as JSON has it: numbers as int or float, sets as sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytes | bytearray):
        return None
    return value
