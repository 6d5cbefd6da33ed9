"""The HTTP routes API Gateway exposes: verify, normalize, buffer. Errors are mapped here, in one place."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from debouncer.adapters.secrets import SecretName, Secrets
from debouncer.channels import Skip, generic, instagram, signatures, telegram, whatsapp
from debouncer.config import Settings
from debouncer.domain.errors import (
    DebouncerError,
    InvalidPayloadError,
    PayloadTooLargeError,
    RetryableError,
    SignatureError,
    VerificationError,
)
from debouncer.domain.models import Inbound, InboundMessage
from debouncer.domain.ports import ConversationControl
from debouncer.domain.privacy import conversation_ref
from debouncer.metrics import Counters
from debouncer.usecases.ingest import Ingest, IngestResult

logger = Logger(child=True)


@dataclass(frozen=True)
class Scope:
    """Whose message it is: one tenant's settings, secrets and ingest, or the deployment's (tenant_id None)."""

    settings: Settings
    secrets: Secrets
    ingest: Ingest
    tenant_id: str | None = None


class Scopes(Protocol):
    """The deployment's scope and its tenants' (debouncer.wiring.PerTenant)."""

    default: Scope

    def for_account(self, channel: str, account: str) -> Scope: ...

    def by_id(self, tenant_id: str, channel: str) -> Scope | None: ...

    def every(self, channel: str, secret: SecretName) -> list[Scope]: ...


# What one POST may add to one conversation's buffer item: each message's stored document plus its id in the
# dedupe set. Half of DynamoDB's 400 KB item, so it fits next to a buffer just short of the default flush size, and
# always into the emptied buffer a redelivery meets after the flush. A bigger POST could overflow the item on every
# redelivery (cross-burst duplicates are only dropped at the claim): the sender's mistake, a 413 rather than a 503.
MAX_POST_BYTES_PER_CONVERSATION = 192 * 1024


# The client's mistakes: 4xx, so the channel does not redeliver them.
CLIENT_ERRORS: dict[type[DebouncerError], int] = {
    SignatureError: 401,
    InvalidPayloadError: 400,
    VerificationError: 403,
    PayloadTooLargeError: 413,
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status, content_types.APPLICATION_JSON, json.dumps({"error": message}), headers=headers)


# The methods each route answers; any other gets a 405 naming them in its Allow header (RFC 9110 §15.5.6).
ALLOWED_METHODS = {
    "/health": ("GET",),
    "/webhook/whatsapp": ("GET", "POST"),
    "/webhook/instagram": ("GET", "POST"),
    "/webhook/telegram": ("POST",),
    "/webhook/telegram/<tenant>": ("POST",),  # a tenant's bot: Telegram's updates do not name the bot
    "/webhook/generic": ("POST",),
    # The admin API (debouncer.api.admin), served only when the app has a ConversationControl.
    "/admin/conversations/pause": ("POST",),
    "/admin/conversations/resume": ("POST",),
    "/admin/conversations/status": ("GET",),
}
_CHANNEL_PATH = re.compile(r"/webhook/(?P<channel>[^/]+)")
_TELEGRAM_TENANT_PATH = re.compile(r"/webhook/telegram/[^/]+")


def _allowed(channel: str) -> tuple[str, ...]:
    return ALLOWED_METHODS.get(f"/webhook/{channel}", ())


def _method_not_allowed(path: str, message: str) -> Response[str]:
    return _error(405, message, headers={"Allow": ", ".join(ALLOWED_METHODS[path])})


def _unknown_channel(channel: str, known: Iterable[str]) -> Response[str]:
    # Whatever the method: a path that names no channel of ours has no methods to list, but the channels do.
    return _error(404, f"unknown channel '{channel}'; the channels are {', '.join(known)}")


def body_too_large(size: int, limit: int) -> str:
    """The 413 message, the same from the handler and from the local server's own read limit."""
    return f"body of {size} bytes is over the {limit} byte limit"


def _check_fits_one_item(messages: list[InboundMessage]) -> None:
    added: dict[str, int] = {}
    for message in messages:
        # Measured as the DynamoDB adapter stores a message: its JSON document, and its id in the set.
        size = len(message.document.encode()) + len(message.message_id.encode())
        added[message.conversation_key] = added.get(message.conversation_key, 0) + size
    largest = max(added.values(), default=0)
    if largest > MAX_POST_BYTES_PER_CONVERSATION:
        raise PayloadTooLargeError(
            f"one conversation's messages take {largest} bytes stored, "
            f"over the limit of {MAX_POST_BYTES_PER_CONVERSATION} per request"
        )


def _meta_accounts(channel: str, payload: dict[str, Any]) -> Iterator[str]:
    """The business accounts a Meta payload names, read before its signature is checked, only to find the app
    secret to check it with: WhatsApp's metadata.phone_number_id, Instagram's entry id."""
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        if channel == "instagram" and isinstance(entry.get("id"), str):
            yield entry["id"]
        changes = entry.get("changes")
        for change in changes if channel == "whatsapp" and isinstance(changes, list) else ():
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            if isinstance(number, str):
                yield number


def build_app(
    scopes: Scopes,
    counters: Counters | None = None,
    *,
    control: ConversationControl | None = None,
) -> APIGatewayHttpResolver:
    """The routes and methods of ALLOWED_METHODS; any other method on them is a 405, any other path a 404.

    `counters` collects the app's metrics for its handler to publish once per invocation. It belongs to the app,
    not to this module: an execution environment serves one invocation at a time, and a module-level set would be
    shared by every environment of one process (the local runtime), where one invocation cleared another's counts.
    """
    counters = counters or Counters()
    app = APIGatewayHttpResolver()
    settings, secrets = scopes.default.settings, scopes.default.secrets

    def raw_body() -> bytes:
        event = app.current_event
        body = event.body or ""
        try:
            raw = base64.b64decode(body) if event.is_base64_encoded else body.encode()
        except binascii.Error as e:
            raise InvalidPayloadError("body is flagged base64 but is not valid base64") from e
        if len(raw) > settings.max_body_bytes:
            raise PayloadTooLargeError(body_too_large(len(raw), settings.max_body_bytes))
        return raw

    def header(name: str) -> str | None:
        value = app.current_event.headers.get(name.lower())
        return None if value is None else str(value)

    def parse(raw: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidPayloadError(f"body is not valid JSON: {e}") from e
        except RecursionError as e:
            # The parser recurses once per nesting level: 100,000 "[" fit in the body limit but not in the stack.
            raise InvalidPayloadError("body is nested too deeply") from e
        if not isinstance(payload, dict):
            raise InvalidPayloadError("body must be a JSON object")
        return payload

    def meta(channel: str, normalize: Callable[..., list[Inbound]], on_skip: Skip) -> list[tuple[Scope, Inbound]]:
        raw = raw_body()
        signature = header("X-Hub-Signature-256")
        checked: set[int] = set()

        def checked_scope(account: str) -> Scope:
            # Each tenant may sit behind its own Meta app: every scope a message lands in has its app secret checked.
            scope = scopes.for_account(channel, account)
            if id(scope) not in checked:
                signatures.verify_meta_signature(scope.secrets.get("meta_app_secret"), raw, signature)
                checked.add(id(scope))
            return scope

        try:
            payload = parse(raw)
        except InvalidPayloadError:
            checked_scope("")  # a body no one can read names no account: the deployment's secret, 401 before 400
            raise
        for account in _meta_accounts(channel, payload):
            checked_scope(account)
        if not checked:
            checked_scope("")
        return [(checked_scope(item.account_id), item) for item in normalize(payload, on_skip=on_skip)]

    def receive_telegram(on_skip: Skip, scope: Scope) -> list[tuple[Scope, Inbound]]:
        raw = raw_body()
        signatures.verify_telegram_secret(
            scope.secrets.get("telegram_secret_token"), header("X-Telegram-Bot-Api-Secret-Token")
        )
        items = telegram.normalize(parse(raw), bot_id=scope.settings.telegram_bot_id, on_skip=on_skip)
        return [(scope, item) for item in items]

    def receive_generic(on_skip: Skip) -> list[tuple[Scope, Inbound]]:
        # Our own contract, one message per body: the body is the envelope, so anything wrong is a 400.
        raw = raw_body()
        signature = header("X-Signature-256")
        try:
            payload = parse(raw)
        except InvalidPayloadError:
            signatures.verify_generic_signature(secrets.get("generic_secret"), raw, signature)
            raise
        account = payload.get("account")
        scope = scopes.for_account("generic", account) if isinstance(account, str) else scopes.default
        signatures.verify_generic_signature(scope.secrets.get("generic_secret"), raw, signature)
        return [(scope, item) for item in generic.normalize(payload)]

    receivers: dict[str, Callable[[Skip], list[tuple[Scope, Inbound]]]] = {
        "whatsapp": lambda on_skip: meta("whatsapp", whatsapp.normalize, on_skip),
        "instagram": lambda on_skip: meta("instagram", instagram.normalize, on_skip),
        "telegram": lambda on_skip: receive_telegram(on_skip, scopes.default),
        "generic": receive_generic,
    }

    @app.get("/health")
    def health() -> dict[str, Any]:
        # Liveness only: the settings are no business of whoever can reach the API (local: GET /local/settings).
        return {"status": "ok"}

    @app.get("/webhook/<channel>")
    def verify(channel: str) -> Response[str]:
        if channel not in receivers:
            return _unknown_channel(channel, receivers)
        if "GET" not in _allowed(channel):
            return _method_not_allowed(f"/webhook/{channel}", f"GET is not supported for channel '{channel}'")
        query = {k: str(v) for k, v in (app.current_event.query_string_parameters or {}).items()}
        # The handshake names no account: the deployment's verify token, or any tenant's (its own Meta app's).
        refused: VerificationError | None = None
        configured = [
            s for s in scopes.every(channel, "meta_verify_token") if s.secrets.configured("meta_verify_token")
        ]
        for scope in configured or [scopes.default]:  # none configured: the deployment's, which says so (500)
            try:
                challenge = signatures.verify_subscription(query, scope.secrets.get("meta_verify_token"))
            except VerificationError as e:
                refused = refused or e
                continue
            return Response(200, content_types.TEXT_PLAIN, challenge)
        raise refused or VerificationError("hub.verify_token does not match")

    @app.post("/webhook/<channel>")
    def receive(channel: str) -> dict[str, Any] | Response[str]:
        receiver = receivers.get(channel)
        if receiver is None:
            return _unknown_channel(channel, receivers)
        return accept(channel, receiver)

    @app.post("/webhook/telegram/<tenant_id>")
    def receive_telegram_tenant(tenant_id: str) -> dict[str, Any] | Response[str]:
        scope = scopes.by_id(tenant_id, "telegram")
        if scope is None:
            return _error(404, f"no Telegram tenant '{tenant_id}'")
        return accept("telegram", lambda on_skip: receive_telegram(on_skip, scope))

    def accept(channel: str, receiver: Callable[[Skip], list[tuple[Scope, Inbound]]]) -> dict[str, Any]:
        def skipped(reason: str) -> None:
            # A genuine, signed payload holds an item we cannot use: answered 200 all the same (a 4xx is redelivered
            # for days), and told here. The reason is a JSON path and a rule, never a value.
            logger.warning("message skipped", channel=channel, reason=reason)
            counters.dimension("channel", channel)
            counters.count("MessagesSkipped")

        received = receiver(skipped)
        messages = [item for _, item in received if isinstance(item, InboundMessage)]
        _check_fits_one_item(messages)
        by_scope: dict[int, tuple[Scope, list[Inbound]]] = {}
        for scope, item in received:
            by_scope.setdefault(id(scope), (scope, []))[1].append(item)
        result = sum((scope.ingest.accept(items) for scope, items in by_scope.values()), IngestResult(0, 0))
        counters.dimension("channel", channel)
        counters.count("MessagesAccepted", result.accepted)
        counters.count("DuplicatesAbsorbed", result.duplicates)
        counters.count("MessagesChanged", result.changes)
        counters.count("Handoffs", result.handoffs)
        counters.count("FlushesKeyword", result.flushes_keyword)
        counters.count("FlushesMaxMessages", result.flushes_max_messages)
        counters.count("FlushesMaxBytes", result.flushes_max_bytes)
        # Keys and message ids hold phone numbers and user ids (a wamid encodes the number): log the key's hash only.
        tenants = {id(s): s.tenant_id for s, _ in received}
        for (ref, tenant), count in Counter(
            (conversation_ref(item.conversation_key), tenants[id(scope)])
            for scope, item in received
            if isinstance(item, InboundMessage)
        ).items():
            logger.info("messages buffered", channel=channel, tenant=tenant, conversation_ref=ref, messages=count)
        answer = {"accepted": result.accepted, "duplicates": result.duplicates}
        # Only when there are some: the answer to a plain message stays {"accepted", "duplicates"}.
        answer.update({k: v for k, v in (("changes", result.changes), ("handoffs", result.handoffs)) if v})
        return answer

    def client_or_server_error(e: DebouncerError) -> Response[str]:
        if isinstance(e, RetryableError):
            # Our side failed in a way a redelivery can fix: 503 makes the channel retry.
            logger.warning("retryable failure", error=str(e))
            return _error(503, "temporarily unavailable, retry later", headers={"Retry-After": "1"})
        status = next((code for kind, code in CLIENT_ERRORS.items() if isinstance(e, kind)), 500)
        if status == 500:
            logger.error("server error", error=str(e), error_type=type(e).__name__)
            return _error(500, "server misconfigured")
        return _error(status, str(e))

    # Errors are mapped in one place; Powertools finds the handler through the exception's MRO.
    app.exception_handler(DebouncerError)(client_or_server_error)

    def not_found(e: Exception) -> Response[str]:
        # Every method reaches here that no route takes (PUT, DELETE, HEAD...): a known path answers 405, and a
        # channel we do not serve is unknown whatever the method.
        method, path = app.current_event.http_method, app.current_event.path
        if (match := _CHANNEL_PATH.fullmatch(path)) is not None and match["channel"] not in receivers:
            return _unknown_channel(match["channel"], receivers)
        if _TELEGRAM_TENANT_PATH.fullmatch(path):
            if method == "POST":  # a tenant id the route's pattern cannot even name
                return _error(404, f"no Telegram tenant '{path.rsplit('/', 1)[1]}'")
            return _method_not_allowed("/webhook/telegram/<tenant>", f"method {method} is not allowed on {path}")
        # The admin paths are known only where the admin API is served (an app with a ConversationControl).
        served = path in ALLOWED_METHODS and (control is not None or not path.startswith("/admin/"))
        if served or match is not None:
            return _method_not_allowed(path, f"method {method} is not allowed on {path}")
        return _error(404, f"no route for {method} {path}")

    app.not_found(not_found)

    if control is not None:
        from debouncer.api.admin import register_admin_routes

        register_admin_routes(app, control, secrets, settings)

    return app
