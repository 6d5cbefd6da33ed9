"""Admin API (issue 13): pause, resume and inspect the conversations the bot has with one recipient.

    POST /admin/conversations/pause   {"channel", "recipient", "seconds", "account"?}
    POST /admin/conversations/resume  {"channel", "recipient", "account"?}
    GET  /admin/conversations/status?channel=...&recipient=...[&account=...]

`recipient` is where replies go (the outbox's "recipient": a WhatsApp wa_id or group id, a Telegram chat id, an
Instagram IGSID, a generic conversation_id). Every conversation of that recipient in one business account is acted on
together (a Telegram forum's topics); a recipient known in several accounts needs `account` (409 without it).

Authorization: on AWS API Gateway authorizes these routes with IAM (SigV4) and puts the caller in the payload v2
event's requestContext.authorizer.iam, which only API Gateway writes. Any other request needs
`Authorization: Bearer <ADMIN_TOKEN>` (locally `debouncer serve` defaults it to local-admin-token; unset on AWS, so a
request that did not come through IAM is refused there).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import ValidationError

from debouncer.adapters.secrets import Secrets
from debouncer.config import Settings
from debouncer.domain.errors import InvalidPayloadError, PayloadTooLargeError
from debouncer.domain.ports import ConversationControl
from debouncer.domain.privacy import conversation_ref

if TYPE_CHECKING:
    from debouncer.api.admin_requests import ConversationRequest

logger = Logger(child=True)

PAUSE_PATH = "/admin/conversations/pause"
RESUME_PATH = "/admin/conversations/resume"
STATUS_PATH = "/admin/conversations/status"
MAX_ADMIN_BODY_BYTES = 4096  # a few short fields: anything longer is not an admin request


_Request = TypeVar("_Request", bound="ConversationRequest")


def _iso(epoch: float | None) -> str | None:
    """An epoch second as ISO 8601 in UTC ("2025-01-31T12:00:00Z")."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status, content_types.APPLICATION_JSON, json.dumps({"error": message}), headers=headers)


def _account_of(conversation_key: str) -> str:
    """The business account part of a key channel#account#user (models.conversation_key)."""
    parts = conversation_key.split("#", 2)
    return parts[1] if len(parts) == 3 else ""


def register_admin_routes(
    app: APIGatewayHttpResolver,
    control: ConversationControl,
    secrets: Secrets,
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Adds the /admin/conversations routes to the webhook app (their methods are in webhook.ALLOWED_METHODS)."""
    del secrets  # the admin token is a setting of the local runtime only: on AWS, IAM authorizes these routes

    def caller() -> str | None:
        """How the request is authorized ("iam" or "bearer"); None when it is not."""
        context = app.current_event.raw_event.get("requestContext") or {}
        authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
        iam = authorizer.get("iam") if isinstance(authorizer, Mapping) else None
        # Written by API Gateway alone, once the SigV4 signature checked out: no header of the client's reaches it.
        if isinstance(iam, Mapping) and iam:
            return "iam"
        token = settings.admin_token.get_secret_value() if settings.admin_token is not None else ""
        if not token.strip():
            return None  # no token configured: nothing a client sends can match it
        header = str(app.current_event.headers.get("authorization") or "")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        # Constant time over the bytes (compare_digest refuses non-ASCII str, which a client may send).
        return "bearer" if hmac.compare_digest(credentials.strip().encode(), token.encode()) else None

    def refused() -> Response[str]:
        logger.warning("admin request refused: not authorized", path=app.current_event.path)
        return _json_error(
            401,
            "authorization required: sign the request with AWS SigV4 (IAM) or send Authorization: Bearer <ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def body() -> dict[str, Any]:
        event = app.current_event
        raw_text = event.body or ""
        try:
            raw = base64.b64decode(raw_text, validate=True) if event.is_base64_encoded else raw_text.encode()
        except (binascii.Error, ValueError) as e:
            raise InvalidPayloadError("body is flagged base64 but is not valid base64") from e
        if len(raw) > MAX_ADMIN_BODY_BYTES:
            raise PayloadTooLargeError(f"body of {len(raw)} bytes is over the {MAX_ADMIN_BODY_BYTES} byte limit")
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise InvalidPayloadError("body must be a JSON object") from e
        if not isinstance(payload, dict):
            raise InvalidPayloadError("body must be a JSON object")
        return payload

    def validated(model: type[_Request], data: Mapping[str, Any]) -> _Request:
        from debouncer.api.admin_requests import problems  # loaded with the models, on the first admin request

        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise InvalidPayloadError(problems(e)) from e

    def conversations(request: ConversationRequest) -> list[str] | Response[str]:
        """The keys the request names, or the answer that it names none (404) or is ambiguous (409)."""
        keys = control.conversations(request.channel, request.recipient, request.account)
        if not keys:
            where = f" in account '{request.account}'" if request.account is not None else ""
            return _json_error(404, f"no known {request.channel} conversation with this recipient{where}")
        accounts = {_account_of(key) for key in keys}
        if request.account is None and len(accounts) > 1:
            # The count only: ids stay out of the logs (and the business knows its own accounts).
            logger.info("admin request ambiguous", channel=request.channel, accounts=len(accounts))
            return _json_error(
                409,
                f"this recipient has conversations in {len(accounts)} {request.channel} accounts: "
                "say which with 'account'",
            )
        return keys

    def answer(request: ConversationRequest, keys: list[str], until: float | None) -> dict[str, Any]:
        accounts = {_account_of(key) for key in keys}
        return {
            "channel": request.channel,
            "recipient": request.recipient,
            "account": request.account or (accounts.pop() if len(accounts) == 1 else None),
            "paused": until is not None,
            "paused_until": _iso(until),
            "conversations": len(keys),
        }

    @app.post(PAUSE_PATH)
    def pause() -> dict[str, Any] | Response[str]:
        if (how := caller()) is None:
            return refused()
        from debouncer.api.admin_requests import PauseRequest  # rare: its model is built on first use

        request = validated(PauseRequest, body())
        keys = conversations(request)
        if isinstance(keys, Response):
            return keys
        now = clock()
        # Explicit: the admin's length stands, shorter than a handoff's pause or not.
        ends = [control.pause(key, now + request.seconds, now, extend_only=False) for key in keys]
        for key in keys:
            logger.info(
                "admin paused conversation",
                channel=request.channel,
                conversation_ref=conversation_ref(key),
                paused_seconds=request.seconds,
                auth=how,
            )
        return answer(request, keys, max(ends))

    @app.post(RESUME_PATH)
    def resume() -> dict[str, Any] | Response[str]:
        if (how := caller()) is None:
            return refused()
        from debouncer.api.admin_requests import ResumeRequest  # rare: its model is built on first use

        request = validated(ResumeRequest, body())
        keys = conversations(request)
        if isinstance(keys, Response):
            return keys
        now = clock()
        for key in keys:
            control.resume(key, now)
            logger.info(
                "admin resumed conversation", channel=request.channel, conversation_ref=conversation_ref(key), auth=how
            )
        return answer(request, keys, None)

    @app.get(STATUS_PATH)
    def status() -> dict[str, Any] | Response[str]:
        if (how := caller()) is None:
            return refused()
        query = {k: str(v) for k, v in (app.current_event.query_string_parameters or {}).items()}
        from debouncer.api.admin_requests import ResumeRequest  # rare: its model is built on first use

        request = validated(ResumeRequest, query)
        keys = conversations(request)
        if isinstance(keys, Response):
            return keys
        now = clock()
        ends = [until for key in keys if (until := control.paused_until(key, now)) is not None]
        logger.info(
            "admin read conversation status",
            channel=request.channel,
            conversation_refs=[conversation_ref(key) for key in keys],
            auth=how,
        )
        # Paused while any of them is (a handoff pauses one topic alone), until the last pause ends.
        return answer(request, keys, max(ends) if ends else None)
